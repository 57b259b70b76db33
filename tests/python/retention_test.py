#!/usr/bin/python3
"""Retention as its users meet it: `cqrs up` with [log] keep_events on ipc endpoints in a temp
dir, writes from the Python client, then `cqrs log status` and `cqrs stats`, a subscriber and
`cqrs watch` asking below the log's first seq (OutOfRange naming the first seq and the snapshot),
`cqrs log release` refusals, and a read store removed while stopped, which the restarted
projector seeds from the newest state checkpoint: every key reads back as written. Exits
non-zero on the first failure.

usage: retention_test.py --cqrs PATH/cqrs
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import cqrs
import support
from support import check

KEYS = 100
EVENTS = 3000


def start(cqrs_bin, config, data, log):
    up = subprocess.Popen([cqrs_bin, "up", "--quiet", "--config", config, "--data", data],
                          stdout=log, stderr=log)
    return up


def stop(up):
    up.send_signal(signal.SIGTERM)
    try:
        up.wait(timeout=30)
    except subprocess.TimeoutExpired:
        up.kill()
        raise SystemExit("cqrs up did not stop within 30 s")


def log_status(cqrs_bin, flags):
    r = subprocess.run([cqrs_bin, "log", "status", "--json", *flags], capture_output=True,
                       text=True, check=True)
    return json.loads(r.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cqrs-retention-") as tmp:
        ep, config = support.ipc_pipeline_config(tmp)
        with open(config, "a") as f:
            f.write("[log]\nkeep_events = 300\nstep_events = 100\n")
        # The generated [writer] table gets checkpoints every 500 events; info shows the seed.
        text = open(config).read().replace(
            'durability = "nosync"\n',
            'durability = "nosync"\ncheckpoint_interval_events = 500\ncheckpoint_interval_s = 1\n',
            1).replace('log_level = "warn"', 'log_level = "info"', 1)
        open(config, "w").write(text)
        data = os.path.join(tmp, "data")
        flags = ["--config", config, "--data", data]
        log = open(os.path.join(tmp, "up.log"), "w")
        up = start(args.cqrs, config, data, log)
        try:
            client = cqrs.Client(writer=ep["writer"], readers=[ep["reader0"], ep["reader1"]],
                                 timeout=30)
            written = {}
            for i in range(EVENTS):
                key = "k%03d" % (i % KEYS)
                client.put("orders", key, {"i": i})
                written[key] = i
            last = client.get("orders", "k000")  # read-your-writes: the projector is there

            # Retention removes all but the newest 300 (the checkpoint and the projector allow).
            deadline = time.monotonic() + 30
            status = log_status(args.cqrs, flags)
            while status["first_seq"] < EVENTS - 1000 and time.monotonic() < deadline:
                time.sleep(0.2)
                status = log_status(args.cqrs, flags)
            check(status["first_seq"] >= EVENTS - 1000,
                  "retention removed the start of the log: %s" % status)
            check(status["last_seq"] >= EVENTS, "last seq: %s" % status)
            check(status["policy"] == "keep_events 300", "policy: %s" % status)
            check(status["checkpoint_seq"] > 0 and status["checkpoint"].endswith(".mdb"),
                  "a state checkpoint: %s" % status)
            check(any(h["name"] == "projector" for h in status["holds"]),
                  "the projector's hold: %s" % status)
            text = subprocess.run([args.cqrs, "log", "status", *flags], capture_output=True,
                                  text=True, check=True).stdout
            check("floor" in text and "held by" in text and "holds     projector" in text,
                  "cqrs log status:\n" + text)
            stats = subprocess.run([args.cqrs, "stats", "--interval", "0.2", *flags],
                                   capture_output=True, text=True, check=True).stdout
            check("log       first seq" in stats, "cqrs stats shows the log:\n" + stats)

            # Below the first seq: a specific status, never the events that are left.
            sub = cqrs.Subscriber(events=ep["events"], replay=ep["replay"], from_seq=1)
            try:
                for _ in sub:
                    raise AssertionError("a subscriber from seq 1 got an event")
            except cqrs.OutOfRange as e:
                check(e.first_seq > 1 and e.snapshot_seq >= e.first_seq - 1,
                      "OutOfRange names the first seq and the snapshot: %s %s"
                      % (e.first_seq, e.snapshot_seq))
                check("no longer in the event log" in e.message, e.message)
            finally:
                sub.close()
            r = subprocess.run([args.cqrs, "watch", "--from-seq", "1", *flags],
                               capture_output=True, text=True, timeout=30)
            check(r.returncode == 1 and "no longer in the event log" in r.stderr,
                  "cqrs watch --from-seq 1: exit %d, %s" % (r.returncode, r.stderr))
            # A subscriber from within the log still gets every event after it.
            sub = cqrs.Subscriber(events=ep["events"], replay=ep["replay"],
                                  from_seq=status["last_seq"])
            got = next(iter(sub))
            sub.close()
            check(got.seq == status["last_seq"], "replay from the last seq: %s" % got.seq)

            r = subprocess.run([args.cqrs, "log", "release", "nobody", *flags],
                               capture_output=True, text=True)
            check(r.returncode == 1 and "no log hold named 'nobody'" in r.stderr, r.stderr)
            r = subprocess.run([args.cqrs, "log", "release", "../write", *flags],
                               capture_output=True, text=True)
            check(r.returncode == 2 and "is not [a-z0-9-]" in r.stderr, r.stderr)
            client.close()
        finally:
            stop(up)

        # The read store lost while stopped: the projector seeds it from the newest checkpoint
        # (the log no longer starts at 1) and applies the tail; every key reads back.
        shutil.rmtree(os.path.join(data, "read"))
        up = start(args.cqrs, config, data, log)
        try:
            client = cqrs.Client(writer=ep["writer"], readers=[ep["reader0"], ep["reader1"]],
                                 timeout=30)
            client.put("orders", "after", {"i": -1})  # min_seq for the reads below
            for key, i in written.items():
                e = client.get("orders", key)
                check(e.fields["i"] == i, "%s after the seed: %s, wrote %d" % (key, e.fields, i))
            check(last.version >= EVENTS // KEYS, "versions go on: %s" % last.version)
            check(client.get("orders", "k000").version == last.version,
                  "k000's version survives the seed")
            client.close()
        finally:
            stop(up)
        log.close()
        up_log = open(os.path.join(tmp, "up.log")).read()
        check("read store seeded from state checkpoint" in up_log, "the seed is logged")
        support.expect_segment_removed(args.cqrs, flags)
    print("retention: ok")


if __name__ == "__main__":
    main()
