'use strict';
// What a call rejects with: a refusal is a StatusError whose `name` is its status ('NotFound',
// 'VersionConflict', ...), no answer in time a TimeoutError, for a write an IndeterminateError
// (it may or may not have been applied; it was resent with its ids, so at most once).

class CqrsError extends Error {}

class TimeoutError extends CqrsError {
  constructor(message) { super(message); this.name = 'Timeout'; }
}

class IndeterminateError extends TimeoutError {
  constructor(message) { super(message); this.name = 'Indeterminate'; }
}

class StatusError extends CqrsError {
  constructor(reply) {
    super(`${reply.status}: ${reply.message}`);
    this.name = reply.status;
    this.status = reply.status;
    this.serverMessage = reply.message;
    this.failedIndex = reply.failedIndex === undefined ? -1 : reply.failedIndex;
    this.seq = reply.seq || 0;
    this.expectedRequestId = reply.expectedRequestId || 0;
    this.firstSeq = reply.firstSeq || 0;  // OutOfRange: where the log starts
    this.snapshotSeq = reply.snapshotSeq || 0;  // and the state checkpoint to start from
  }
}

module.exports = { CqrsError, TimeoutError, IndeterminateError, StatusError };
