'use strict';
// cqrs Client: writes to the writer and reads from the readers over ZeroMQ DEALER sockets, as
// docs/PROTOCOL.md says, with promises.
//
// - Calls on one Client run one at a time, in the order they were made (each waits for the one
//   before); use several Clients for concurrency.
// - Every write carries this client's clientId and the next requestId. No reply within
//   attemptTimeout: the same bytes again over a fresh socket, until timeout; then an
//   IndeterminateError, and the client continues under a new clientId.
// - ResourceExhausted and Unavailable are retried with the same id after a backoff (5 ms doubling
//   to 1 s) until timeout.
// - Reads carry minSeq = the highest seq this client has seen, so it reads its own writes and
//   never goes back in time; {minSeq: 0} reads what is applied.
const crypto = require('crypto');
const zmq = require('zeromq');
const codec = require('./codec');
const { IndeterminateError, StatusError, TimeoutError } = require('./errors');

const DEFAULT_WRITER = 'tcp://127.0.0.1:7101';
const DEFAULT_READERS = ['tcp://127.0.0.1:7110'];
const RETRYABLE = new Set(['ResourceExhausted', 'Unavailable']);
const BATCH_MAX_QUERIES = 256;
const BATCH_MAX_BYTES = 256 << 10;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const newClientId = () => `js-${crypto.randomBytes(16).toString('hex')}`;

function socketOptions(curve) {
  const options = { linger: 0, sendTimeout: 1000 };
  if (curve) {
    options.curveServerKey = curve.serverPublic;
    options.curvePublicKey = curve.public;
    options.curveSecretKey = curve.secret;
  }
  return options;
}

// The next message on sock, or null after ms.
async function receive(sock, ms) {
  if (ms <= 0) return null;
  sock.receiveTimeout = Math.max(1, Math.ceil(ms));
  try {
    const frames = await sock.receive();
    return frames[frames.length - 1];
  } catch (err) {
    if (err.code === 'EAGAIN') return null;
    throw err;
  }
}

async function send(sock, frame) {
  try {
    await sock.send(frame);
    return true;
  } catch (err) {
    if (err.code === 'EAGAIN') return false;
    throw err;
  }
}

function command(op, collection, key, fields = {}, expectedVersion = 0) {
  return { op, collection, key, fields, expectedVersion };
}

class Client {
  // options: writer, readers, curve ({serverPublic, public, secret}: Z85 strings), clientId,
  // timeout (ms a call may take in all), attemptTimeout (ms before a write is resent), wait (ms a
  // read waits for its minSeq).
  constructor(options = {}) {
    this.writerEndpoint = options.writer || DEFAULT_WRITER;
    this.readerEndpoints = [].concat(options.readers || DEFAULT_READERS);
    this.curve = options.curve || null;
    this.clientId = options.clientId || newClientId();
    this.timeout = options.timeout || 10000;
    this.attemptTimeout = options.attemptTimeout || 1000;
    this.wait = options.wait || 1000;
    this.lastSeq = 0;
    this.nextRequestId = 1;
    this.nextQueryId = 1;
    this.writer = null;
    this.reader = null;
    this.queue = Promise.resolve();
  }

  close() {
    this.drop('writer');
    this.drop('reader');
  }

  drop(name) {
    if (this[name]) {
      this[name].close();
      this[name] = null;
    }
  }

  socket(name, endpoints) {
    if (!this[name]) {
      const s = new zmq.Dealer(socketOptions(this.curve));
      for (const e of endpoints) s.connect(e);
      this[name] = s;
    }
    return this[name];
  }

