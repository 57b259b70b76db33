'use strict';
// The wire protocol (docs/PROTOCOL.md) in JavaScript: FlatBuffers frames built and read with the
// classes flatc --ts generates from cqrs.fbs (compiled by `npm run build` into build/js), on the
// npm flatbuffers runtime 2.0.7. Requests are plain objects, replies plain objects; Client and
// Subscriber are built on these functions, and a test can build any frame with them.
const flatbuffers = require('flatbuffers');

function generated(name) {
  // flatc's index (cqrs_generated) leaves the root types out: load each module by its file.
  return require(`../build/js/cqrs/fb/${name}.js`);
}
const fb = {};
for (const [cls, file] of [
  ['Aggregate', 'aggregate'], ['BoolValue', 'bool-value'], ['BytesValue', 'bytes-value'],
  ['Command', 'command'], ['CommandBatch', 'command-batch'],
  ['CommandBatchReply', 'command-batch-reply'], ['CommandReply', 'command-reply'],
  ['CommandRequest', 'command-request'], ['DoubleValue', 'double-value'], ['Entity', 'entity'],
  ['Event', 'event'], ['EventBatch', 'event-batch'], ['Field', 'field'], ['Find', 'find'],
  ['Get', 'get'], ['Group', 'group'], ['IntValue', 'int-value'], ['NestedFrame', 'nested-frame'],
  ['Op', 'op'], ['Query', 'query'], ['QueryBatch', 'query-batch'],
  ['QueryBatchReply', 'query-batch-reply'], ['QueryReply', 'query-reply'],
  ['QueryRequest', 'query-request'], ['ReplayRequest', 'replay-request'], ['Scan', 'scan'],
  ['Status', 'status'], ['StringValue', 'string-value'], ['Value', 'value'],
]) {
  fb[cls] = generated(file)[cls];
}

const ID = {
  commandRequest: 'CQC1', commandReply: 'CQR1', queryRequest: 'CQQ1', queryReply: 'CQA1',
  queryBatch: 'CQM1', queryBatchReply: 'CQN1', commandBatch: 'CQG1', commandBatchReply: 'CQH1',
  event: 'CQE1', replayRequest: 'CQP1', eventBatch: 'CQB1',
};

const OPS = { Create: fb.Op.Create, Update: fb.Op.Update, Upsert: fb.Op.Upsert, Delete: fb.Op.Delete };
const OP_NAMES = Object.fromEntries(Object.entries(OPS).map(([k, v]) => [v, k]));

class ProtocolError extends Error {}

function statusName(code) {
  return fb.Status[code] !== undefined ? fb.Status[code] : `Unknown(${code})`;
}

function identifier(frame) {
  return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('latin1', 4, 8);
}

function buffer(frame, want) {
  if (frame.byteLength < 8 || identifier(frame) !== want) {
    throw new ProtocolError(`frame identifier ${JSON.stringify(identifier(frame))} is not ${want}`);
  }
  return new flatbuffers.ByteBuffer(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength));
}

// A double whatever its value (a JS number that is an integer is sent as IntValue otherwise).
class Double {
  constructor(value) { this.value = Number(value); }
}

function value(b, v) {
  const V = fb.Value;
  if (v === null || v === undefined) return [V.NONE, 0];
  if (typeof v === 'boolean') return [V.BoolValue, fb.BoolValue.createBoolValue(b, v)];
  if (typeof v === 'bigint') return [V.IntValue, fb.IntValue.createIntValue(b, v)];
  if (v instanceof Double) return [V.DoubleValue, fb.DoubleValue.createDoubleValue(b, v.value)];
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return [V.IntValue, fb.IntValue.createIntValue(b, BigInt(v))];
    return [V.DoubleValue, fb.DoubleValue.createDoubleValue(b, v)];
  }
  if (typeof v === 'string') return [V.StringValue, fb.StringValue.createStringValue(b, b.createString(v))];
  if (v instanceof Uint8Array) {
    const data = fb.BytesValue.createValueVector(b, v);
    return [V.BytesValue, fb.BytesValue.createBytesValue(b, data)];
  }
  throw new TypeError(`a field value is a number, bigint, string, Uint8Array, boolean, cqrs.Double or null, not ${typeof v}`);
}

