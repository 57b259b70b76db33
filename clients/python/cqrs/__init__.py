"""The Python client of cqrs (docs/PROTOCOL.md): `Client` writes and reads, `Subscriber` follows
the change feed, `CurveKeys` for a secured pipeline; `cqrs.codec` builds and reads every frame.

    import cqrs
    c = cqrs.Client("tcp://127.0.0.1:7101", ["tcp://127.0.0.1:7110"])
    w = c.put("orders", "o1", {"status": "new", "total": 12.5})
    c.get("orders", "o1").fields       # read your own write: min_seq is w.seq
"""
from .client import (DEFAULT_READERS, DEFAULT_WRITER, Client, Command, Entity, Group, Page,
                     WriteResult, create, delete, update, upsert)
from .curve import CurveKeys
from .errors import (AlreadyExists, DeadlineExceeded, Error, Indeterminate, Internal,
                     InvalidArgument, NotFound, OutOfOrder, OutOfRange, PermissionDenied, ResourceExhausted,
                     StatusError, Timeout, Unauthenticated, Unavailable, VersionConflict)
from .subscriber import DEFAULT_EVENTS, DEFAULT_REPLAY, Event, Subscriber

__version__ = "0.2.0"
