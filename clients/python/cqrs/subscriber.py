"""cqrs.Subscriber: the change feed, each event delivered once and in order, gaps filled by
replay (docs/PROTOCOL.md, "Events" and "Replay").

It subscribes first (its topics and the heartbeat `~hb`), then replays from `from_seq` until a
replay comes back empty, then goes live: an event at or below the last seq delivered is a
duplicate and dropped; an event past a gap (in seq, or in collection_seq when it follows given
collections) starts a replay of the gap, which also returns that event. A heartbeat whose
head_seq is past the last seq delivered means the newest events were lost: replayed at once when
following every collection, at most once a second per collection otherwise (the head moves with
every collection, and an empty replay says nothing was lost).

Events come in seq order within a collection; across collections, in seq order except around a
repair. While it replays it reads nothing from the feed, which ZeroMQ buffers (or drops, which a
later replay repairs). Memory: one replay page per collection."""
import collections
import dataclasses
import time

import zmq

from . import codec
from .errors import Timeout, status_error

DEFAULT_EVENTS = "tcp://127.0.0.1:7102"
DEFAULT_REPLAY = "tcp://127.0.0.1:7103"
HEARTBEAT_TOPIC = b"~hb"


@dataclasses.dataclass
class Event:
    seq: int
    collection_seq: int
    timestamp_ns: int
    tenant: str
    collection: str
    key: str
    op: str          # "Create", "Update" or "Delete" (an Upsert is published as what it did)
    version: int
    fields: dict     # the entity's whole state after the change (empty for a Delete)
    client_id: str
    request_id: int


def _event(d):
    return Event(d["seq"], d["collection_seq"], d["timestamp_ns"], d["tenant"], d["collection"],
                 d["key"], d["op"], d["version"], d["fields"], d["client_id"], d["request_id"])


class _Scope:
    """What is followed by one seq: every collection (name None) or one collection."""

    def __init__(self, name, last_seq):
        self.name = name
        self.last_seq = last_seq      # the last seq delivered (or skipped: below from_seq)
        self.last_collection_seq = None
        self.page = collections.deque()
        self.caught_up = False        # the last replay came back empty
        self.checked = 0.0            # monotonic time of the last heartbeat check


