"""The wire protocol (docs/PROTOCOL.md) in Python: FlatBuffers frames built and read with the code
flatc --python generates from cqrs.fbs when the package is built (the `cqrs.fb` modules), with
Debian's python3-flatbuffers and no numpy.

Requests are plain tuples and dicts, replies plain dicts, so that a test can build any frame,
a wrong one included. `cqrs.Client` and `cqrs.Subscriber` are built on these functions."""
import flatbuffers

from .fb import (Aggregate, BoolValue, BytesValue, Command, CommandBatch, CommandBatchReply,
                 CommandReply, CommandRequest, DoubleValue, Event, EventBatch, Field, Find, Get,
                 IntValue, NestedFrame, Op, Query, QueryBatch, QueryBatchReply, QueryReply,
                 QueryRequest, ReplayRequest, Scan, Status, StringValue, Value)

# Each root type's file identifier (bytes 4..8 of its frame).
COMMAND_REQUEST = b"CQC1"
COMMAND_REPLY = b"CQR1"
QUERY_REQUEST = b"CQQ1"
QUERY_REPLY = b"CQA1"
QUERY_BATCH = b"CQM1"
QUERY_BATCH_REPLY = b"CQN1"
COMMAND_BATCH = b"CQG1"
COMMAND_BATCH_REPLY = b"CQH1"
EVENT = b"CQE1"
REPLAY_REQUEST = b"CQP1"
EVENT_BATCH = b"CQB1"

OPS = {name: value for name, value in vars(Op.Op).items() if not name.startswith("_")}
OP_NAMES = {value: name for name, value in OPS.items()}
STATUS_NAMES = {value: name for name, value in vars(Status.Status).items()
                if not name.startswith("_")}


class ProtocolError(Exception):
    """A frame that is not what the protocol says (wrong identifier, unreadable)."""


def status_name(code):
    return STATUS_NAMES.get(code, "Unknown(%d)" % code)


def identifier(frame):
    return bytes(frame[4:8])


def _expect(frame, want):
    if len(frame) < 8 or identifier(frame) != want:
        raise ProtocolError("frame identifier %r is not %r" % (identifier(frame), want))


def _value(builder, v):
    """Builds a Value union member; returns (type, offset); (NONE, 0) for None."""
    V = Value.Value
    if v is None:
        return V.NONE, 0
    if isinstance(v, bool):
        m, t = BoolValue, V.BoolValue
        m.Start(builder)
        m.AddValue(builder, v)
    elif isinstance(v, int):
        m, t = IntValue, V.IntValue
        m.Start(builder)
        m.AddValue(builder, v)
    elif isinstance(v, float):
        m, t = DoubleValue, V.DoubleValue
        m.Start(builder)
        m.AddValue(builder, v)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        data = builder.CreateByteVector(bytes(v))
        m, t = BytesValue, V.BytesValue
        m.Start(builder)
        m.AddValue(builder, data)
    elif isinstance(v, str):
        s = builder.CreateString(v)
        m, t = StringValue, V.StringValue
        m.Start(builder)
        m.AddValue(builder, s)
    else:
        raise TypeError("a field value is int, float, str, bytes, bool or None, not %s"
                        % type(v).__name__)
    return t, m.End(builder)


def _offsets(builder, start, offsets):
    start(builder, len(offsets))
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def _bytes_of(tab, field_offset):
    """A [ubyte] field of a table as bytes (without numpy)."""
    o = tab.Offset(field_offset)
    if o == 0:
        return b""
    start, length = tab.Vector(o), tab.VectorLen(o)
    return bytes(tab.Bytes[start:start + length])


def _str(b):
    return b.decode() if b is not None else ""


def _fields(builder, fields):
    offsets = []
    for name, v in sorted(fields.items()):
        n = builder.CreateString(name)
        vtype, voff = _value(builder, v)
        Field.Start(builder)
        Field.AddName(builder, n)
        if vtype:
            Field.AddValueType(builder, vtype)
            Field.AddValue(builder, voff)
        offsets.append(Field.End(builder))
    return offsets


