// EventSource: where the projector's applier loop reads committed events from. On the
// pipeline's host that is the event log itself (LogEventSource, through short read snapshots);
// a read replica on another host will read a NATS JetStream stream of the same events instead.
// The loop verifies each event and applies it exactly once (the read store's checkpoint), so a
// source only has to hand out the events after a seq, in seq order, none missing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>
#include <zmq.hpp>

#include "base/config.h"
#include "base/status.h"
#include "store/lmdb.h"
#include "store/write_store.h"
#include "wire/aligned_buffer.h"

namespace cqrs::projector {

class EventSource {
 public:
  virtual ~EventSource() = default;
  // Copies the events with seqs after `after_seq`, in seq order, into out[0..n) (reusing its
  // buffers; aligned, not yet verified): at most `max_events`, and no more once `max_bytes` are
  // reached. Returns n, 0 when there is none yet. An error stops the projector (a corrupt or
  // unreachable source).
  virtual Result<std::size_t> Read(std::uint64_t after_seq, std::size_t max_events,
                                   std::size_t max_bytes,
                                   std::vector<wire::AlignedBuffer>* out) = 0;
};

// The local event log (<data>/write/log), read through one snapshot per Read: renewed, not
// reopened, so its reader slot is taken once.
class LogEventSource final : public EventSource {
 public:
  explicit LogEventSource(store::WriteStore& log) : log_(log) {}
  Result<std::size_t> Read(std::uint64_t after_seq, std::size_t max_events, std::size_t max_bytes,
                           std::vector<wire::AlignedBuffer>* out) override;

 private:
  store::WriteStore& log_;
  store::Txn snapshot_;
};

// The local event log as a process beside the writer follows it (cqrs-mirror, cqrs-pgsink): the
// write store opened read-only, its events read through a LogEventSource, and the writer's commit
// tick to wait on once everything committed is read.
class LocalLogTail {
 public:
  // Unavailable while the write store is missing (store::OpenWhenCreated waits for it).
  static Result<std::unique_ptr<LocalLogTail>> Open(const Config& config, zmq::context_t& context);
  store::WriteStore& store() { return *store_; }
  LogEventSource& source() { return *source_; }
  // Waits up to `most` for the writer's next commit; returns at once if one came meanwhile.
  void WaitForCommit(std::chrono::milliseconds most);

 private:
  explicit LocalLogTail(zmq::context_t& context) : tick_sub_(context, zmq::socket_type::sub) {}
  std::unique_ptr<store::WriteStore> store_;
  std::unique_ptr<LogEventSource> source_;
  zmq::socket_t tick_sub_;
  zmq::message_t tick_;
};

}  // namespace cqrs::projector
