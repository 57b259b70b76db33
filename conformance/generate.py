#!/usr/bin/python3
"""Records the conformance vectors: plays the scripted requests below, then every seed of the
fuzz corpora (fuzz/corpus/{command,query,replay}), against a fresh pipeline, and writes each
exchange to conformance/vectors.jsonl as one JSON line (both frames in hex, the request and
the reply also as JSON) (the Event seeds of fuzz/corpus/event become decode-only vectors).
Run it after a change of the protocol; check.py (in make test) fails until it was.

usage: generate.py --cqrs PATH/cqrs   (PYTHONPATH: the built cqrs package)
"""
import argparse
import glob
import json
import os

from cqrs import codec

import vectors
from vectors import HERE


def cmd(op, collection, key, fields=None, expected_version=0):
    c = {"op": op, "collection": collection, "key": key, "expected_version": expected_version}
    if fields is not None:
        c["fields"] = fields
    return c


def command_request(client_id, request_id, *commands):
    return {"type": "CommandRequest", "client_id": client_id, "request_id": request_id,
            "commands": list(commands)}


def query(request_id, min_seq, **q):
    return {"type": "QueryRequest", "request_id": request_id, "min_seq": min_seq,
            "timeout_ms": 5000, "query": q}


I, D, S, B, T = ({"int": 3}, {"double": 12.5}, {"string": "open"}, {"bytes": "00ff"},
                 {"bool": False})

# (name, endpoint, request). min_seq values are the seqs the writes above them reach.
SCRIPT = [
    ("create-every-value-kind", "writer", command_request("conformance", 1, cmd(
        "Create", "orders", "o1",
        {"status": S, "amount": D, "qty": I, "blob": B, "paid": T,
         "note": {"string": "h\u00e9llo/\u2603"}}))),
    ("resend-gets-the-first-reply", "writer", command_request("conformance", 1, cmd(
        "Create", "orders", "o1", {"status": S}))),
    ("update-removes-a-field", "writer", command_request("conformance", 2, cmd(
        "Update", "orders", "o1", {"status": {"string": "paid"}, "qty": None}, 1))),
    ("create-present-key", "writer", command_request("conformance", 3, cmd(
        "Create", "orders", "o1", {}))),
    ("update-absent-key", "writer", command_request("conformance", 4, cmd(
        "Update", "orders", "missing", {"qty": I}))),
    ("version-conflict", "writer", command_request("conformance", 5, cmd(
        "Update", "orders", "o1", {"qty": I}, 9))),
    ("out-of-order", "writer", command_request("conformance", 9, cmd(
        "Upsert", "orders", "o9", {}))),
    ("atomic-rollback", "writer", command_request("conformance", 6,
                                                  cmd("Create", "orders", "o2", {"qty": I}),
                                                  cmd("Create", "orders", "o1", {}))),
    ("command-batch", "writer", {"type": "CommandBatch", "requests": [
        command_request("conformance", 7, cmd("Upsert", "orders", "o3",
                                              {"status": S, "amount": {"double": 20.0}})),
        {"type": "raw", "hex": "00010203"},
        command_request("conformance", 8, cmd("Upsert", "orders", "o4/2026", {"amount": I}))]}),
    ("delete", "writer", command_request("conformance", 9, cmd("Delete", "orders", "o4/2026"))),
    ("bad-collection-name", "writer", command_request("conformance", 10, cmd(
        "Upsert", "Bad Name", "k", {}))),
    ("bad-field-name", "writer", command_request("conformance", 11, cmd(
        "Upsert", "orders", "k", {"9x": I}))),
    ("no-client-id", "writer", command_request("", 0, cmd(
        "Upsert", "customers", "c1", {"name": {"string": "Ada"}}))),
    ("not-a-flatbuffer", "writer", {"type": "raw", "hex": "6e6f74206120666c6174627566666572"}),
    ("get", "reader", query(1, 6, get={"collection": "orders", "key": "o1"})),
    ("get-absent", "reader", query(2, 6, get={"collection": "orders", "key": "nope"})),
    ("get-empty-key", "reader", query(3, 6, get={"collection": "orders", "key": ""})),
    ("scan-first-page", "reader", query(4, 6, scan={"collection": "orders", "limit": 1})),
    ("scan-next-page", "reader", query(5, 6, scan={"collection": "orders", "after": "o1",
                                                   "limit": 1})),
    ("scan-prefix", "reader", query(6, 6, scan={"collection": "orders", "prefix": "o3"})),
    ("scan-over-limit", "reader", query(7, 6, scan={"collection": "orders", "limit": 5000})),
    ("find-eq", "reader", query(8, 6, find={"collection": "orders", "field": "status",
                                            "eq": S})),
    ("find-range", "reader", query(9, 6, find={"collection": "orders", "field": "amount",
                                               "lo": {"int": 10}, "hi": {"double": 25.0}})),
    ("find-unindexed", "reader", query(10, 6, find={"collection": "orders", "field": "qty",
                                                    "eq": I})),
    ("aggregate", "reader", query(11, 6, aggregate={"collection": "orders",
                                                    "name": "by_status"})),
    ("aggregate-undeclared", "reader", query(12, 6, aggregate={"collection": "orders",
                                                               "name": "nope"})),
    ("min-seq-beyond-committed", "reader", query(13, 10 ** 12,
                                                 get={"collection": "orders", "key": "o1"})),
    ("query-batch", "reader", {"type": "QueryBatch", "queries": [
        query(14, 6, get={"collection": "orders", "key": "o1"}),
        {"type": "raw", "hex": "00010203"},
        query(16, 6, get={"collection": "customers", "key": "c1"})]}),
    ("query-batch-empty", "reader", {"type": "QueryBatch", "queries": []}),
    ("query-not-a-flatbuffer", "reader", {"type": "raw", "hex": "00010203"}),
    ("replay-all", "replay", {"type": "ReplayRequest", "from_seq": 1, "max_events": 100}),
    ("replay-collection-page", "replay", {"type": "ReplayRequest", "from_seq": 2,
                                          "max_events": 1, "collection": "orders"}),
    ("replay-past-head", "replay", {"type": "ReplayRequest", "from_seq": 100}),
    ("replay-over-limit", "replay", {"type": "ReplayRequest", "from_seq": 1,
                                     "max_events": 20000}),
    ("replay-not-a-flatbuffer", "replay", {"type": "raw", "hex": "00010203"}),
]

