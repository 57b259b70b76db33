"""cqrs wire protocol for the Python tests: FlatBuffers built and read with the code flatc
--python generated from schemas/cqrs.fbs at build time (Debian's python3-flatbuffers), over plain
ZeroMQ sockets (Debian's python3-zmq). Call load(gen_dir) first."""
import importlib
import os
import sys
import time

import flatbuffers
import zmq

fb = {}  # generated modules by name

_MODULES = ("CommandRequest", "Command", "Field", "IntValue", "DoubleValue", "StringValue",
            "BytesValue", "BoolValue", "Value", "Op", "Status", "CommandReply", "QueryRequest",
            "QueryReply", "Query", "Get", "Scan", "Entity", "Event", "NestedFrame", "QueryBatch",
            "QueryBatchReply", "CommandBatch", "CommandBatchReply")


def load(gen_dir):
    """Imports the generated cqrs.fb package from gen_dir."""
    sys.path.insert(0, gen_dir)
    for name in _MODULES:
        fb[name] = importlib.import_module("cqrs.fb." + name)


def status_name(code):
    for name, value in vars(fb["Status"].Status).items():
        if value == code:
            return name
    return "Unknown(%d)" % code


def _value(builder, v):
    """Builds a Value union member; returns (type, offset)."""
    V = fb["Value"].Value
    if v is None:
        return V.NONE, 0
    if isinstance(v, bool):
        m, t = fb["BoolValue"], V.BoolValue
        m.Start(builder)
        m.AddValue(builder, v)
    elif isinstance(v, int):
        m, t = fb["IntValue"], V.IntValue
        m.Start(builder)
        m.AddValue(builder, v)
    elif isinstance(v, float):
        m, t = fb["DoubleValue"], V.DoubleValue
        m.Start(builder)
        m.AddValue(builder, v)
    elif isinstance(v, bytes):
        data = builder.CreateByteVector(v)
        m, t = fb["BytesValue"], V.BytesValue
        m.Start(builder)
        m.AddValue(builder, data)
    else:
        s = builder.CreateString(v)
        m, t = fb["StringValue"], V.StringValue
        m.Start(builder)
        m.AddValue(builder, s)
    return t, m.End(builder)


def _vector(builder, start, offsets):
    start(builder, len(offsets))
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def encode_commands(commands, client_id="", request_id=0):
    """commands: list of (op, collection, key, expected_version, {name: value or None})."""
    b = flatbuffers.Builder(1024)
    command_offsets = []
    for op, collection, key, expected, fields in commands:
        field_offsets = []
        for name, v in fields.items():
            n = b.CreateString(name)
            vtype, voff = _value(b, v)
            fb["Field"].Start(b)
            fb["Field"].AddName(b, n)
            if vtype:
                fb["Field"].AddValueType(b, vtype)
                fb["Field"].AddValue(b, voff)
            field_offsets.append(fb["Field"].End(b))
        fields_vec = _vector(b, fb["Command"].StartFieldsVector, field_offsets) if field_offsets else None
        c = b.CreateString(collection)
        k = b.CreateString(key)
        fb["Command"].Start(b)
        fb["Command"].AddCollection(b, c)
        fb["Command"].AddKey(b, k)
        fb["Command"].AddOp(b, op)
        fb["Command"].AddExpectedVersion(b, expected)
        if fields_vec is not None:
            fb["Command"].AddFields(b, fields_vec)
        command_offsets.append(fb["Command"].End(b))
    commands_vec = _vector(b, fb["CommandRequest"].StartCommandsVector, command_offsets)
    cid = b.CreateString(client_id) if client_id else None
    fb["CommandRequest"].Start(b)
    if cid is not None:
        fb["CommandRequest"].AddClientId(b, cid)
    fb["CommandRequest"].AddRequestId(b, request_id)
    fb["CommandRequest"].AddCommands(b, commands_vec)
    b.Finish(fb["CommandRequest"].End(b), file_identifier=b"CQC1")
    return bytes(b.Output())