def encode_commands(commands, client_id="", request_id=0, token=""):
    """A CommandRequest ("CQC1"). commands: (op, collection, key, expected_version, fields) with
    op a name ("Create", "Update", "Upsert", "Delete") or its number and fields {name: value};
    a value of None removes that field (Update, Upsert)."""
    b = flatbuffers.Builder(1024)
    command_offsets = []
    for op, collection, key, expected, fields in commands:
        field_offsets = _fields(b, fields or {})
        fields_vec = _offsets(b, Command.StartFieldsVector, field_offsets) if field_offsets else None
        c = b.CreateString(collection)
        k = b.CreateString(key)
        Command.Start(b)
        Command.AddCollection(b, c)
        Command.AddKey(b, k)
        Command.AddOp(b, OPS[op] if isinstance(op, str) else op)
        Command.AddExpectedVersion(b, expected)
        if fields_vec is not None:
            Command.AddFields(b, fields_vec)
        command_offsets.append(Command.End(b))
    commands_vec = _offsets(b, CommandRequest.StartCommandsVector, command_offsets)
    cid = b.CreateString(client_id) if client_id else None
    tok = b.CreateString(token) if token else None
    CommandRequest.Start(b)
    if cid is not None:
        CommandRequest.AddClientId(b, cid)
    CommandRequest.AddRequestId(b, request_id)
    if tok is not None:
        CommandRequest.AddToken(b, tok)
    CommandRequest.AddCommands(b, commands_vec)
    b.Finish(CommandRequest.End(b), file_identifier=COMMAND_REQUEST)
    return bytes(b.Output())


def decode_command_reply(frame):
    _expect(frame, COMMAND_REPLY)
    r = CommandReply.CommandReply.GetRootAs(frame, 0)
    return {
        "request_id": r.RequestId(),
        "status": status_name(r.Status()),
        "message": _str(r.Message()),
        "failed_index": r.FailedIndex(),
        "seq": r.Seq(),
        "versions": [r.Versions(i) for i in range(r.VersionsLength())],
        "expected_request_id": r.ExpectedRequestId(),
    }


def encode_query_request(request_id, kind, params, min_seq=0, timeout_ms=0, token=""):
    """A QueryRequest ("CQQ1"). kind: "get" (collection, key), "scan" (collection, prefix,
    start, end, after, limit), "find" (collection, field, eq, lo, hi, after, limit) or
    "aggregate" (collection, name); params a dict of those (absent: not set)."""
    b = flatbuffers.Builder(256)
    Q = Query.Query
    strings = {name: b.CreateString(params[name])
               for name in ("collection", "key", "prefix", "start", "end", "after", "field",
                            "name") if params.get(name)}
    if kind == "get":
        key = strings["key"] if "key" in strings else b.CreateString("")  # required, may be empty
        Get.Start(b)
        Get.AddCollection(b, strings["collection"])
        Get.AddKey(b, key)
        qtype, qoff = Q.Get, Get.End(b)
    elif kind == "scan":
        Scan.Start(b)
        Scan.AddCollection(b, strings["collection"])
        for name, add in (("prefix", Scan.AddPrefix), ("start", Scan.AddStart),
                          ("end", Scan.AddEnd), ("after", Scan.AddAfter)):
            if name in strings:
                add(b, strings[name])
        Scan.AddLimit(b, params.get("limit", 0))
        qtype, qoff = Q.Scan, Scan.End(b)
    elif kind == "find":
        bounds = {name: _value(b, params.get(name)) for name in ("eq", "lo", "hi")}
        Find.Start(b)
        Find.AddCollection(b, strings["collection"])
        Find.AddField(b, strings["field"])
        for name, add_type, add in (("eq", Find.AddEqType, Find.AddEq),
                                    ("lo", Find.AddLoType, Find.AddLo),
                                    ("hi", Find.AddHiType, Find.AddHi)):
            vtype, voff = bounds[name]
            if vtype:
                add_type(b, vtype)
                add(b, voff)
        if "after" in strings:
            Find.AddAfter(b, strings["after"])
        Find.AddLimit(b, params.get("limit", 0))
        qtype, qoff = Q.Find, Find.End(b)
    elif kind == "aggregate":
        Aggregate.Start(b)
        Aggregate.AddCollection(b, strings["collection"])
        Aggregate.AddName(b, strings["name"])
        qtype, qoff = Q.Aggregate, Aggregate.End(b)
    else:
        raise ValueError("unknown query kind %r" % kind)
    tok = b.CreateString(token) if token else None
    QueryRequest.Start(b)
    QueryRequest.AddRequestId(b, request_id)
    if tok is not None:
        QueryRequest.AddToken(b, tok)
    QueryRequest.AddMinSeq(b, min_seq)
    QueryRequest.AddTimeoutMs(b, timeout_ms)
    QueryRequest.AddQueryType(b, qtype)
    QueryRequest.AddQuery(b, qoff)
    b.Finish(QueryRequest.End(b), file_identifier=QUERY_REQUEST)
    return bytes(b.Output())