CORPORA = (("command", "writer"), ("query", "reader"), ("replay", "replay"))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    args = parser.parse_args()
    corpus = os.path.join(HERE, "..", "fuzz", "corpus")
    exchanges = [(name, endpoint, request) for name, endpoint, request in SCRIPT]
    for kind, endpoint in CORPORA:
        if kind == "query":
            # The command seeds wrote: wait until a reader has applied it all, so that what
            # the query seeds (with their own min_seq) see is the same on every run.
            exchanges.append(("sync-after-the-command-seeds", "reader", "sync"))
        for path in sorted(glob.glob(os.path.join(corpus, kind, "seed-*"))):
            with open(path, "rb") as f:
                exchanges.append(("fuzz-%s-%s" % (kind, os.path.basename(path)), endpoint,
                                  {"type": "raw", "frame": f.read()}))
    lines = []
    last_seq = 0
    pipeline = vectors.Pipeline(args.cqrs)
    try:
        for n, (name, endpoint, request) in enumerate(exchanges, 1):
            if request == "sync":
                request = query(900, last_seq, get={"collection": "orders", "key": "o1"})
            frame = request.pop("frame") if "frame" in request else vectors.encode(request)
            reply = pipeline.exchange(endpoint, frame)
            reply_json = vectors.reply_json(reply)
            for r in reply_json.get("replies", [reply_json]):
                if r["type"] == "CommandReply":
                    last_seq = max(last_seq, r["seq"])
            lines.append({"n": n, "name": name, "endpoint": endpoint, "request": request,
                          "request_hex": frame.hex(), "reply_hex": reply.hex(),
                          "reply": reply_json})
    finally:
        pipeline.close()
    # Decode-only: the Event seeds (what a subscriber reads).
    for path in sorted(glob.glob(os.path.join(corpus, "event", "seed-*"))):
        with open(path, "rb") as f:
            frame = f.read()
        if codec.identifier(frame) != codec.EVENT:
            continue
        lines.append({"n": len(lines) + 1, "name": "event-" + os.path.basename(path),
                      "endpoint": None, "request": None, "request_hex": None,
                      "reply_hex": frame.hex(), "reply": vectors.reply_json(frame)})
    with open(os.path.join(HERE, "vectors.jsonl"), "w") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
    print("generate.py: %d vectors in conformance/vectors.jsonl" % len(lines))


if __name__ == "__main__":
    main()