function fields(b, obj) {
  return Object.keys(obj || {}).sort().map((name) => {
    const n = b.createString(name);
    const [type, off] = value(b, obj[name]);
    fb.Field.startField(b);
    fb.Field.addName(b, n);
    if (type) {
      fb.Field.addValueType(b, type);
      fb.Field.addValue(b, off);
    }
    return fb.Field.endField(b);
  });
}

function finish(b, root, id) {
  b.finish(root, id);
  return Buffer.from(b.asUint8Array());
}

// commands: [{op: 'Create'|'Update'|'Upsert'|'Delete', collection, key, fields, expectedVersion}]
function encodeCommands(commands, clientId = '', requestId = 0, token = '') {
  const b = new flatbuffers.Builder(1024);
  const offsets = commands.map((c) => {
    const fieldOffsets = fields(b, c.fields);
    const vec = fieldOffsets.length ? fb.Command.createFieldsVector(b, fieldOffsets) : 0;
    const coll = b.createString(c.collection);
    const key = b.createString(c.key);
    fb.Command.startCommand(b);
    fb.Command.addCollection(b, coll);
    fb.Command.addKey(b, key);
    fb.Command.addOp(b, typeof c.op === 'string' ? OPS[c.op] : c.op);
    fb.Command.addExpectedVersion(b, BigInt(c.expectedVersion || 0));
    if (vec) fb.Command.addFields(b, vec);
    return fb.Command.endCommand(b);
  });
  const vec = fb.CommandRequest.createCommandsVector(b, offsets);
  const cid = clientId ? b.createString(clientId) : 0;
  const tok = token ? b.createString(token) : 0;
  fb.CommandRequest.startCommandRequest(b);
  if (cid) fb.CommandRequest.addClientId(b, cid);
  fb.CommandRequest.addRequestId(b, BigInt(requestId));
  if (tok) fb.CommandRequest.addToken(b, tok);
  fb.CommandRequest.addCommands(b, vec);
  return finish(b, fb.CommandRequest.endCommandRequest(b), ID.commandRequest);
}

function num(big) {
  // seqs, versions and ids: Numbers (exact up to 2^53, which no seq reaches in practice).
  return Number(big);
}

function decodeCommandReply(frame) {
  const r = fb.CommandReply.getRootAsCommandReply(buffer(frame, ID.commandReply));
  const versions = [];
  for (let i = 0; i < r.versionsLength(); i++) versions.push(num(r.versions(i)));
  return {
    requestId: num(r.requestId()), status: statusName(r.status()), message: r.message() || '',
    failedIndex: r.failedIndex(), seq: num(r.seq()), versions,
    expectedRequestId: num(r.expectedRequestId()),
  };
}