def decode_command_reply(frame):
    if frame[4:8] != b"CQR1":
        raise AssertionError("reply identifier %r is not CQR1" % frame[4:8])
    r = fb["CommandReply"].CommandReply.GetRootAs(frame, 0)
    return {
        "request_id": r.RequestId(),
        "status": status_name(r.Status()),
        "message": (r.Message() or b"").decode(),
        "failed_index": r.FailedIndex(),
        "seq": r.Seq(),
        "versions": [r.Versions(i) for i in range(r.VersionsLength())],
    }


def encode_query(request_id, query, min_seq=0, timeout_ms=0):
    """query: ("get", collection, key) or ("scan", collection, after, limit)."""
    b = flatbuffers.Builder(256)
    Q = fb["Query"].Query
    if query[0] == "get":
        c, k = b.CreateString(query[1]), b.CreateString(query[2])
        fb["Get"].Start(b)
        fb["Get"].AddCollection(b, c)
        fb["Get"].AddKey(b, k)
        qtype, qoff = Q.Get, fb["Get"].End(b)
    else:
        c = b.CreateString(query[1])
        after = b.CreateString(query[2]) if query[2] else None
        fb["Scan"].Start(b)
        fb["Scan"].AddCollection(b, c)
        if after is not None:
            fb["Scan"].AddAfter(b, after)
        fb["Scan"].AddLimit(b, query[3])
        qtype, qoff = Q.Scan, fb["Scan"].End(b)
    fb["QueryRequest"].Start(b)
    fb["QueryRequest"].AddRequestId(b, request_id)
    fb["QueryRequest"].AddMinSeq(b, min_seq)
    fb["QueryRequest"].AddTimeoutMs(b, timeout_ms)
    fb["QueryRequest"].AddQueryType(b, qtype)
    fb["QueryRequest"].AddQuery(b, qoff)
    b.Finish(fb["QueryRequest"].End(b), file_identifier=b"CQQ1")
    return bytes(b.Output())


def _field_value(field):
    V = fb["Value"].Value
    t = field.ValueType()
    table = field.Value()
    if t == V.NONE or table is None:
        return None
    cls = {V.IntValue: "IntValue", V.DoubleValue: "DoubleValue", V.StringValue: "StringValue",
           V.BytesValue: "BytesValue", V.BoolValue: "BoolValue"}[t]
    obj = getattr(fb[cls], cls)()
    obj.Init(table.Bytes, table.Pos)
    if t == V.BytesValue:
        return bytes(obj.ValueAsNumpy()) if obj.ValueLength() else b""
    v = obj.Value()
    return v.decode() if t == V.StringValue else v


def decode_query_reply(frame):
    if frame[4:8] != b"CQA1":
        raise AssertionError("reply identifier %r is not CQA1" % frame[4:8])
    r = fb["QueryReply"].QueryReply.GetRootAs(frame, 0)
    entities = []
    for i in range(r.EntitiesLength()):
        e = r.Entities(i)
        fields = {}
        for j in range(e.FieldsLength()):
            f = e.Fields(j)
            fields[f.Name().decode()] = _field_value(f)
        entities.append({"key": e.Key().decode(), "version": e.Version(), "seq": e.Seq(),
                         "fields": fields})
    return {
        "request_id": r.RequestId(),
        "status": status_name(r.Status()),
        "message": (r.Message() or b"").decode(),
        "seq": r.Seq(),
        "entities": entities,
        "next": (r.Next() or b"").decode(),
    }


def _aligned_bytes(b, data):
    """A [ubyte] vector whose bytes start 8-aligned (the schema's force_align, which the
    generated Python code does not apply)."""
    b.StartVector(1, len(data), 8)
    b.head = b.head - len(data)
    b.Bytes[b.head:b.head + len(data)] = data
    return b.EndVector(len(data))


