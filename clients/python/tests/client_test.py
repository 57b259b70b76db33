#!/usr/bin/python3
"""The Python package against a real pipeline: `cqrs up` on ipc endpoints in a temp dir (2
readers, an indexed and aggregated collection, a small PUB high-water mark so that a slow
subscriber loses events). Run with Debian's /usr/bin/python3 and the built package on PYTHONPATH.

usage: client_test.py --cqrs PATH/cqrs [unittest options]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import cqrs

CQRS = None
PIPELINE = {}


def setUpModule():
    tmp = tempfile.TemporaryDirectory(prefix="cqrs-pyclient-")
    ep = {name: "ipc://" + os.path.join(tmp.name, name + ".sock")
          for name in ("writer", "events", "replay", "reader0", "reader1")}
    config = os.path.join(tmp.name, "cqrs.toml")
    with open(config, "w") as f:
        f.write('log_level = "warn"\n'
                '[writer]\nendpoint = "%s"\ndurability = "nosync"\n'
                '[projector]\nevents_endpoint = "%s"\nreplay_endpoint = "%s"\n'
                'events_sndhwm = 50\n'
                '[reader]\nendpoints = ["%s", "%s"]\n[cache]\nslots = 1024\n'
                '[[collections]]\nname = "orders"\nindexes = ["status", "amount"]\n'
                'aggregates = [{ name = "by_customer", group_by = "customer", sum = "amount" }]\n'
                % (ep["writer"], ep["events"], ep["replay"], ep["reader0"], ep["reader1"]))
    data = os.path.join(tmp.name, "data")
    log = open(os.path.join(tmp.name, "up.log"), "w")
    up = subprocess.Popen([CQRS, "up", "--quiet", "--config", config, "--data", data],
                          stdout=log, stderr=log)
    PIPELINE.update(tmp=tmp, ep=ep, config=config, data=data, up=up, log=log)
    try:
        client = new_client(timeout=30)
        client.put("warmup", "w", {})  # waits (resending) until the writer serves
        client.get("warmup", "w")      # and a reader has applied it
        client.close()
    except BaseException:
        tearDownModule()  # unittest does not call it when this fails
        raise


def tearDownModule():
    up = PIPELINE["up"]
    up.send_signal(signal.SIGTERM)
    try:
        up.wait(timeout=30)
    except subprocess.TimeoutExpired:
        up.kill()
        up.wait()
    PIPELINE["log"].close()
    if up.returncode != 0:
        print(open(os.path.join(PIPELINE["tmp"].name, "up.log")).read())
    PIPELINE["tmp"].cleanup()


def new_client(**kwargs):
    ep = PIPELINE["ep"]
    return cqrs.Client(ep["writer"], [ep["reader0"], ep["reader1"]], **kwargs)


def process_stats(role):
    r = subprocess.run([CQRS, "stats", "--json", "--interval", "0.05", "--config",
                        PIPELINE["config"], "--data", PIPELINE["data"]],
                       capture_output=True, text=True, check=True)
    for p in json.loads(r.stdout.splitlines()[0])["processes"]:
        if p["role"] == role:
            return p
    raise AssertionError("no %s in cqrs stats" % role)


def pid_of(role):
    return process_stats(role)["pid"]


def writer_answered():
    return process_stats("writer")["total"]


class Stopped:
    """SIGSTOP a pipeline process for the duration of a with block."""

    def __init__(self, role):
        self.pid = pid_of(role)

    def __enter__(self):
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *exc):
        os.kill(self.pid, signal.SIGCONT)


class Writes(unittest.TestCase):
    def test_each_op_and_its_refusals(self):
        c = new_client()
        w = c.create("orders", "w1", {"status": "new", "amount": 12.5, "n": 3, "blob": b"\0\xff",
                                      "paid": False})
        self.assertEqual(w.versions, [1])
        self.assertGreaterEqual(w.seq, 1)
        e = c.get("orders", "w1")
        self.assertEqual((e.key, e.version, e.seq), ("w1", 1, w.seq))
        self.assertEqual(e.fields, {"status": "new", "amount": 12.5, "n": 3, "blob": b"\0\xff",
                                    "paid": False})
        self.assertEqual(c.update("orders", "w1", {"status": "paid", "n": None}, 1).versions, [2])
        self.assertEqual(c.get("orders", "w1").fields,
                         {"status": "paid", "amount": 12.5, "blob": b"\0\xff", "paid": False})
        with self.assertRaises(cqrs.AlreadyExists) as refused:
            c.create("orders", "w1", {})
        self.assertEqual(refused.exception.failed_index, 0)
        with self.assertRaises(cqrs.VersionConflict):
            c.update("orders", "w1", {"n": 1}, expected_version=7)
        with self.assertRaises(cqrs.NotFound) as refused:
            c.update("orders", "nobody", {"n": 1})
        self.assertIn("nobody", refused.exception.message)
        self.assertEqual(c.delete("orders", "w1").versions, [0])
        self.assertIsNone(c.get("orders", "w1"))
        # A refusal is definite: the client's next request goes on with the next id.
        self.assertEqual(c.put("orders", "w1", {"n": 1}).versions, [4])  # the tombstone was v3

    def test_a_request_is_atomic(self):
        c = new_client()
        c.put("orders", "a1", {})
        with self.assertRaises(cqrs.AlreadyExists) as refused:
            c.execute([cqrs.create("orders", "a2", {"n": 1}), cqrs.create("orders", "a1", {})])
        self.assertEqual(refused.exception.failed_index, 1)
        self.assertIsNone(c.get("orders", "a2"))
        w = c.execute([cqrs.create("orders", "a2", {"n": 1}), cqrs.upsert("orders", "a1", {"n": 2}),
                       cqrs.delete("orders", "a2")])
        self.assertEqual(w.versions, [1, 2, 0])

    def test_bad_input_names_the_field(self):
        c = new_client()
        with self.assertRaises(cqrs.InvalidArgument) as refused:
            c.put("Bad Name", "k", {})
        self.assertIn("collection", refused.exception.message)
        with self.assertRaises(cqrs.InvalidArgument) as refused:
            c.put("orders", "k", {"9x": 1})
        self.assertIn("fields[0].name", refused.exception.message)
        with self.assertRaises(TypeError):
            c.put("orders", "k", {"n": [1, 2]})
        with self.assertRaises(cqrs.InvalidArgument) as refused:
            c.find("orders", "customer", eq="c1")
        self.assertIn("customer", refused.exception.message)
        with self.assertRaises(cqrs.InvalidArgument) as refused:
            c.scan("orders", limit=5000)
        self.assertIn("max_scan_limit", refused.exception.message)
        self.assertEqual(c.put("orders", "k", {"n": 1}).versions[0] >= 1, True)

    def test_a_resent_write_is_applied_once(self):
        # The writer is stopped: the client resends the same request (same ids) over fresh
        # sockets every attempt_timeout; the writer, running again, gets several copies: it
        # answers each and applies one.
        c = new_client(timeout=20, attempt_timeout=0.2)
        c.put("orders", "once", {})  # v1
        answered_before = writer_answered()
        result = {}
        with Stopped("writer"):
            t = threading.Thread(target=lambda: result.update(w=c.put("orders", "once", {"n": 1})))
            t.start()
            time.sleep(1.5)
        t.join(20)
        time.sleep(0.3)  # the last copies in flight
        self.assertEqual(result["w"].versions, [2])
        self.assertEqual(c.get("orders", "once").version, 2)  # each further apply adds one
        copies = writer_answered() - answered_before
        self.assertGreaterEqual(copies, 2, "the writer answered %d copies" % copies)
        events = [ev for ev in replay_all() if ev.collection == "orders" and ev.key == "once"]
        self.assertEqual([ev.version for ev in events], [1, 2])
        self.assertEqual(events[1].client_id, c.client_id)

    def test_no_answer_is_indeterminate_and_the_client_goes_on(self):
        c = new_client(timeout=0.5, attempt_timeout=0.2)
        c.put("orders", "i1", {})
        first_id = c.client_id
        with Stopped("writer"):
            with self.assertRaises(cqrs.Indeterminate):
                c.put("orders", "i1", {"n": 1})
        self.assertNotEqual(c.client_id, first_id)
        c.timeout = 20
        self.assertEqual(c.put("orders", "i2", {}).versions, [1])
        self.assertIn(c.get("orders", "i1").version, (1, 2))  # applied or not: never twice


class Reads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        c = new_client()
        for i in range(250):
            c.execute([cqrs.upsert("orders", "r%03d" % i,
                                   {"status": ("open", "paid", "void")[i % 3],
                                    "amount": float(i), "customer": "c%d" % (i % 4)})])
        cls.seq = c.last_seq

    def test_reads_its_own_writes(self):
        c = new_client()
        w = c.put("orders", "own", {"n": 1})
        self.assertEqual(c.get("orders", "own").fields, {"n": 1})  # applied before the stop
        with Stopped("projector"):
            w2 = c.put("orders", "own", {"n": 2})
            # Not applied yet: a read at the write's seq waits, then says so.
            with self.assertRaises(cqrs.DeadlineExceeded):
                c.get("orders", "own", wait=0.2)
            stale = c.get("orders", "own", min_seq=0)  # what is applied, without waiting
            self.assertEqual(stale.fields, {"n": 1})
            self.assertGreaterEqual(stale.seq, w.seq)
        e = c.get("orders", "own", wait=10)
        self.assertEqual((e.fields, e.seq), ({"n": 2}, w2.seq))

    def test_scan_pages_in_key_order(self):
        c = new_client()
        page = c.scan("orders", prefix="r", limit=100, min_seq=self.seq)
        self.assertEqual(len(page.entities), 100)
        self.assertEqual(page.next, "r099")
        keys = [e.key for e in c.scan_all("orders", prefix="r", limit=100)]
        self.assertEqual(keys, ["r%03d" % i for i in range(250)])
        page = c.scan("orders", start="r010", end="r013")
        self.assertEqual([e.key for e in page.entities], ["r010", "r011", "r012"])
        self.assertEqual(page.next, "")

    def test_find_and_aggregate(self):
        c = new_client(wait=10)
        c.last_seq = self.seq
        found, after = [], None
        while True:
            page = c.find("orders", "status", eq="void", after=after, limit=30)
            found += [e.key for e in page.entities if e.key.startswith("r")]
            if not page.next:
                break
            after = page.next
        self.assertEqual(found, ["r%03d" % i for i in range(2, 250, 3)])
        page = c.find("orders", "amount", lo=10, hi=12.0)
        self.assertEqual([e.key for e in page.entities if e.key.startswith("r")],
                         ["r010", "r011", "r012"])
        groups = {g.key: (g.count, g.sum) for g in c.aggregate("orders", "by_customer")}
        for k in range(4):
            amounts = [float(i) for i in range(250) if i % 4 == k]
            self.assertEqual(groups["c%d" % k], (len(amounts), sum(amounts)))

    def test_get_many_batches(self):
        c = new_client()
        c.last_seq = self.seq
        keys = ["r%03d" % i for i in range(250)] + ["absent%d" % i for i in range(300)]
        got = c.get_many("orders", keys)
        self.assertEqual(len(got), len(keys))
        self.assertEqual([e.key for e in got[:250]], keys[:250])
        self.assertEqual(got[250:], [None] * 300)


def replay_all():
    ep = PIPELINE["ep"]
    with cqrs.Subscriber(ep["events"], ep["replay"], from_seq=1) as s:
        out = []
        while True:
            e = s.next(timeout=0.5)
            if e is None:
                return out
            out.append(e)


class Feed(unittest.TestCase):
    def test_from_seq_one_then_live_each_event_once_in_order(self):
        ep = PIPELINE["ep"]
        c = new_client()
        c.put("feed", "f0", {"n": 0})
        with cqrs.Subscriber(ep["events"], ep["replay"], from_seq=1) as s:
            seen = []
            while not seen or seen[-1].seq < c.last_seq:
                e = s.next(timeout=10)
                self.assertIsNotNone(e, "no event after %s" % (seen[-1].seq if seen else 0))
                seen.append(e)
            for i in range(1, 101):
                c.put("feed", "f%d" % i, {"n": i})
            while seen[-1].seq < c.last_seq:
                e = s.next(timeout=10)
                self.assertIsNotNone(e)
                seen.append(e)
        self.assertEqual([e.seq for e in seen], list(range(1, c.last_seq + 1)))
        self.assertEqual((seen[-1].collection, seen[-1].key, seen[-1].fields, seen[-1].op),
                         ("feed", "f100", {"n": 100}, "Create"))

    def test_a_slow_subscriber_loses_nothing(self):
        # The projector queues at most 50 events per subscriber (events_sndhwm) and this SUB
        # socket 10: while it reads nothing, most of 3,000 events are dropped, and the
        # subscriber fills the gaps by replay.
        ep = PIPELINE["ep"]
        c = new_client()
        for follow in (None, ["slow"]):
            with cqrs.Subscriber(ep["events"], ep["replay"], collections=follow,
                                 from_seq=None, hwm=10) as s:
                first = c.put("slow", "k", {}).seq
                for i in range(3000):
                    c.put("slow", "k%d" % (i % 50), {"n": i})
                seen = []
                while not seen or seen[-1].seq < c.last_seq:
                    e = s.next(timeout=10)
                    self.assertIsNotNone(e, "stuck after %d events" % len(seen))
                    seen.append(e)
                self.assertEqual([e.seq for e in seen], list(range(first, c.last_seq + 1)))
                self.assertGreater(s.replays, 1)
                collection_seqs = [e.collection_seq for e in seen]
                self.assertEqual(collection_seqs,
                                 list(range(collection_seqs[0], collection_seqs[0] + len(seen))))


class Package(unittest.TestCase):
    def test_version_matches_the_servers(self):
        r = subprocess.run([CQRS, "--version"], capture_output=True, text=True, check=True)
        self.assertEqual(r.stdout.split()[-1], cqrs.__version__)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    args, rest = parser.parse_known_args()
    CQRS = args.cqrs
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
