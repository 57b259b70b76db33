'use strict';
// The Node.js client of cqrs (docs/PROTOCOL.md): Client writes and reads, Subscriber follows the
// change feed, curveKeysFromFiles reads `cqrs keygen`'s files; codec builds and reads frames.
const fs = require('fs');
const { Client, command, DEFAULT_WRITER, DEFAULT_READERS } = require('./client');
const { Subscriber, DEFAULT_EVENTS, DEFAULT_REPLAY } = require('./subscriber');
const errors = require('./errors');
const codec = require('./codec');

function keyOf(path, name) {
  const m = fs.readFileSync(path, 'utf8').match(new RegExp(`^${name}\\s*=\\s*"(.{40})"`, 'm'));
  if (!m) throw new Error(`${path} holds no ${name}`);
  return m[1];
}

// {serverPublic, public, secret} from the servers' NAME.pub and this client's NAME.key.
function curveKeysFromFiles(serverKeyFile, keyFile) {
  return { serverPublic: keyOf(serverKeyFile, 'public_key'), public: keyOf(keyFile, 'public_key'),
    secret: keyOf(keyFile, 'secret_key') };
}

module.exports = {
  Client, Subscriber, curveKeysFromFiles, codec, Double: codec.Double, ...errors,
  create: (c, k, f, v) => command('Create', c, k, f, v),
  update: (c, k, f, v) => command('Update', c, k, f, v),
  upsert: (c, k, f, v) => command('Upsert', c, k, f, v),
  delete: (c, k, v) => command('Delete', c, k, {}, v),
  version: require('../package.json').version,
  DEFAULT_WRITER, DEFAULT_READERS, DEFAULT_EVENTS, DEFAULT_REPLAY,
};
