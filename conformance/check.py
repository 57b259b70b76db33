#!/usr/bin/python3
"""Plays conformance/vectors.jsonl against fresh pipelines and fails on the first reply that
differs from the recorded one (timestamps aside): once sending the recorded request frames, once
sending frames the Python package's encoder builds from each request's JSON; and decodes every
recorded reply frame to the recorded JSON. A change of the servers' replies fails here until
generate.py has recorded them again (and docs/PROTOCOL.md says what changed).

usage: check.py --cqrs PATH/cqrs   (PYTHONPATH: the built cqrs package)
"""
import argparse
import json
import os

import vectors
from vectors import HERE


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    args = parser.parse_args()
    with open(os.path.join(HERE, "vectors.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    for v in lines:
        got = vectors.reply_json(bytes.fromhex(v["reply_hex"]))
        if got != v["reply"]:
            raise SystemExit("vector %d (%s): the recorded reply decodes to %r, not %r"
                             % (v["n"], v["name"], got, v["reply"]))
    print("check.py: %d recorded replies decode as recorded" % len(lines), flush=True)
    played = [v for v in lines if v["endpoint"]]
    for mode in ("recorded frames", "frames encoded from the JSON"):
        pipeline = vectors.Pipeline(args.cqrs)
        try:
            for v in played:
                if mode == "recorded frames" or v["request"]["type"] == "raw":
                    frame = bytes.fromhex(v["request_hex"])
                else:
                    frame = vectors.encode(v["request"])
                got = vectors.strip_varying(vectors.reply_json(
                    pipeline.exchange(v["endpoint"], frame)))
                want = vectors.strip_varying(v["reply"])
                if got != want:
                    raise SystemExit("vector %d (%s), %s: the %s answered\n  %s\nnot as recorded\n"
                                     "  %s" % (v["n"], v["name"], mode, v["endpoint"],
                                               json.dumps(got, sort_keys=True),
                                               json.dumps(want, sort_keys=True)))
        finally:
            pipeline.close()
        print("check.py: %d exchanges answered as recorded, sending %s" % (len(played), mode),
              flush=True)


if __name__ == "__main__":
    main()
