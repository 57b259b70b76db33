"""Conformance vectors of the wire protocol (docs/PROTOCOL.md, "Conformance vectors"): what they
are made of, and the Python reference for playing them. Used by generate.py (which records them)
and check.py (which plays them back); clients in other languages read vectors.jsonl directly.

Values in JSON are typed: {"int": 3}, {"double": 12.5}, {"string": "x"}, {"bytes": "00ff"}
(hex), {"bool": true}; null is no value (a field removed, a bound unset)."""
import os
import signal
import subprocess
import tempfile
import time

import zmq

from cqrs import codec

HERE = os.path.dirname(os.path.abspath(__file__))
# Fields that differ from one run to the next: not compared.
VARYING = ("timestamp_ns",)


def typed(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": v}
    if isinstance(v, float):
        return {"double": v}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    return {"string": v}


def untyped(t):
    if t is None:
        return None
    (kind, v), = t.items()
    return {"int": int, "double": float, "string": str, "bool": bool,
            "bytes": bytes.fromhex}[kind](v)


def _typed_fields(fields):
    return {name: typed(v) for name, v in fields.items()}


def reply_json(frame):
    """A reply frame as the vectors' JSON."""
    ident = codec.identifier(frame)
    if ident == codec.COMMAND_REPLY:
        return {"type": "CommandReply", **codec.decode_command_reply(frame)}
    if ident == codec.QUERY_REPLY:
        r = codec.decode_query_reply(frame)
        for e in r["entities"]:
            e["fields"] = _typed_fields(e["fields"])
        for g in r["groups"]:
            g["key"] = typed(g["key"])
        return {"type": "QueryReply", **r}
    if ident == codec.QUERY_BATCH_REPLY:
        return {"type": "QueryBatchReply",
                "replies": [reply_json(f) for f in codec.decode_batch("query_replies", frame)]}
    if ident == codec.COMMAND_BATCH_REPLY:
        return {"type": "CommandBatchReply",
                "replies": [reply_json(f) for f in codec.decode_batch("command_replies", frame)]}
    if ident in (codec.EVENT_BATCH, codec.EVENT):
        r = codec.decode_event_batch(frame) if ident == codec.EVENT_BATCH else None
        events = r["events"] if r else [codec.decode_event(frame)]
        for e in events:
            e["fields"] = _typed_fields(e["fields"])
        if r is None:
            return {"type": "Event", **events[0]}
        return {"type": "EventBatch", **r}
    raise codec.ProtocolError("no reply type has identifier %r" % ident)


def encode(request):
    """The frame of a request described in JSON (Python's encoder: other clients use theirs)."""
    kind = request["type"]
    if kind == "CommandRequest":
        commands = [(c["op"], c["collection"], c["key"], c.get("expected_version", 0),
                     {n: untyped(v) for n, v in c.get("fields", {}).items()})
                    for c in request["commands"]]
        return codec.encode_commands(commands, request.get("client_id", ""),
                                     request.get("request_id", 0))
    if kind == "QueryRequest":
        (qkind, params), = request["query"].items()
        params = {k: (untyped(v) if k in ("eq", "lo", "hi") else v) for k, v in params.items()}
        return codec.encode_query_request(request.get("request_id", 0), qkind, params,
                                          request.get("min_seq", 0), request.get("timeout_ms", 0))
    if kind in ("QueryBatch", "CommandBatch"):
        nested = request["queries"] if kind == "QueryBatch" else request["requests"]
        return codec.encode_batch("queries" if kind == "QueryBatch" else "commands",
                                  [encode(r) for r in nested])
    if kind == "ReplayRequest":
        return codec.encode_replay(request.get("from_seq", 0), request.get("max_events", 0),
                                   request.get("collection", ""))
    if kind == "raw":
        return bytes.fromhex(request["hex"])
    raise ValueError("unknown request type %r" % kind)


def strip_varying(j):
    """j without the fields that vary between runs."""
    if isinstance(j, dict):
        return {k: strip_varying(v) for k, v in j.items() if k not in VARYING}
    if isinstance(j, list):
        return [strip_varying(v) for v in j]
    return j


class Pipeline:
    """`cqrs up` with conformance/cqrs.toml on ipc endpoints in a temp dir; DEALER sockets to
    its writer, reader and replay endpoints."""

    def __init__(self, cqrs):
        self.tmp = tempfile.TemporaryDirectory(prefix="cqrs-conformance-")
        self.ep = {n: "ipc://" + os.path.join(self.tmp.name, n + ".sock")
                   for n in ("writer", "events", "replay", "reader")}
        with open(os.path.join(HERE, "cqrs.toml")) as f:
            config = f.read()
        config = config.replace("[writer]\n", '[writer]\nendpoint = "%s"\n' % self.ep["writer"])
        config = config.replace("[reader]\n", '[projector]\nevents_endpoint = "%s"\n'
                                'replay_endpoint = "%s"\n[reader]\nendpoints = ["%s"]\n'
                                % (self.ep["events"], self.ep["replay"], self.ep["reader"]))
        path = os.path.join(self.tmp.name, "cqrs.toml")
        with open(path, "w") as f:
            f.write(config)
        self.log = open(os.path.join(self.tmp.name, "up.log"), "w")
        self.up = subprocess.Popen([cqrs, "up", "--quiet", "--config", path, "--data",
                                    os.path.join(self.tmp.name, "data")],
                                   stdout=self.log, stderr=self.log)
        self.context = zmq.Context()
        self.sockets = {}
        for name in ("writer", "reader", "replay"):
            self.sockets[name] = self._wait_answering(self.ep[name])

    def _wait_answering(self, endpoint):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s = self.context.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(endpoint)
            s.send(b"ping")  # every server answers garbage (InvalidArgument); nothing changes
            if s.poll(200):
                s.recv()
                return s
            s.close()
        raise SystemExit("no answer from " + endpoint)

    def exchange(self, endpoint, frame, timeout_ms=10000):
        s = self.sockets[endpoint]
        s.send(frame)
        if not s.poll(timeout_ms):
            raise AssertionError("no reply from the %s within %d ms" % (endpoint, timeout_ms))
        return s.recv()

    def close(self):
        self.context.destroy(linger=0)
        self.up.send_signal(signal.SIGTERM)
        self.up.wait(timeout=30)
        self.log.close()
        self.tmp.cleanup()