class Subscriber:
    """events, replay: the projector's PUB and replay endpoints; collections: None for every
    collection, or the names to follow (required with security on, with `tenant`); from_seq:
    the first seq wanted (1: the whole log), or None for only what comes after the first
    heartbeat; curve: CurveKeys when security is on; timeout: seconds a replay may take;
    replay_batch: events asked per replay; hwm: the SUB socket's receive high-water mark
    (ZeroMQ's default, 1,000 messages, when None)."""

    def __init__(self, events=DEFAULT_EVENTS, replay=DEFAULT_REPLAY, *, collections=None,
                 tenant=None, from_seq=1, curve=None, timeout=10.0, replay_batch=1000,
                 hwm=None, context=None):
        if tenant and not collections:
            raise ValueError("with security on (tenant set), name the collections to follow")
        self.replay_endpoint = replay
        self.curve = curve
        self.timeout = timeout
        self.replay_batch = replay_batch
        self.replays = 0              # replay requests sent (initial catch-up and repairs)
        self._context = context or zmq.Context.instance()
        self._replay = None
        self._sub = self._context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        if hwm is not None:
            self._sub.setsockopt(zmq.RCVHWM, hwm)
        if curve is not None:
            curve.apply(self._sub)
        prefix = tenant + "/" if tenant else ""
        for topic in ([prefix + c + "/" for c in collections] if collections else [""]):
            self._sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._sub.setsockopt(zmq.SUBSCRIBE, HEARTBEAT_TOPIC)
        self._sub.connect(events)
        names = list(collections) if collections else [None]
        self._filtered = bool(collections)
        if from_seq is None:
            head = self._first_heartbeat()
            self._scopes = {n: _Scope(n, head) for n in names}
            for s in self._scopes.values():
                s.caught_up = True
        else:
            self._scopes = {n: _Scope(n, max(from_seq, 1) - 1) for n in names}

    def close(self):
        self._sub.close(linger=0)
        if self._replay is not None:
            self._replay.close(linger=0)
            self._replay = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        while True:
            event = self.next(timeout=None)
            if event is not None:
                yield event

    def next(self, timeout=1.0):
        """The next event, or None if none came within timeout seconds (None: wait for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            event = self._from_replay()
            if event is not None:
                return event
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            wait_ms = 100 if remaining is None else max(1, min(100, int(remaining * 1000)))
            if not self._sub.poll(wait_ms):
                continue
            topic, body = self._sub.recv_multipart()[:2]
            if topic == HEARTBEAT_TOPIC:
                self._heartbeat(codec.decode_event_batch(body)["head_seq"])
                continue
            d = codec.decode_event(body)
            scope = self._scopes.get(d["collection"] if self._filtered else None)
            if scope is None or d["seq"] <= scope.last_seq:
                continue  # not followed, or a duplicate of what a replay delivered
            if self._follows(scope, d):
                return self._deliver(scope, d)
            scope.caught_up = False  # a gap: replay it (the replay holds this event too)

    def _follows(self, scope, d):
        if self._filtered:
            if scope.last_collection_seq is None:
                return False  # nothing delivered yet to compare with: let a replay decide
            return d["collection_seq"] == scope.last_collection_seq + 1
        return d["seq"] == scope.last_seq + 1

    def _deliver(self, scope, d):
        scope.last_seq = d["seq"]
        scope.last_collection_seq = d["collection_seq"]
        return _event(d)

    def _heartbeat(self, head_seq):
        now = time.monotonic()
        for scope in self._scopes.values():
            if scope.last_seq >= head_seq or not scope.caught_up:
                continue
            if not self._filtered:
                scope.caught_up = False  # every event up to head_seq came before it: lost
            elif now - scope.checked >= 1.0:
                scope.checked = now
                scope.caught_up = False

    def _from_replay(self):
        """The lowest-seq event of the replay pages, fetching a page for every scope still
        catching up whose page is empty; None once every scope is caught up."""
        for scope in self._scopes.values():
            if not scope.page and not scope.caught_up:
                events = self._replay_page(scope)
                scope.page.extend(e for e in events if e["seq"] > scope.last_seq)
                if not events:
                    scope.caught_up = True
        best = None
        for scope in self._scopes.values():
            if scope.page and (best is None or scope.page[0]["seq"] < best.page[0]["seq"]):
                best = scope
        if best is None:
            return None
        return self._deliver(best, best.page.popleft())

    def _replay_page(self, scope):
        frame = codec.encode_replay(scope.last_seq + 1, self.replay_batch, scope.name or "")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._replay is None:
                self._replay = self._context.socket(zmq.DEALER)
                self._replay.setsockopt(zmq.LINGER, 0)
                if self.curve is not None:
                    self.curve.apply(self._replay)
                self._replay.connect(self.replay_endpoint)
            self._replay.send(frame)
            self.replays += 1
            if self._replay.poll(int(min(1.0, deadline - time.monotonic()) * 1000) + 1):
                batch = codec.decode_event_batch(self._replay.recv())
                if batch["status"] != "Ok":
                    raise status_error(batch)
                return batch["events"]
            self._replay.close(linger=0)  # no answer: ask again over a fresh connection
            self._replay = None
        raise Timeout("no answer from the replay endpoint %s within %.1f s"
                      % (self.replay_endpoint, self.timeout))

    def _first_heartbeat(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._sub.poll(100):
                topic, body = self._sub.recv_multipart()[:2]
                if topic == HEARTBEAT_TOPIC:
                    return codec.decode_event_batch(body)["head_seq"]
        raise Timeout("no heartbeat from the events endpoint within %.1f s" % self.timeout)
