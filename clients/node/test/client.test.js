'use strict';
// The Node.js client against a real pipeline: `cqrs up` on ipc endpoints in a temp dir (2
// readers, an indexed and aggregated collection, a small PUB high-water mark so that a slow
// subscriber loses events). CQRS_BIN names the cqrs binary. Run: npm test.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const cqrs = require('..');

const CQRS = process.env.CQRS_BIN;
let tmp;
let ep;
let config;
let data;
let up;

function newClient(options = {}) {
  return new cqrs.Client({ writer: ep.writer, readers: [ep.reader0, ep.reader1], ...options });
}

function pidOf(role) {
  const out = execFileSync(CQRS, ['stats', '--json', '--interval', '0.05', '--config', config,
    '--data', data], { encoding: 'utf8' });
  const p = JSON.parse(out.split('\n')[0]).processes.find((x) => x.role === role);
  assert.ok(p, `no ${role} in cqrs stats`);
  return p.pid;
}

// Runs fn with a pipeline process stopped (SIGSTOP), and continues it after.
async function whileStopped(role, fn) {
  const pid = pidOf(role);
  process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

async function rejects(promise, status) {
  try {
    await promise;
  } catch (err) {
    assert.equal(err.name, status, `${err}`);
    return err;
  }
  assert.fail(`expected ${status}`);
}

// Endpoints on ipc sockets in dir, and a config for them with `extra` appended and `writer`
// lines in [writer] (the projector queues at most 50 events per subscriber: a slow one loses
// events).
function pipelineConfig(dir, readers, extra, writer = '') {
  const e = {};
  for (const name of ['writer', 'events', 'replay', ...readers]) e[name] = `ipc://${path.join(dir, `${name}.sock`)}`;
  const file = path.join(dir, 'cqrs.toml');
  fs.writeFileSync(file, `log_level = "warn"
[writer]
endpoint = "${e.writer}"
durability = "nosync"
${writer}
[projector]
events_endpoint = "${e.events}"
replay_endpoint = "${e.replay}"
events_sndhwm = 50
[reader]
endpoints = [${readers.map((r) => `"${e[r]}"`).join(', ')}]
${extra}`);
  return [e, file];
}

// `cqrs up` on a config, logging to dir/up.log.
function startUp(dir, file) {
  const log = fs.openSync(path.join(dir, 'up.log'), 'w');
  return spawn(CQRS, ['up', '--quiet', '--config', file, '--data', path.join(dir, 'data')],
    { stdio: ['ignore', log, log] });
}

before(async () => {
  assert.ok(CQRS, 'set CQRS_BIN to the cqrs binary');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cqrs-node-'));
  [ep, config] = pipelineConfig(tmp, ['reader0', 'reader1'], `[cache]
slots = 1024
[[collections]]
name = "orders"
indexes = ["status", "amount"]
aggregates = [{ name = "by_customer", group_by = "customer", sum = "amount" }]
`);
  data = path.join(tmp, 'data');
  up = startUp(tmp, config);
  const c = newClient({ timeout: 30000 });
  await c.put('warmup', 'w', {}); // resent until the writer serves
  await c.get('warmup', 'w'); // and until a reader has applied it
  c.close();
});

after(async () => {
  if (up) {
    const exited = new Promise((resolve) => up.once('exit', resolve));
    up.kill('SIGTERM');
    const timer = setTimeout(() => up.kill('SIGKILL'), 30000);
    const code = await exited;
    clearTimeout(timer);
    if (code !== 0) console.log(fs.readFileSync(path.join(tmp, 'up.log'), 'utf8'));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('each op, its refusals, and the values of every kind', async () => {
  const c = newClient();
  const w = await c.create('orders', 'w1', { status: 'new', amount: 12.5, n: 3, big: 2n ** 60n,
    blob: Buffer.from([0, 255]), paid: false, whole: new cqrs.Double(2) });
  assert.deepEqual(w.versions, [1]);
  const e = await c.get('orders', 'w1');
  assert.equal(e.seq, w.seq);
  assert.deepEqual(e.fields, { status: 'new', amount: 12.5, n: 3, big: 2n ** 60n,
    blob: Buffer.from([0, 255]), paid: false, whole: 2 });
  assert.deepEqual((await c.update('orders', 'w1', { status: 'paid', n: null }, 1)).versions, [2]);
  assert.equal('n' in (await c.get('orders', 'w1')).fields, false);
  const exists = await rejects(c.create('orders', 'w1', {}), 'AlreadyExists');
  assert.equal(exists.failedIndex, 0);
  await rejects(c.update('orders', 'w1', { n: 1 }, 7), 'VersionConflict');
  const missing = await rejects(c.update('orders', 'nobody', { n: 1 }), 'NotFound');
  assert.match(missing.serverMessage, /nobody/);
  assert.deepEqual((await c.delete('orders', 'w1')).versions, [0]);
  assert.equal(await c.get('orders', 'w1'), null);
  assert.deepEqual((await c.put('orders', 'w1', { n: 1 })).versions, [4]); // the tombstone was v3
  const bad = await rejects(c.put('Bad Name', 'k', {}), 'InvalidArgument');
  assert.match(bad.serverMessage, /collection/);
  await assert.rejects(c.put('orders', 'k', { n: [1] }), TypeError);
  await rejects(c.scan('orders', { limit: 5000 }), 'InvalidArgument');
  c.close();
});

test('a request is atomic, and concurrent calls on one client run in order', async () => {
  const c = newClient();
  await c.put('orders', 'a1', {});
  const refused = await rejects(c.execute([cqrs.create('orders', 'a2', { n: 1 }),
    cqrs.create('orders', 'a1', {})]), 'AlreadyExists');
  assert.equal(refused.failedIndex, 1);
  assert.equal(await c.get('orders', 'a2'), null);
  const all = await Promise.all(Array.from({ length: 20 }, (_, i) => c.put('orders', 'a3', { i })));
  assert.deepEqual(all.map((w) => w.versions[0]), Array.from({ length: 20 }, (_, i) => i + 1));
  c.close();
});

function writerAnswered() {
  const out = execFileSync(CQRS, ['stats', '--json', '--interval', '0.05', '--config', config,
    '--data', data], { encoding: 'utf8' });
  return JSON.parse(out.split('\n')[0]).processes.find((x) => x.role === 'writer').total;
}

test('a write resent while the writer is stopped is applied once', async () => {
  // The client resends the same request (same ids) every 200 ms over a fresh socket; the
  // writer, running again, gets several copies: it answers each, and applies one.
  const c = newClient({ timeout: 20000, attemptTimeout: 200 });
  await c.put('orders', 'once', {}); // v1
  const answeredBefore = writerAnswered();
  const pending = await whileStopped('writer', async () => {
    const p = c.put('orders', 'once', { n: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return { p }; // not awaited here: the writer runs again first
  });
  const w = await pending.p;
  await new Promise((resolve) => setTimeout(resolve, 300)); // the last copies in flight
  assert.deepEqual(w.versions, [2]);
  assert.equal((await c.get('orders', 'once')).version, 2); // each further apply would add one
  const copies = writerAnswered() - answeredBefore;
  console.log(`# copies of the request the writer answered: ${copies}`);
  assert.ok(copies >= 2, `the writer answered ${copies} copies`);
  c.close();
});

test('no answer is indeterminate, and the client goes on under a new client id', async () => {
  const c = newClient({ timeout: 500, attemptTimeout: 200 });
  await c.put('orders', 'i1', {});
  const first = c.clientId;
  await whileStopped('writer', () => rejects(c.put('orders', 'i1', { n: 1 }), 'Indeterminate'));
  assert.notEqual(c.clientId, first);
  c.timeout = 20000;
  assert.deepEqual((await c.put('orders', 'i2', {})).versions, [1]);
  c.close();
});

test('reads its own writes; minSeq 0 reads what is applied', async () => {
  const c = newClient();
  await c.put('orders', 'own', { n: 1 });
  assert.deepEqual((await c.get('orders', 'own')).fields, { n: 1 });
  const w2 = await whileStopped('projector', async () => {
    const w = await c.put('orders', 'own', { n: 2 });
    await rejects(c.get('orders', 'own', { wait: 200 }), 'DeadlineExceeded');
    assert.deepEqual((await c.get('orders', 'own', { minSeq: 0 })).fields, { n: 1 });
    return w;
  });
  const e = await c.get('orders', 'own', { wait: 10000 });
  assert.deepEqual([e.fields, e.seq], [{ n: 2 }, w2.seq]);
  c.close();
});

test('scan, find, aggregate and getMany', async () => {
  const c = newClient({ wait: 10000 });
  for (let i = 0; i < 250; i++) {
    await c.put('orders', `r${String(i).padStart(3, '0')}`, { status: ['open', 'paid', 'void'][i % 3],
      amount: new cqrs.Double(i), customer: `c${i % 4}` });
  }
  const keys = [];
  for await (const e of c.scanAll('orders', { prefix: 'r', limit: 100 })) keys.push(e.key);
  const want = Array.from({ length: 250 }, (_, i) => `r${String(i).padStart(3, '0')}`);
  assert.deepEqual(keys, want);
  const page = await c.scan('orders', { start: 'r010', end: 'r013' });
  assert.deepEqual(page.entities.map((e) => e.key), ['r010', 'r011', 'r012']);
  assert.equal(page.next, '');
  const found = [];
  let after;
  do {
    const p = await c.find('orders', 'status', { eq: 'void', after, limit: 30 });
    found.push(...p.entities.map((e) => e.key).filter((k) => k.startsWith('r')));
    after = p.next;
  } while (after);
  assert.deepEqual(found, want.filter((_, i) => i % 3 === 2));
  const range = await c.find('orders', 'amount', { lo: 10, hi: 12 });
  assert.deepEqual(range.entities.map((e) => e.key), ['r010', 'r011', 'r012']);
  const groups = await c.aggregate('orders', 'by_customer');
  for (let k = 0; k < 4; k++) {
    const amounts = want.map((_, i) => i).filter((i) => i % 4 === k);
    const g = groups.find((x) => x.key === `c${k}`);
    assert.deepEqual([g.count, g.sum], [amounts.length, amounts.reduce((a, b) => a + b, 0)]);
  }
  const many = await c.getMany('orders', [...want, ...Array.from({ length: 300 }, (_, i) => `absent${i}`)]);
  assert.deepEqual(many.slice(0, 250).map((e) => e.key), want);
  assert.deepEqual(many.slice(250), Array(300).fill(null));
  c.close();
});

test('a subscriber from seq 1 and live gets every event once, in order', async () => {
  const c = newClient();
  await c.put('feed', 'f0', { n: 0 });
  const s = new cqrs.Subscriber({ events: ep.events, replay: ep.replay, fromSeq: 1 });
  const seen = [];
  const readUpTo = async (seq) => {
    while (!seen.length || seen[seen.length - 1].seq < seq) {
      const e = await s.next(10000);
      assert.ok(e, `no event after ${seen.length ? seen[seen.length - 1].seq : 0}`);
      seen.push(e);
    }
  };
  await readUpTo(c.lastSeq);
  for (let i = 1; i <= 100; i++) await c.put('feed', `f${i}`, { n: i });
  await readUpTo(c.lastSeq);
  s.close();
  assert.deepEqual(seen.map((e) => e.seq), Array.from({ length: c.lastSeq }, (_, i) => i + 1));
  const last = seen[seen.length - 1];
  assert.deepEqual([last.collection, last.key, last.fields, last.op], ['feed', 'f100', { n: 100 }, 'Create']);
  c.close();
});

test('a slow subscriber loses nothing: gaps are replayed', async () => {
  // The projector queues at most 50 events per subscriber and this SUB socket 10: while it
  // reads nothing, most of 3,000 events are dropped.
  const c = newClient();
  for (const collections of [null, ['slow']]) {
    const s = new cqrs.Subscriber({ events: ep.events, replay: ep.replay, collections, fromSeq: null, hwm: 10 });
    await s.next(0); // the first heartbeat: live from here
    const first = (await c.put('slow', 'k', {})).seq;
    for (let i = 0; i < 3000; i++) await c.put('slow', `k${i % 50}`, { n: i });
    const seen = [];
    while (!seen.length || seen[seen.length - 1].seq < c.lastSeq) {
      const e = await s.next(10000);
      assert.ok(e, `stuck after ${seen.length} events`);
      seen.push(e);
    }
    s.close();
    assert.deepEqual(seen.map((e) => e.seq), Array.from({ length: c.lastSeq - first + 1 }, (_, i) => first + i));
    assert.ok(s.replays > 1, `replays ${s.replays}`);
  }
  c.close();
});

test('the version is the servers\'', () => {
  const out = execFileSync(CQRS, ['--version'], { encoding: 'utf8' });
  assert.equal(out.trim().split(/\s+/).pop(), cqrs.version);
});

test('CURVE: keys from cqrs keygen, a principal reads and writes its tenant only', async () => {
  // A second pipeline, secured: a server key, and principals app (tenant js) and other.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cqrs-node-sec-'));
  const keys = path.join(dir, 'keys');
  const principals = path.join(dir, 'principals.toml');
  const run = (...args) => execFileSync(CQRS, args, { stdio: 'ignore' });
  for (const name of ['server', 'app', 'other']) run('keygen', name, '--dir', keys);
  run('principal', 'add', 'app', '--tenant', 'js', '--read', '*', '--write', '*', '--key-file',
    path.join(keys, 'app.pub'), '--file', principals);
  run('principal', 'add', 'other', '--tenant', 'elsewhere', '--read', '*', '--write', '*',
    '--key-file', path.join(keys, 'other.pub'), '--file', principals);
  const [sec, secConfig] = pipelineConfig(dir, ['reader0'], `[security]
server_key = "${path.join(keys, 'server.key')}"
principals = "${principals}"
`);
  const secUp = startUp(dir, secConfig);
  const curve = (name) => cqrs.curveKeysFromFiles(path.join(keys, 'server.pub'), path.join(keys, `${name}.key`));
  const app = new cqrs.Client({ writer: sec.writer, readers: [sec.reader0], curve: curve('app'), timeout: 30000 });
  const other = new cqrs.Client({ writer: sec.writer, readers: [sec.reader0], curve: curve('other') });
  const stranger = new cqrs.Client({ writer: sec.writer, readers: [sec.reader0], timeout: 700 });
  try {
    const w = await app.put('orders', 'k1', { n: 1 });
    assert.deepEqual((await app.get('orders', 'k1')).fields, { n: 1 });
    assert.equal(await other.get('orders', 'k1', { minSeq: w.seq }), null); // another tenant
    await rejects(stranger.put('orders', 'k1', { n: 2 }), 'Indeterminate'); // no key: no answer
    const s = new cqrs.Subscriber({ events: sec.events, replay: sec.replay, collections: ['orders'],
      tenant: 'js', curve: curve('app'), fromSeq: 1 });
    const e = await s.next(10000);
    s.close();
    assert.deepEqual([e.tenant, e.collection, e.key, e.seq], ['js', 'orders', 'k1', w.seq]);
  } finally {
    for (const c of [app, other, stranger]) c.close();
    const exited = new Promise((resolve) => secUp.once('exit', resolve));
    secUp.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('below the log\'s first seq a subscriber gets OutOfRange naming the start and the snapshot', async () => {
  // A third pipeline, keeping only the newest 100 events, a checkpoint every 200 (or second).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cqrs-node-ret-'));
  const [ret, retConfig] = pipelineConfig(dir, ['reader0'], `[log]
keep_events = 100
step_events = 50
`, 'checkpoint_interval_events = 200\ncheckpoint_interval_s = 1');
  const retUp = startUp(dir, retConfig);
  const c = new cqrs.Client({ writer: ret.writer, readers: [ret.reader0], timeout: 30000 });
  try {
    for (let i = 0; i < 1000; i++) await c.put('feed', `f${i % 20}`, { n: i });
    const status = () => JSON.parse(execFileSync(CQRS, ['log', 'status', '--json', '--config',
      retConfig, '--data', path.join(dir, 'data')], { encoding: 'utf8' }));
    const deadline = Date.now() + 30000;
    while (status().first_seq < 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok(status().first_seq >= 500, JSON.stringify(status()));
    const s = new cqrs.Subscriber({ events: ret.events, replay: ret.replay, fromSeq: 1 });
    const err = await rejects(s.next(10000), 'OutOfRange');
    s.close();
    assert.ok(err.firstSeq >= 500 && err.snapshotSeq >= err.firstSeq - 1, `${err.firstSeq} ${err.snapshotSeq}`);
    assert.match(err.serverMessage, /no longer in the event log/);
    // From a seq the log holds: the events, as ever.
    const from = new cqrs.Subscriber({ events: ret.events, replay: ret.replay, fromSeq: c.lastSeq });
    assert.equal((await from.next(10000)).seq, c.lastSeq);
    from.close();
  } finally {
    c.close();
    const exited = new Promise((resolve) => retUp.once('exit', resolve));
    retUp.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