def encode_query(request_id, query, min_seq=0, timeout_ms=0):
    """The short form: query is ("get", collection, key) or ("scan", collection, after, limit)."""
    if query[0] == "get":
        return encode_query_request(request_id, "get",
                                    {"collection": query[1], "key": query[2]}, min_seq, timeout_ms)
    return encode_query_request(request_id, "scan",
                                {"collection": query[1], "after": query[2], "limit": query[3]},
                                min_seq, timeout_ms)


def _value_of(vtype, table):
    """A Value union member (its type and table) as a Python value."""
    V = Value.Value
    if vtype == V.NONE or table is None:
        return None
    if vtype == V.BytesValue:
        obj = BytesValue.BytesValue()
        obj.Init(table.Bytes, table.Pos)
        return _bytes_of(obj._tab, 4)
    cls = {V.IntValue: IntValue.IntValue, V.DoubleValue: DoubleValue.DoubleValue,
           V.StringValue: StringValue.StringValue, V.BoolValue: BoolValue.BoolValue}.get(vtype)
    if cls is None:
        raise ProtocolError("unknown value type %d" % vtype)
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    v = obj.Value()
    return _str(v) if vtype == V.StringValue else v


def _fields_of(table):
    fields = {}
    for j in range(table.FieldsLength()):
        f = table.Fields(j)
        fields[f.Name().decode()] = _value_of(f.ValueType(), f.Value())
    return fields


def decode_query_reply(frame):
    _expect(frame, QUERY_REPLY)
    r = QueryReply.QueryReply.GetRootAs(frame, 0)
    entities = []
    for i in range(r.EntitiesLength()):
        e = r.Entities(i)
        entities.append({"collection": _str(e.Collection()), "key": _str(e.Key()),
                         "version": e.Version(), "seq": e.Seq(), "fields": _fields_of(e)})
    groups = []
    for i in range(r.GroupsLength()):
        g = r.Groups(i)
        groups.append({"key": _value_of(g.KeyType(), g.Key()), "count": g.Count(),
                       "sum": g.Sum()})
    return {
        "request_id": r.RequestId(),
        "status": status_name(r.Status()),
        "message": _str(r.Message()),
        "seq": r.Seq(),
        "entities": entities,
        "next": _str(r.Next()),
        "groups": groups,
    }


def _aligned_bytes(b, data):
    """A [ubyte] vector whose bytes start 8-aligned (the schema's force_align, which the
    generated Python code does not apply)."""
    b.StartVector(1, len(data), 8)
    b.head = b.head - len(data)
    b.Bytes[b.head:b.head + len(data)] = data
    return b.EndVector()