_BATCHES = {  # kind: (root module, identifier of the batch, identifier of what it nests)
    "queries": ("QueryBatch", b"CQM1"),
    "query_replies": ("QueryBatchReply", b"CQN1"),
    "commands": ("CommandBatch", b"CQG1"),
    "command_replies": ("CommandBatchReply", b"CQH1"),
}


def encode_batch(kind, frames):
    """A batch frame ("queries": QueryBatch, "commands": CommandBatch) nesting whole frames (or
    any bytes, to test refusals)."""
    module, identifier = _BATCHES[kind]
    b = flatbuffers.Builder(1024)
    nested = []
    for frame in frames:
        v = _aligned_bytes(b, frame)
        fb["NestedFrame"].Start(b)
        fb["NestedFrame"].AddFrame(b, v)
        nested.append(fb["NestedFrame"].End(b))
    b.StartVector(4, len(nested), 4)
    for n in reversed(nested):
        b.PrependUOffsetTRelative(n)
    vec = b.EndVector(len(nested))
    fb[module].Start(b)
    fb[module].AddQueries(b, vec) if kind == "queries" else fb[module].AddRequests(b, vec)
    b.Finish(fb[module].End(b), file_identifier=identifier)
    return bytes(b.Output())


def decode_batch(kind, frame):
    """The nested frames of a batch reply ("query_replies", "command_replies"), as bytes."""
    module, identifier = _BATCHES[kind]
    if frame[4:8] != identifier:
        raise AssertionError("reply identifier %r is not %r" % (frame[4:8], identifier))
    r = getattr(fb[module], module).GetRootAs(frame, 0)
    out = []
    for i in range(r.RepliesLength()):
        tab = r.Replies(i)._tab
        o = tab.Offset(4)  # NestedFrame.frame
        start, length = tab.Vector(o), tab.VectorLen(o)
        out.append(bytes(tab.Bytes[start:start + length]))
    return out


def encode_query_batch(frames):
    return encode_batch("queries", frames)


def decode_query_batch_reply(frame):
    """The QueryReplies of a QueryBatchReply ("CQN1"), decoded, in order."""
    return [decode_query_reply(f) for f in decode_batch("query_replies", frame)]


def wait_answering(context, endpoint, seconds=30):
    """Waits until the server at endpoint answers a garbage frame (every server does)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s = context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send(b"ping")
        if s.poll(200):
            s.close()
            return
        s.close()
    raise SystemExit("no answer from " + endpoint)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_segment_removed(cqrs, flags):
    """A clean stop of the pipeline removes its shared-memory segment: `cqrs stats` finds none.
    A segment left behind is removed (it would outlive the temp dir) and fails the test."""
    import subprocess
    r = subprocess.run([cqrs, "stats", *flags], capture_output=True, text=True)
    if r.returncode == 1 and "no shared memory" in r.stderr:
        return
    subprocess.run([cqrs, "stats", "--remove", *flags], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    raise SystemExit("the shared-memory segment outlived a clean stop: " + r.stdout + r.stderr)


def ipc_pipeline_config(tmp):
    """Writes tmp/pipeline.toml: a pipeline on ipc endpoints in tmp (nosync writer, 2 readers,
    a small cache). Returns ({name: endpoint}, config path)."""
    ep = {name: "ipc://" + os.path.join(tmp, name + ".sock")
          for name in ("writer", "events", "replay", "reader0", "reader1")}
    config = os.path.join(tmp, "pipeline.toml")
    with open(config, "w") as f:
        f.write('log_level = "warn"\n[writer]\nendpoint = "%s"\ndurability = "nosync"\n'
                '[projector]\nevents_endpoint = "%s"\nreplay_endpoint = "%s"\n'
                '[reader]\nendpoints = ["%s", "%s"]\n[cache]\nslots = 1024\n'
                % (ep["writer"], ep["events"], ep["replay"], ep["reader0"], ep["reader1"]))
    return ep, config
