"""cqrs.Client: writes to the writer and reads from the readers over ZeroMQ DEALER sockets,
following docs/PROTOCOL.md.

- Every write carries this client's client_id and the next request_id. A write that gets no
  reply within `attempt_timeout` is resent, the same bytes over a fresh socket, until `timeout`:
  the writer applies it at most once. One still unanswered then raises `Indeterminate`, and the
  client continues under a new client_id (the old one's next id may be the unanswered one).
- `ResourceExhausted` and `Unavailable` (retryable: nothing was applied) are retried with the
  same id after a backoff (5 ms doubling to 1 s) until `timeout`, then raised.
- Reads are sent with `min_seq` = the highest seq this client has seen (its writes' and its
  reads'), so it reads its own writes and never goes back in time; pass `min_seq=0` to read
  whatever is applied.
- Calls are synchronous and one at a time; a Client is not thread-safe (one per thread)."""
import dataclasses
import time
import uuid

import zmq

from . import codec
from .errors import Indeterminate, StatusError, Timeout, status_error

DEFAULT_WRITER = "tcp://127.0.0.1:7101"
DEFAULT_READERS = ("tcp://127.0.0.1:7110",)

_RETRYABLE = ("ResourceExhausted", "Unavailable")
_BATCH_MAX_QUERIES = 256        # reader.batch_max_queries' default
_BATCH_MAX_BYTES = 256 << 10    # well under max_request_bytes (1 MiB)


@dataclasses.dataclass
class Command:
    """One command of a request. op: "Create", "Update", "Upsert" or "Delete"; fields: {name:
    value} with int, float, str, bytes, bool, or None to remove the field (Update, Upsert);
    expected_version: 0, or the version the entity must have."""
    op: str
    collection: str
    key: str
    fields: dict = dataclasses.field(default_factory=dict)
    expected_version: int = 0

    def as_tuple(self):
        return (self.op, self.collection, self.key, self.expected_version, self.fields)


def create(collection, key, fields=None, expected_version=0):
    return Command("Create", collection, key, fields or {}, expected_version)


def update(collection, key, fields=None, expected_version=0):
    return Command("Update", collection, key, fields or {}, expected_version)


def upsert(collection, key, fields=None, expected_version=0):
    return Command("Upsert", collection, key, fields or {}, expected_version)


def delete(collection, key, expected_version=0):
    return Command("Delete", collection, key, {}, expected_version)


@dataclasses.dataclass
class WriteResult:
    """An applied request: seq of its last event; versions: each command's new version (0 for a
    delete)."""
    seq: int
    versions: list


@dataclasses.dataclass
class Entity:
    collection: str
    key: str
    version: int
    seq: int
    fields: dict


@dataclasses.dataclass
class Page:
    """A page of Scan or Find: entities, `next` (pass it as `after`; empty when no more), and the
    seq of the snapshot that answered."""
    entities: list
    next: str
    seq: int


@dataclasses.dataclass
class Group:
    key: object
    count: int
    sum: float


def _entity(e):
    return Entity(e["collection"], e["key"], e["version"], e["seq"], e["fields"])