// kind: 'get' {collection, key}, 'scan' {collection, prefix, start, end, after, limit},
// 'find' {collection, field, eq, lo, hi, after, limit}, 'aggregate' {collection, name}.
function encodeQuery(requestId, kind, p, minSeq = 0, timeoutMs = 0, token = '') {
  const b = new flatbuffers.Builder(256);
  const s = {};
  for (const name of ['collection', 'key', 'prefix', 'start', 'end', 'after', 'field', 'name']) {
    if (p[name]) s[name] = b.createString(p[name]);
  }
  const Q = fb.Query;
  let type;
  let off;
  if (kind === 'get') {
    const key = s.key || b.createString('');
    fb.Get.startGet(b);
    fb.Get.addCollection(b, s.collection);
    fb.Get.addKey(b, key);
    [type, off] = [Q.Get, fb.Get.endGet(b)];
  } else if (kind === 'scan') {
    fb.Scan.startScan(b);
    fb.Scan.addCollection(b, s.collection);
    if (s.prefix) fb.Scan.addPrefix(b, s.prefix);
    if (s.start) fb.Scan.addStart(b, s.start);
    if (s.end) fb.Scan.addEnd(b, s.end);
    if (s.after) fb.Scan.addAfter(b, s.after);
    fb.Scan.addLimit(b, p.limit || 0);
    [type, off] = [Q.Scan, fb.Scan.endScan(b)];
  } else if (kind === 'find') {
    const bounds = {};
    for (const name of ['eq', 'lo', 'hi']) bounds[name] = value(b, p[name]);
    fb.Find.startFind(b);
    fb.Find.addCollection(b, s.collection);
    fb.Find.addField(b, s.field);
    if (bounds.eq[0]) { fb.Find.addEqType(b, bounds.eq[0]); fb.Find.addEq(b, bounds.eq[1]); }
    if (bounds.lo[0]) { fb.Find.addLoType(b, bounds.lo[0]); fb.Find.addLo(b, bounds.lo[1]); }
    if (bounds.hi[0]) { fb.Find.addHiType(b, bounds.hi[0]); fb.Find.addHi(b, bounds.hi[1]); }
    if (s.after) fb.Find.addAfter(b, s.after);
    fb.Find.addLimit(b, p.limit || 0);
    [type, off] = [Q.Find, fb.Find.endFind(b)];
  } else if (kind === 'aggregate') {
    fb.Aggregate.startAggregate(b);
    fb.Aggregate.addCollection(b, s.collection);
    fb.Aggregate.addName(b, s.name);
    [type, off] = [Q.Aggregate, fb.Aggregate.endAggregate(b)];
  } else {
    throw new Error(`unknown query kind ${kind}`);
  }
  const tok = token ? b.createString(token) : 0;
  fb.QueryRequest.startQueryRequest(b);
  fb.QueryRequest.addRequestId(b, BigInt(requestId));
  if (tok) fb.QueryRequest.addToken(b, tok);
  fb.QueryRequest.addMinSeq(b, BigInt(minSeq));
  fb.QueryRequest.addTimeoutMs(b, timeoutMs);
  fb.QueryRequest.addQueryType(b, type);
  fb.QueryRequest.addQuery(b, off);
  return finish(b, fb.QueryRequest.endQueryRequest(b), ID.queryRequest);
}

