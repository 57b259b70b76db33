#!/usr/bin/python3
"""The read path from Python: `cqrs up` in a temp dir (ipc endpoints from a generated config),
10,000 entities written through a REQ socket to the writer and each read back through REQ
sockets to the readers with the write's seq as min_seq; a Scan paged in key order; the change
feed on a SUB socket. Exits non-zero on the first failure.

usage: read_path_test.py --cqrs PATH/cqrs [--count N]
"""
import argparse
import os
import signal
import subprocess
import tempfile

import zmq

import support
from cqrs import codec as wire
from support import check


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    parser.add_argument("--count", type=int, default=10000, help="entities to write and read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cqrs-py-") as tmp:
        ep, config = support.ipc_pipeline_config(tmp)
        log = open(os.path.join(tmp, "up.log"), "w")
        up = subprocess.Popen([args.cqrs, "up", "--quiet", "--config", config,
                               "--data", os.path.join(tmp, "data")], stdout=log, stderr=log)
        try:
            context = zmq.Context()
            for name in ("writer", "replay", "reader0", "reader1"):
                support.wait_answering(context, ep[name])
            run_checks(context, ep, args.count)
            context.destroy(linger=0)
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=20)
            support.expect_segment_removed(args.cqrs,
                                        ["--config", config, "--data", os.path.join(tmp, "data")])
    print("python read path: all checks passed")


def req(context, endpoint):
    s = context.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.connect(endpoint)
    return s


def run_checks(context, ep, count):
    writer = req(context, ep["writer"])
    readers = [req(context, ep["reader0"]), req(context, ep["reader1"])]
    feed = context.socket(zmq.SUB)
    feed.setsockopt(zmq.SUBSCRIBE, b"people/")
    feed.connect(ep["events"])

    def query(i, q, min_seq=0, timeout_ms=0):
        sock = readers[i % 2]
        sock.send(wire.encode_query(i, q, min_seq, timeout_ms))
        r = wire.decode_query_reply(sock.recv())
        check(r["request_id"] == i, "reply %d answers request %d" % (r["request_id"], i))
        return r

    # Every write read back at once, from a snapshot at least as new as the write.
    for i in range(count):
        key = "p%05d" % i
        writer.send(wire.encode_commands([("Create", "people", key, 0, {"n": i, "name": key})],
                                         "py-reader-test", i + 1))
        w = wire.decode_command_reply(writer.recv())
        check(w["status"] == "Ok", "write %s: %r" % (key, w))
        r = query(i, ("get", "people", key), min_seq=w["seq"])
        check(r["status"] == "Ok" and r["seq"] >= w["seq"], "read %s at %d: %r" % (key, w["seq"], r))
        e = r["entities"][0]
        check(e["key"] == key and e["version"] == 1 and e["fields"] == {"n": i, "name": key},
              "read %s: %r" % (key, e))

    # Scan pages through the collection in key order, no gaps, no repeats.
    keys, after, page = [], "", 0
    while True:
        page += 1
        r = query(count + page, ("scan", "people", after, 333))
        check(r["status"] == "Ok", "scan: %r" % r)
        keys += [e["key"] for e in r["entities"]]
        if not r["next"]:
            break
        after = r["next"]
    check(keys == ["p%05d" % i for i in range(count)], "scan returned %d keys, out of order or "
          "with gaps" % len(keys))

    # A QueryBatch through REQ: one QueryBatchReply, an answer per query in order, each with
    # its own request id and status (nothing waits for a min_seq here, so it is one frame).
    batch = [wire.encode_query(101, ("get", "people", "p00007")),
             b"\x00\x01garbage",
             wire.encode_query(103, ("get", "people", "nobody")),
             wire.encode_query(104, ("scan", "people", "", 5000)),
             wire.encode_query(105, ("scan", "people", "p00010", 2))]
    readers[1].send(wire.encode_query_batch(batch))
    answers = wire.decode_query_batch_reply(readers[1].recv())
    check([(a["request_id"], a["status"]) for a in answers] ==
          [(101, "Ok"), (0, "InvalidArgument"), (103, "NotFound"), (104, "InvalidArgument"),
           (105, "Ok")], "batch answers: %r" % answers)
    check(answers[0]["entities"][0]["key"] == "p00007", "batch get: %r" % answers[0])
    check("max_scan_limit" in answers[3]["message"], "batch scan limit: %r" % answers[3])
    check([e["key"] for e in answers[4]["entities"]] == ["p00011", "p00012"],
          "batch scan: %r" % answers[4])
    # An empty batch is refused as a whole, by name.
    readers[1].send(wire.encode_query_batch([]))
    r = wire.decode_query_reply(readers[1].recv())
    check(r["status"] == "InvalidArgument" and "queries is empty" in r["message"],
          "empty batch: %r" % r)

    # Bad queries get statuses, and the readers keep answering.
    readers[0].send(b"\x00\x01garbage")
    r = wire.decode_query_reply(readers[0].recv())
    check(r["status"] == "InvalidArgument" and r["request_id"] == 0, "garbage: %r" % r)
    r = query(2, ("get", "people", "nobody"))
    check(r["status"] == "NotFound", "absent key: %r" % r)
    # A min_seq no write has been acknowledged with: refused at once, naming both seqs.
    r = query(3, ("get", "people", "p00001"), min_seq=10 ** 12, timeout_ms=30000)
    check(r["status"] == "InvalidArgument" and "min_seq 1000000000000 is beyond the last "
          "committed seq %d" % r["seq"] in r["message"], "future min_seq: %r" % r)

    # The change feed: topic "<collection>/<key>", then an Event.
    writer.send(wire.encode_commands([("Update", "people", "p00000", 0, {"n": -1})],
                                     "py-reader-test", count + 1))
    w = wire.decode_command_reply(writer.recv())
    check(w["status"] == "Ok", "update: %r" % w)
    # The SUB socket holds earlier events too (some perhaps dropped at its high-water mark):
    # read on to this update's, seqs rising all the way.
    last = 0
    while last < w["seq"]:
        check(feed.poll(10000), "no event on the feed after seq %d" % last)
        topic, body = feed.recv_multipart()
        event = wire.decode_event(body)  # checks the CQE1 identifier
        check(event["seq"] > last, "feed went from seq %d to %d" % (last, event["seq"]))
        check(topic == ("people/" + event["key"]).encode(), "topic %r" % topic)
        last = event["seq"]
    check(last == w["seq"] and event["version"] == 2 and topic == b"people/p00000",
          "update's event: seq %d version %d topic %r" % (last, event["version"], topic))
    for s in readers + [writer, feed]:
        s.close()


if __name__ == "__main__":
    main()