  // Runs fn after every call made before it has settled.
  serial(fn) {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  put(collection, key, fields, expectedVersion = 0) {
    return this.execute([command('Upsert', collection, key, fields, expectedVersion)]);
  }

  create(collection, key, fields, expectedVersion = 0) {
    return this.execute([command('Create', collection, key, fields, expectedVersion)]);
  }

  update(collection, key, fields, expectedVersion = 0) {
    return this.execute([command('Update', collection, key, fields, expectedVersion)]);
  }

  delete(collection, key, expectedVersion = 0) {
    return this.execute([command('Delete', collection, key, {}, expectedVersion)]);
  }

  // Applies the commands atomically: resolves {seq, versions}; a refusal rejects with a
  // StatusError whose failedIndex names the failing command.
  execute(commands) {
    return this.serial(async () => {
      const requestId = this.nextRequestId;
      const frame = codec.encodeCommands(commands, this.clientId, requestId);
      const reply = await this.write(frame, requestId);
      const definite = !RETRYABLE.has(reply.status) && reply.status !== 'OutOfOrder' &&
        reply.status !== 'Unauthenticated';
      if (definite && reply.requestId === requestId) this.nextRequestId++;
      if (reply.status !== 'Ok') throw new StatusError(reply);
      this.lastSeq = Math.max(this.lastSeq, reply.seq);
      return { seq: reply.seq, versions: reply.versions };
    });
  }

  async write(frame, requestId) {
    const reply = await this.call('writer', [this.writerEndpoint], frame, requestId,
      codec.decodeCommandReply, this.attemptTimeout);
    if (reply === null) {
      // Maybe applied, maybe not: the next request of this clientId could be refused
      // OutOfOrder for ever, so the client starts a new one.
      this.clientId = newClientId();
      this.nextRequestId = 1;
      throw new IndeterminateError(`no reply from the writer ${this.writerEndpoint} to request ` +
        `${requestId} within ${this.timeout} ms`);
    }
    return reply;
  }

  // Sends `frame` on the writer's or the readers' socket (`name`) until a reply to `requestId`
  // (or 0) that is not a retryable refusal: the same bytes again over a fresh socket after
  // `attemptMs` without one, after a backoff (5 ms doubling to 1 s) once refused
  // ResourceExhausted or Unavailable. null once `timeout` has passed.
  async call(name, endpoints, frame, requestId, decode, attemptMs) {
    const deadline = Date.now() + this.timeout;
    let backoff = 5;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return null;
      const sock = this.socket(name, endpoints);
      const reply = (await send(sock, frame)) ? await this.await(sock, Math.min(attemptMs,
        remaining), decode, (id) => id === requestId || id === 0) : null;
      if (reply === null) {
        this.drop(name); // resend the same bytes over a fresh connection
        continue;
      }
      if (RETRYABLE.has(reply.status) && Date.now() + backoff < deadline) {
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 1000);
        continue;
      }
      return reply;
    }
  }

  // The first reply that `wanted(requestId)`, or null after ms (replies to earlier attempts are
  // dropped).
  async await(sock, ms, decode, wanted) {
    const deadline = Date.now() + ms;
    for (;;) {
      const frame = await receive(sock, deadline - Date.now());
      if (frame === null) return null;
      const reply = decode(frame);
      if (wanted(reply.requestId)) return reply;
    }
  }

  bounds(options) {
    const minSeq = options.minSeq === undefined ? this.lastSeq : options.minSeq;
    const wait = options.wait === undefined ? this.wait : options.wait;
    return [minSeq, Math.max(1, Math.round(wait))];
  }

  query(kind, params, options = {}, allow = []) {
    return this.serial(async () => {
      const [minSeq, timeoutMs] = this.bounds(options);
      const requestId = this.nextQueryId++;
      const frame = codec.encodeQuery(requestId, kind, params, minSeq, timeoutMs);
      const reply = await this.call('reader', this.readerEndpoints, frame, requestId,
        codec.decodeQueryReply, timeoutMs + this.attemptTimeout);
      if (reply === null) {
        throw new TimeoutError(`no answer from the readers ${this.readerEndpoints.join(', ')} ` +
          `within ${this.timeout} ms`);
      }
      if (reply.status === 'Ok') this.lastSeq = Math.max(this.lastSeq, reply.seq);
      else if (!allow.includes(reply.status)) throw new StatusError(reply);
      return reply;
    });
  }

  // The entity {collection, key, version, seq, fields}, or null if absent.
  async get(collection, key, options = {}) {
    const r = await this.query('get', { collection, key }, options, ['NotFound']);
    return r.status === 'Ok' ? r.entities[0] : null;
  }

  // One page {entities, next, seq} in key order.
  async scan(collection, options = {}) {
    const r = await this.query('scan', { collection, ...options }, options);
    return { entities: r.entities, next: r.next, seq: r.seq };
  }

  // Every entity of a scan, page after page.
  async * scanAll(collection, options = {}) {
    let after = options.after;
    for (;;) {
      const page = await this.scan(collection, { ...options, after });
      yield* page.entities;
      if (!page.next) return;
      after = page.next;
    }
  }

  // One page by a declared index: {eq} or {lo, hi}.
  async find(collection, field, options = {}) {
    const r = await this.query('find', { collection, field, ...options }, options);
    return { entities: r.entities, next: r.next, seq: r.seq };
  }

  // The groups [{key, count, sum}] of a declared aggregate.
  async aggregate(collection, name, options = {}) {
    const r = await this.query('aggregate', { collection, name }, options);
    return r.groups;
  }

  // Many gets in QueryBatch frames of up to 256: an array in the keys' order, entity or null.
  async getMany(collection, keys, options = {}) {
    const out = [];
    let chunk = [];
    let size = 0;
    for (const key of keys) {
      chunk.push(key);
      size += key.length + collection.length + 96;
      if (chunk.length === BATCH_MAX_QUERIES || size >= BATCH_MAX_BYTES) {
        out.push(...await this.serial(() => this.getBatch(collection, chunk, options)));
        chunk = [];
        size = 0;
      }
    }
    if (chunk.length) out.push(...await this.serial(() => this.getBatch(collection, chunk, options)));
    return out;
  }

  async getBatch(collection, keys, options) {
    const [minSeq, timeoutMs] = this.bounds(options);
    const first = this.nextQueryId;
    this.nextQueryId += keys.length;
    const frames = keys.map((key, i) =>
      codec.encodeQuery(first + i, 'get', { collection, key }, minSeq, timeoutMs));
    const replies = new Map();
    const deadline = Date.now() + this.timeout;
    while (replies.size < keys.length) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new TimeoutError(`no answer from the readers to ${keys.length - replies.size} of ` +
          `${keys.length} gets within ${this.timeout} ms`);
      }
      const sock = this.socket('reader', this.readerEndpoints);
      // Resend only what is unanswered (queries are idempotent).
      const batch = codec.encodeBatch('queries', frames.filter((_, i) => !replies.has(first + i)));
      if (await send(sock, batch)) {
        const attemptEnd = Date.now() + Math.min(remaining, timeoutMs + this.attemptTimeout);
        while (replies.size < keys.length) {
          const frame = await receive(sock, attemptEnd - Date.now());
          if (frame === null) break;
          const got = codec.identifier(frame) === codec.ID.queryBatchReply
            ? codec.decodeBatch('queryReplies', frame).map((f) => codec.decodeQueryReply(f))
            : [codec.decodeQueryReply(frame)];
          for (const r of got) {
            if (r.requestId === 0) throw new StatusError(r); // the batch itself was refused
            if (r.requestId >= first && r.requestId < first + keys.length) replies.set(r.requestId, r);
          }
        }
      }
      if (replies.size < keys.length) this.drop('reader');
    }
    return keys.map((_, i) => {
      const r = replies.get(first + i);
      if (r.status === 'Ok') {
        this.lastSeq = Math.max(this.lastSeq, r.seq);
        return r.entities[0];
      }
      if (r.status === 'NotFound') return null;
      throw new StatusError(r);
    });
  }
}

module.exports = { Client, command, socketOptions, receive, send, DEFAULT_WRITER, DEFAULT_READERS };