// A Value union member as a JS value, or with `typed` as the conformance vectors' JSON
// ({int}, {double}, {string}, {bytes: hex}, {bool}), which keeps a whole double a double.
function valueOf(type, get, typed = false) {
  const V = fb.Value;
  if (typed && type !== V.NONE) {
    const v = valueOf(type, get);
    switch (type) {
      case V.IntValue: return { int: Number(v) };
      case V.DoubleValue: return { double: v };
      case V.StringValue: return { string: v };
      case V.BoolValue: return { bool: v };
      case V.BytesValue: return { bytes: v.toString('hex') };
      default: break;
    }
  }
  switch (type) {
    case V.NONE: return null;
    case V.IntValue: {
      const v = get(new fb.IntValue()).value();
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case V.DoubleValue: return get(new fb.DoubleValue()).value();
    case V.StringValue: return get(new fb.StringValue()).value() || '';
    case V.BoolValue: return get(new fb.BoolValue()).value();
    case V.BytesValue: return Buffer.from(get(new fb.BytesValue()).valueArray() || []);
    default: throw new ProtocolError(`unknown value type ${type}`);
  }
}

function fieldsOf(table, typed) {
  const out = {};
  for (let i = 0; i < table.fieldsLength(); i++) {
    const f = table.fields(i);
    out[f.name()] = valueOf(f.valueType(), (obj) => f.value(obj), typed);
  }
  return out;
}

// typed: values as the conformance vectors write them (see valueOf).
function decodeQueryReply(frame, typed = false) {
  const r = fb.QueryReply.getRootAsQueryReply(buffer(frame, ID.queryReply));
  const entities = [];
  for (let i = 0; i < r.entitiesLength(); i++) {
    const e = r.entities(i);
    entities.push({ collection: e.collection() || '', key: e.key() || '', version: num(e.version()),
      seq: num(e.seq()), fields: fieldsOf(e, typed) });
  }
  const groups = [];
  for (let i = 0; i < r.groupsLength(); i++) {
    const g = r.groups(i);
    groups.push({ key: valueOf(g.keyType(), (obj) => g.key(obj), typed), count: num(g.count()), sum: g.sum() });
  }
  return { requestId: num(r.requestId()), status: statusName(r.status()), message: r.message() || '',
    seq: num(r.seq()), entities, next: r.next() || '', groups };
}

function alignedBytes(b, data) {
  // A [ubyte] vector whose bytes start 8-aligned (the schema's force_align).
  b.startVector(1, data.length, 8);
  b.space -= data.length;
  b.bb.bytes().set(data, b.space);
  return b.endVector();
}

const BATCHES = {
  queries: ['QueryBatch', ID.queryBatch], queryReplies: ['QueryBatchReply', ID.queryBatchReply],
  commands: ['CommandBatch', ID.commandBatch], commandReplies: ['CommandBatchReply', ID.commandBatchReply],
};

function encodeBatch(kind, frames) {
  const [cls, id] = BATCHES[kind];
  const b = new flatbuffers.Builder(1024);
  const nested = frames.map((frame) => {
    const v = alignedBytes(b, frame);
    fb.NestedFrame.startNestedFrame(b);
    fb.NestedFrame.addFrame(b, v);
    return fb.NestedFrame.endNestedFrame(b);
  });
  const T = fb[cls];
  const vec = kind === 'queries' ? T.createQueriesVector(b, nested) : T.createRequestsVector(b, nested);
  T[`start${cls}`](b);
  if (kind === 'queries') T.addQueries(b, vec); else T.addRequests(b, vec);
  return finish(b, T[`end${cls}`](b), id);
}

function decodeBatch(kind, frame) {
  const [cls, id] = BATCHES[kind];
  const r = fb[cls][`getRootAs${cls}`](buffer(frame, id));
  const out = [];
  for (let i = 0; i < r.repliesLength(); i++) out.push(Buffer.from(r.replies(i).frameArray() || []));
  return out;
}

function encodeReplay(fromSeq, maxEvents = 0, collection = '') {
  const b = new flatbuffers.Builder(64);
  const c = collection ? b.createString(collection) : 0;
  fb.ReplayRequest.startReplayRequest(b);
  fb.ReplayRequest.addFromSeq(b, BigInt(fromSeq));
  fb.ReplayRequest.addMaxEvents(b, maxEvents);
  if (c) fb.ReplayRequest.addCollection(b, c);
  return finish(b, fb.ReplayRequest.endReplayRequest(b), ID.replayRequest);
}

function eventOf(e, typed) {
  return { seq: num(e.seq()), collectionSeq: num(e.collectionSeq()), timestampNs: e.timestampNs(),
    tenant: e.tenant() || '', collection: e.collection() || '', key: e.key() || '',
    op: OP_NAMES[e.op()], version: num(e.version()), fields: fieldsOf(e, typed),
    clientId: e.clientId() || '', requestId: num(e.requestId()), format: e.format() };
}

function decodeEvent(frame, typed = false) {
  return eventOf(fb.Event.getRootAsEvent(buffer(frame, ID.event)), typed);
}

function decodeEventBatch(frame, typed = false) {
  const r = fb.EventBatch.getRootAsEventBatch(buffer(frame, ID.eventBatch));
  const events = [];
  for (let i = 0; i < r.eventsLength(); i++) events.push(eventOf(r.events(i), typed));
  const batch = { status: statusName(r.status()), message: r.message() || '', headSeq: num(r.headSeq()), events };
  if (num(r.firstSeq()) || num(r.snapshotSeq())) {  // OutOfRange only
    batch.firstSeq = num(r.firstSeq());
    batch.snapshotSeq = num(r.snapshotSeq());
  }
  return batch;
}

module.exports = {
  ID, OPS, Double, ProtocolError, identifier, statusName, encodeCommands, decodeCommandReply,
  encodeQuery, decodeQueryReply, encodeBatch, decodeBatch, encodeReplay, decodeEvent,
  decodeEventBatch,
};
