'use strict';
// cqrs Subscriber: the change feed, each event delivered once and in order, gaps filled by
// replay (docs/PROTOCOL.md, "Events" and "Replay"): subscribe first (the topics and `~hb`),
// replay from fromSeq until a replay comes back empty, then live. An event at or below the last
// seq delivered is a duplicate and dropped; one past a gap (in seq, or in collectionSeq when
// following given collections) starts a replay of the gap, which returns that event too. A
// heartbeat whose headSeq is past the last seq delivered means the newest events were lost:
// replayed at once when following every collection, at most once a second per collection
// otherwise. Events come in seq order within a collection. Memory: one replay page per
// collection; the feed waits in ZeroMQ's queue (or is dropped, which a later replay repairs).
const zmq = require('zeromq');
const codec = require('./codec');
const { socketOptions, receive, send } = require('./client');
const { StatusError, TimeoutError } = require('./errors');

const DEFAULT_EVENTS = 'tcp://127.0.0.1:7102';
const DEFAULT_REPLAY = 'tcp://127.0.0.1:7103';
const HEARTBEAT = '~hb';

class Subscriber {
  // options: events, replay (endpoints), collections (null: every one; required with security
  // on, with tenant), fromSeq (1: the whole log; null: from the first heartbeat), curve, timeout
  // (ms a replay may take), replayBatch, hwm (the SUB socket's receive high-water mark).
  constructor(options = {}) {
    if (options.tenant && !options.collections) {
      throw new Error('with security on (tenant set), name the collections to follow');
    }
    this.eventsEndpoint = options.events || DEFAULT_EVENTS;
    this.replayEndpoint = options.replay || DEFAULT_REPLAY;
    this.curve = options.curve || null;
    this.timeout = options.timeout || 10000;
    this.replayBatch = options.replayBatch || 1000;
    this.replays = 0;
    this.filtered = Boolean(options.collections);
    const subOptions = socketOptions(this.curve);
    delete subOptions.sendTimeout; // a SUB socket sends nothing
    if (options.hwm !== undefined) subOptions.receiveHighWaterMark = options.hwm;
    this.sub = new zmq.Subscriber(subOptions);
    const prefix = options.tenant ? `${options.tenant}/` : '';
    for (const topic of this.filtered ? options.collections.map((c) => `${prefix}${c}/`) : ['']) {
      this.sub.subscribe(topic);
    }
    this.sub.subscribe(HEARTBEAT);
    this.sub.connect(this.eventsEndpoint);
    this.replay = null;
    const fromSeq = options.fromSeq === undefined ? 1 : options.fromSeq;
    this.live = fromSeq === null; // start at the first heartbeat's headSeq
    this.scopes = new Map();
    for (const name of this.filtered ? options.collections : [null]) {
      this.scopes.set(name, { name, lastSeq: Math.max(fromSeq || 1, 1) - 1, lastCollectionSeq: null,
        page: [], caughtUp: this.live, checked: 0 });
    }
  }

  close() {
    this.sub.close();
    if (this.replay) this.replay.close();
    this.replay = null;
  }

  async * [Symbol.asyncIterator]() {
    for (;;) {
      const e = await this.next(null);
      if (e) yield e;
    }
  }

  // The next event, or null if none came within ms (null: wait for ever).
  async next(ms = 1000) {
    const deadline = ms === null ? null : Date.now() + ms;
    if (this.live) {
      const head = await this.firstHeartbeat();
      for (const s of this.scopes.values()) s.lastSeq = head;
      this.live = false;
    }
    for (;;) {
      const replayed = await this.fromReplay();
      if (replayed) return replayed;
      const remaining = deadline === null ? 100 : Math.min(100, deadline - Date.now());
      if (remaining <= 0) return null;
      const [topic, body] = await this.receiveFeed(remaining);
      if (!topic) continue;
      if (topic === HEARTBEAT) {
        this.heartbeat(codec.decodeEventBatch(body).headSeq);
        continue;
      }
      const e = codec.decodeEvent(body);
      const scope = this.scopes.get(this.filtered ? e.collection : null);
      if (!scope || e.seq <= scope.lastSeq) continue; // not followed, or a duplicate
      if (this.follows(scope, e)) return this.deliver(scope, e);
      scope.caughtUp = false; // a gap: replay it (the replay holds this event too)
    }
  }

  async receiveFeed(ms) {
    this.sub.receiveTimeout = Math.max(1, Math.ceil(ms));
    try {
      const [topic, body] = await this.sub.receive();
      return [topic.toString('latin1'), body];
    } catch (err) {
      if (err.code === 'EAGAIN') return [null, null];
      throw err;
    }
  }

  follows(scope, e) {
    if (this.filtered) {
      return scope.lastCollectionSeq !== null && e.collectionSeq === scope.lastCollectionSeq + 1;
    }
    return e.seq === scope.lastSeq + 1;
  }

  deliver(scope, e) {
    scope.lastSeq = e.seq;
    scope.lastCollectionSeq = e.collectionSeq;
    return e;
  }

  heartbeat(headSeq) {
    const now = Date.now();
    for (const s of this.scopes.values()) {
      if (s.lastSeq >= headSeq || !s.caughtUp) continue;
      if (!this.filtered) {
        s.caughtUp = false; // every event up to headSeq came before the heartbeat: lost
      } else if (now - s.checked >= 1000) {
        s.checked = now;
        s.caughtUp = false;
      }
    }
  }

  async fromReplay() {
    for (const s of this.scopes.values()) {
      if (s.page.length === 0 && !s.caughtUp) {
        const events = await this.replayPage(s);
        s.page = events.filter((e) => e.seq > s.lastSeq);
        if (events.length === 0) s.caughtUp = true;
      }
    }
    let best = null;
    for (const s of this.scopes.values()) {
      if (s.page.length && (!best || s.page[0].seq < best.page[0].seq)) best = s;
    }
    return best ? this.deliver(best, best.page.shift()) : null;
  }

  async replayPage(scope) {
    const frame = codec.encodeReplay(scope.lastSeq + 1, this.replayBatch, scope.name || '');
    const deadline = Date.now() + this.timeout;
    while (Date.now() < deadline) {
      if (!this.replay) {
        this.replay = new zmq.Dealer(socketOptions(this.curve));
        this.replay.connect(this.replayEndpoint);
      }
      this.replays++;
      const reply = (await send(this.replay, frame))
        ? await receive(this.replay, Math.min(1000, deadline - Date.now())) : null;
      if (reply) {
        const batch = codec.decodeEventBatch(reply);
        if (batch.status !== 'Ok') throw new StatusError(batch);
        return batch.events;
      }
      this.replay.close(); // no answer: ask again over a fresh connection
      this.replay = null;
    }
    throw new TimeoutError(`no answer from the replay endpoint ${this.replayEndpoint} within ` +
      `${this.timeout} ms`);
  }

  async firstHeartbeat() {
    const deadline = Date.now() + this.timeout;
    while (Date.now() < deadline) {
      const [topic, body] = await this.receiveFeed(100);
      if (topic === HEARTBEAT) return codec.decodeEventBatch(body).headSeq;
    }
    throw new TimeoutError(`no heartbeat from ${this.eventsEndpoint} within ${this.timeout} ms`);
  }
}

module.exports = { Subscriber, DEFAULT_EVENTS, DEFAULT_REPLAY };