_BATCHES = {  # kind: (root module, class name, identifier of the batch)
    "queries": (QueryBatch, "QueryBatch", QUERY_BATCH),
    "query_replies": (QueryBatchReply, "QueryBatchReply", QUERY_BATCH_REPLY),
    "commands": (CommandBatch, "CommandBatch", COMMAND_BATCH),
    "command_replies": (CommandBatchReply, "CommandBatchReply", COMMAND_BATCH_REPLY),
}


def encode_batch(kind, frames):
    """A batch frame ("queries": QueryBatch, "commands": CommandBatch) nesting whole frames (or
    any bytes, to test refusals)."""
    module, _, ident = _BATCHES[kind]
    b = flatbuffers.Builder(1024)
    nested = []
    for frame in frames:
        v = _aligned_bytes(b, frame)
        NestedFrame.Start(b)
        NestedFrame.AddFrame(b, v)
        nested.append(NestedFrame.End(b))
    b.StartVector(4, len(nested), 4)
    for n in reversed(nested):
        b.PrependUOffsetTRelative(n)
    vec = b.EndVector()
    module.Start(b)
    if kind == "queries":
        module.AddQueries(b, vec)
    else:
        module.AddRequests(b, vec)
    b.Finish(module.End(b), file_identifier=ident)
    return bytes(b.Output())


def decode_batch(kind, frame):
    """The nested frames of a batch reply ("query_replies", "command_replies"), as bytes."""
    module, cls, ident = _BATCHES[kind]
    _expect(frame, ident)
    r = getattr(module, cls).GetRootAs(frame, 0)
    return [_bytes_of(r.Replies(i)._tab, 4) for i in range(r.RepliesLength())]


def encode_query_batch(frames):
    return encode_batch("queries", frames)


def decode_query_batch_reply(frame):
    """The QueryReplies of a QueryBatchReply ("CQN1"), decoded, in order."""
    return [decode_query_reply(f) for f in decode_batch("query_replies", frame)]


def encode_replay(from_seq, max_events=0, collection=""):
    """A ReplayRequest ("CQP1")."""
    b = flatbuffers.Builder(64)
    c = b.CreateString(collection) if collection else None
    ReplayRequest.Start(b)
    ReplayRequest.AddFromSeq(b, from_seq)
    ReplayRequest.AddMaxEvents(b, max_events)
    if c is not None:
        ReplayRequest.AddCollection(b, c)
    b.Finish(ReplayRequest.End(b), file_identifier=REPLAY_REQUEST)
    return bytes(b.Output())


def _event_dict(e):
    return {"seq": e.Seq(), "collection_seq": e.CollectionSeq(), "timestamp_ns": e.TimestampNs(),
            "tenant": _str(e.Tenant()), "collection": _str(e.Collection()), "key": _str(e.Key()),
            "op": OP_NAMES.get(e.Op(), str(e.Op())), "version": e.Version(),
            "fields": _fields_of(e), "client_id": _str(e.ClientId()),
            "request_id": e.RequestId(), "format": e.Format()}


def decode_event(frame):
    """An Event frame ("CQE1") as a dict."""
    _expect(frame, EVENT)
    return _event_dict(Event.Event.GetRootAs(frame, 0))


def decode_event_batch(frame):
    """An EventBatch ("CQB1": a replay reply or a heartbeat) as a dict."""
    _expect(frame, EVENT_BATCH)
    r = EventBatch.EventBatch.GetRootAs(frame, 0)
    batch = {"status": status_name(r.Status()), "message": _str(r.Message()),
             "head_seq": r.HeadSeq(),
             "events": [_event_dict(r.Events(i)) for i in range(r.EventsLength())]}
    if r.FirstSeq() or r.SnapshotSeq():  # OutOfRange only
        batch["first_seq"] = r.FirstSeq()
        batch["snapshot_seq"] = r.SnapshotSeq()
    return batch