class Client:
    """writer: the writer's endpoint; readers: one or more reader endpoints (queries spread over
    them); curve: CurveKeys when the pipeline has security on; client_id: this client's id (a
    new random one by default); timeout: seconds a call may take in all; attempt_timeout:
    seconds before a write is resent; wait: seconds a read waits for its min_seq by default."""

    def __init__(self, writer=DEFAULT_WRITER, readers=DEFAULT_READERS, *, curve=None,
                 client_id=None, timeout=10.0, attempt_timeout=1.0, wait=1.0, context=None):
        if isinstance(readers, str):
            readers = (readers,)
        self.writer_endpoint = writer
        self.reader_endpoints = tuple(readers)
        self.curve = curve
        self.client_id = client_id or "py-" + uuid.uuid4().hex
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.wait = wait
        self.last_seq = 0
        self._context = context or zmq.Context.instance()
        self._next_request_id = 1
        self._next_query_id = 1
        self._writer = None
        self._reader = None

    # -- sockets --------------------------------------------------------------------------

    def _socket(self, endpoints):
        s = self._context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        if self.curve is not None:
            self.curve.apply(s)
        for endpoint in endpoints:
            s.connect(endpoint)
        return s

    def _writer_socket(self):
        if self._writer is None:
            self._writer = self._socket((self.writer_endpoint,))
        return self._writer

    def _reader_socket(self):
        if self._reader is None:
            self._reader = self._socket(self.reader_endpoints)
        return self._reader

    def _drop(self, name):
        s = getattr(self, name)
        if s is not None:
            s.close(linger=0)
            setattr(self, name, None)

    def close(self):
        self._drop("_writer")
        self._drop("_reader")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    # -- writes ---------------------------------------------------------------------------

    def put(self, collection, key, fields=None, expected_version=0):
        """Upsert: creates the entity, or merges the fields into it."""
        return self.execute([upsert(collection, key, fields, expected_version)])

    def create(self, collection, key, fields=None, expected_version=0):
        """Raises AlreadyExists if the key is present."""
        return self.execute([create(collection, key, fields, expected_version)])

    def update(self, collection, key, fields=None, expected_version=0):
        """Merges the fields (None removes one); raises NotFound if the key is absent."""
        return self.execute([update(collection, key, fields, expected_version)])

    def delete(self, collection, key, expected_version=0):
        """Raises NotFound if the key is absent."""
        return self.execute([delete(collection, key, expected_version)])

    def execute(self, commands):
        """Applies the commands atomically: all or none. Returns a WriteResult; a refusal raises
        the StatusError of its status, whose failed_index names the failing command."""
        request_id = self._next_request_id
        frame = codec.encode_commands([c.as_tuple() for c in commands], self.client_id,
                                      request_id)
        reply = self._write(frame, request_id)
        if reply["status"] not in _RETRYABLE + ("OutOfOrder", "Unauthenticated") and \
                reply["request_id"] == request_id:
            self._next_request_id += 1  # a definite outcome: the writer advanced the client
        if reply["status"] != "Ok":
            raise status_error(reply)
        self.last_seq = max(self.last_seq, reply["seq"])
        return WriteResult(reply["seq"], reply["versions"])

    def _write(self, frame, request_id):
        reply = self._call("_writer", frame, request_id, codec.decode_command_reply,
                           self.attempt_timeout)
        if reply is None:
            # Maybe applied, maybe not: the next request of this client_id could be refused
            # OutOfOrder for ever, so the client starts a new one.
            self.client_id = "py-" + uuid.uuid4().hex
            self._next_request_id = 1
            raise Indeterminate("no reply from the writer %s to request %d within %.1f s"
                                % (self.writer_endpoint, request_id, self.timeout))
        return reply

    def _call(self, which, frame, request_id, decode, attempt_seconds):
        """Sends `frame` on the writer's or the readers' socket (`which`) until a reply to
        `request_id` (or 0) that is not a retryable refusal: the same bytes again over a fresh
        socket after `attempt_seconds` without one, after a backoff (5 ms doubling to 1 s) once
        refused ResourceExhausted or Unavailable. None once `timeout` has passed."""
        deadline = time.monotonic() + self.timeout
        backoff = 0.005
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            sock = self._writer_socket() if which == "_writer" else self._reader_socket()
            sock.send(frame)
            reply = self._await(sock, min(attempt_seconds, remaining), decode, (request_id, 0))
            if reply is None:
                self._drop(which)
                continue
            if reply["status"] in _RETRYABLE and time.monotonic() + backoff < deadline:
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            return reply

    @staticmethod
    def _await(sock, seconds, decode, request_ids):
        """The first reply whose request_id is one of request_ids (replies to earlier attempts
        are dropped), or None after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sock.poll(int(remaining * 1000) + 1):
                return None
            reply = decode(sock.recv())
            if reply["request_id"] in request_ids:
                return reply

    # -- reads ----------------------------------------------------------------------------

    def get(self, collection, key, *, min_seq=None, wait=None):
        """The entity, or None if the key is absent (or deleted)."""
        reply = self._query("get", {"collection": collection, "key": key}, min_seq, wait,
                            allow=("NotFound",))
        return _entity(reply["entities"][0]) if reply["status"] == "Ok" else None

    def get_many(self, collection, keys, *, min_seq=None, wait=None):
        """Many Gets in QueryBatch frames (one round trip per 256): a list in the keys' order,
        an Entity or None each."""
        keys = list(keys)
        out = []
        frames = []
        size = 0
        for key in keys:
            frames.append(key)
            size += len(key) + len(collection) + 96
            if len(frames) == _BATCH_MAX_QUERIES or size >= _BATCH_MAX_BYTES:
                out += self._get_batch(collection, frames, min_seq, wait)
                frames, size = [], 0
        if frames:
            out += self._get_batch(collection, frames, min_seq, wait)
        return out

    def _get_batch(self, collection, keys, min_seq, wait):
        min_seq, timeout_ms = self._read_bounds(min_seq, wait)
        first = self._next_query_id
        self._next_query_id += len(keys)
        frames = [codec.encode_query_request(first + i, "get", {"collection": collection,
                                                                "key": k},
                                             min_seq, timeout_ms)
                  for i, k in enumerate(keys)]
        batch = codec.encode_query_batch(frames)
        deadline = time.monotonic() + self.timeout
        replies = {}
        while len(replies) < len(keys):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("no answer from the readers %s to %d of %d gets within %.1f s"
                              % (", ".join(self.reader_endpoints), len(keys) - len(replies),
                                 len(keys), self.timeout))
            sock = self._reader_socket()
            if replies:  # resend only what is unanswered (queries are idempotent)
                sock.send(codec.encode_query_batch(
                    [f for i, f in enumerate(frames) if first + i not in replies]))
            else:
                sock.send(batch)
            attempt_end = time.monotonic() + min(remaining, timeout_ms / 1000 +
                                                 self.attempt_timeout)
            while len(replies) < len(keys):
                left = attempt_end - time.monotonic()
                if left <= 0 or not sock.poll(int(left * 1000) + 1):
                    break
                frame = sock.recv()
                if codec.identifier(frame) == codec.QUERY_BATCH_REPLY:
                    got = codec.decode_query_batch_reply(frame)
                else:
                    got = [codec.decode_query_reply(frame)]
                for r in got:
                    if r["request_id"] == 0:
                        raise status_error(r)  # the batch itself was refused
                    if first <= r["request_id"] < first + len(keys):
                        replies[r["request_id"]] = r
            if len(replies) < len(keys):
                self._drop("_reader")
        out = []
        for i in range(len(keys)):
            r = replies[first + i]
            if r["status"] == "Ok":
                self.last_seq = max(self.last_seq, r["seq"])
                out.append(_entity(r["entities"][0]))
            elif r["status"] == "NotFound":
                out.append(None)
            else:
                raise status_error(r)
        return out

    def scan(self, collection, *, prefix=None, start=None, end=None, after=None, limit=0,
             min_seq=None, wait=None):
        """One page of entities in key order (limit 0: the server's default, 100)."""
        params = {"collection": collection, "prefix": prefix, "start": start, "end": end,
                  "after": after, "limit": limit}
        reply = self._query("scan", params, min_seq, wait)
        return Page([_entity(e) for e in reply["entities"]], reply["next"], reply["seq"])

    def scan_all(self, collection, **kwargs):
        """Every entity of a scan, page after page (each page at least as new as the last)."""
        after = kwargs.pop("after", None)
        while True:
            page = self.scan(collection, after=after, **kwargs)
            yield from page.entities
            if not page.next:
                return
            after = page.next

    def find(self, collection, field, *, eq=None, lo=None, hi=None, after=None, limit=0,
             min_seq=None, wait=None):
        """One page of the entities whose indexed `field` equals eq, or lies in [lo, hi]."""
        params = {"collection": collection, "field": field, "eq": eq, "lo": lo, "hi": hi,
                  "after": after, "limit": limit}
        reply = self._query("find", params, min_seq, wait)
        return Page([_entity(e) for e in reply["entities"]], reply["next"], reply["seq"])

    def aggregate(self, collection, name, *, min_seq=None, wait=None):
        """Every group of a declared aggregate, in the order of its key."""
        reply = self._query("aggregate", {"collection": collection, "name": name}, min_seq, wait)
        return [Group(g["key"], g["count"], g["sum"]) for g in reply["groups"]]

    def _read_bounds(self, min_seq, wait):
        min_seq = self.last_seq if min_seq is None else min_seq
        wait = self.wait if wait is None else wait
        return min_seq, max(1, int(wait * 1000))

    def _query(self, kind, params, min_seq, wait, allow=()):
        min_seq, timeout_ms = self._read_bounds(min_seq, wait)
        request_id = self._next_query_id
        self._next_query_id += 1
        frame = codec.encode_query_request(request_id, kind, params, min_seq, timeout_ms)
        reply = self._call("_reader", frame, request_id, codec.decode_query_reply,
                           timeout_ms / 1000 + self.attempt_timeout)
        if reply is None:
            raise Timeout("no answer from the readers %s within %.1f s"
                          % (", ".join(self.reader_endpoints), self.timeout))
        if reply["status"] == "Ok":
            self.last_seq = max(self.last_seq, reply["seq"])
        elif reply["status"] not in allow:
            raise status_error(reply)
        return reply


__all__ = ["Client", "Command", "WriteResult", "Entity", "Page", "Group", "create", "update",
           "upsert", "delete", "StatusError", "DEFAULT_WRITER", "DEFAULT_READERS"]
