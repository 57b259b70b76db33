'use strict';
// The conformance vectors (conformance/vectors.jsonl; docs/PROTOCOL.md, "Conformance vectors")
// through this client's codec: every recorded reply frame decodes to its recorded JSON, and a
// fresh pipeline (conformance/cqrs.toml) answers the requests this codec encodes from each
// vector's JSON as recorded (timestamps aside). CQRS_BIN names the cqrs binary.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zmq = require('zeromq');
const { codec, Double } = require('..');

const DIR = path.join(__dirname, '..', '..', '..', 'conformance');
const VECTORS = fs.readFileSync(path.join(DIR, 'vectors.jsonl'), 'utf8').trim().split('\n').map(JSON.parse);

function untyped(t) {
  if (t === null || t === undefined) return null;
  const [[kind, v]] = Object.entries(t);
  switch (kind) {
    case 'int': return BigInt(v);
    case 'double': return new Double(v);
    case 'bytes': return Buffer.from(v, 'hex');
    default: return v; // string, bool
  }
}

function encode(request) {
  switch (request.type) {
    case 'CommandRequest':
      return codec.encodeCommands(request.commands.map((c) => ({
        op: c.op, collection: c.collection, key: c.key, expectedVersion: c.expected_version || 0,
        fields: Object.fromEntries(Object.entries(c.fields || {}).map(([n, v]) => [n, untyped(v)])),
      })), request.client_id || '', request.request_id || 0);
    case 'QueryRequest': {
      const [[kind, params]] = Object.entries(request.query);
      const p = { ...params };
      for (const b of ['eq', 'lo', 'hi']) if (b in p) p[b] = untyped(p[b]);
      return codec.encodeQuery(request.request_id || 0, kind, p, request.min_seq || 0, request.timeout_ms || 0);
    }
    case 'QueryBatch': return codec.encodeBatch('queries', request.queries.map(encode));
    case 'CommandBatch': return codec.encodeBatch('commands', request.requests.map(encode));
    case 'ReplayRequest':
      return codec.encodeReplay(request.from_seq || 0, request.max_events || 0, request.collection || '');
    case 'raw': return Buffer.from(request.hex, 'hex');
    default: throw new Error(`unknown request type ${request.type}`);
  }
}

// A reply frame as the vectors' JSON (snake_case, typed values, timestamps left out).
function replyJson(frame) {
  const id = codec.identifier(frame);
  const eventJson = (e) => ({ seq: e.seq, collection_seq: e.collectionSeq, tenant: e.tenant,
    collection: e.collection, key: e.key, op: e.op, version: e.version, fields: e.fields,
    client_id: e.clientId, request_id: e.requestId, format: e.format });
  switch (id) {
    case codec.ID.commandReply: {
      const r = codec.decodeCommandReply(frame);
      return { type: 'CommandReply', request_id: r.requestId, status: r.status, message: r.message,
        failed_index: r.failedIndex, seq: r.seq, versions: r.versions, expected_request_id: r.expectedRequestId };
    }
    case codec.ID.queryReply: {
      const r = codec.decodeQueryReply(frame, true);
      return { type: 'QueryReply', request_id: r.requestId, status: r.status, message: r.message, seq: r.seq,
        entities: r.entities, next: r.next, groups: r.groups };
    }
    case codec.ID.queryBatchReply:
      return { type: 'QueryBatchReply', replies: codec.decodeBatch('queryReplies', frame).map(replyJson) };
    case codec.ID.commandBatchReply:
      return { type: 'CommandBatchReply', replies: codec.decodeBatch('commandReplies', frame).map(replyJson) };
    case codec.ID.eventBatch: {
      const r = codec.decodeEventBatch(frame, true);
      return { type: 'EventBatch', status: r.status, message: r.message, head_seq: r.headSeq,
        events: r.events.map(eventJson) };
    }
    case codec.ID.event: return { type: 'Event', ...eventJson(codec.decodeEvent(frame, true)) };
    default: throw new Error(`no reply type has identifier ${id}`);
  }
}

function withoutTimestamps(j) {
  if (Array.isArray(j)) return j.map(withoutTimestamps);
  if (j && typeof j === 'object') {
    return Object.fromEntries(Object.entries(j).filter(([k]) => k !== 'timestamp_ns')
      .map(([k, v]) => [k, withoutTimestamps(v)]));
  }
  return j;
}

test('every recorded reply decodes to its recorded JSON', () => {
  for (const v of VECTORS) {
    assert.deepEqual(replyJson(Buffer.from(v.reply_hex, 'hex')), withoutTimestamps(v.reply), `vector ${v.n} (${v.name})`);
  }
});

test('a fresh pipeline answers what this codec encodes as recorded', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cqrs-node-conformance-'));
  const ep = {};
  for (const n of ['writer', 'events', 'replay', 'reader']) ep[n] = `ipc://${path.join(tmp, `${n}.sock`)}`;
  const config = fs.readFileSync(path.join(DIR, 'cqrs.toml'), 'utf8')
    .replace('[writer]\n', `[writer]\nendpoint = "${ep.writer}"\n`)
    .replace('[reader]\n', `[projector]\nevents_endpoint = "${ep.events}"\nreplay_endpoint = "${ep.replay}"\n` +
      `[reader]\nendpoints = ["${ep.reader}"]\n`);
  fs.writeFileSync(path.join(tmp, 'cqrs.toml'), config);
  const log = fs.openSync(path.join(tmp, 'up.log'), 'w');
  const up = spawn(process.env.CQRS_BIN, ['up', '--quiet', '--config', path.join(tmp, 'cqrs.toml'),
    '--data', path.join(tmp, 'data')], { stdio: ['ignore', log, log] });
  const sockets = {};
  try {
    for (const n of ['writer', 'reader', 'replay']) {
      // Until the server answers garbage (every server does; nothing changes).
      for (let attempt = 0; !sockets[n]; attempt++) {
        assert.ok(attempt < 150, `no answer from ${ep[n]}`);
        const s = new zmq.Dealer({ linger: 0 });
        s.connect(ep[n]);
        await s.send(Buffer.from('ping'));
        s.receiveTimeout = 200;
        try {
          await s.receive();
          sockets[n] = s;
        } catch (err) {
          s.close();
        }
      }
      sockets[n].receiveTimeout = 10000;
    }
    let played = 0;
    for (const v of VECTORS.filter((x) => x.endpoint)) {
      const frame = v.request.type === 'raw' && !v.request.hex ? Buffer.from(v.request_hex, 'hex') : encode(v.request);
      await sockets[v.endpoint].send(frame);
      const [reply] = await sockets[v.endpoint].receive();
      assert.deepEqual(replyJson(reply), withoutTimestamps(v.reply), `vector ${v.n} (${v.name})`);
      played++;
    }
    assert.ok(played > 50, `${played} vectors played`);
  } finally {
    for (const s of Object.values(sockets)) s.close();
    const exited = new Promise((resolve) => up.once('exit', resolve));
    up.kill('SIGTERM');
    await exited;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
