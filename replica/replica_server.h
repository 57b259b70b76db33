// ReplicaServer: the loop of cqrs-replica, on a host that serves reads for a pipeline running
// elsewhere. It consumes the event log's NATS JetStream stream (an ordered consumer) and appends
// its events to a local copy of the log (<data>/write/log, marked as a copy of the primary's
// store id), each batch in one transaction with its checkpoint (the copy's last seq and the
// stream message that held it). On that host the usual cqrs-projector and cqrs-readers then run
// unchanged against the copy: the same applier, read models, hot cache, replay and rebuild as on
// the primary. The replica stands in for the writer there: it ticks the projector on the writer's
// tick endpoint after each commit.
//
// Exactly once: events at or below the copy's last seq are skipped, and the next one must follow
// it (a gap is an error). The checkpoint's stream message is where consumption resumes; a stream
// renumbered since (deleted and refilled by the mirror) shows as a gap, and consumption then
// starts over from the stream's first message, skipping what the copy has.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/config.h"
#include "base/status.h"
#include "mirror/nats_link.h"
#include "shm/control_block.h"
#include "store/write_store.h"
#include "wire/aligned_buffer.h"

namespace cqrs::replica {

class ReplicaServer {
 public:
  // Opens the copy if there is one (else it is made from the first message), the control block,
  // and binds the tick endpoint. NATS is reached in Run (and again after every loss).
  static Result<std::unique_ptr<ReplicaServer>> Open(const Config& config, zmq::context_t& context);

  // Copies until `stop`. Returns an error that retrying cannot mend (the stream carries another
  // store's log, or misses events the copy needs, or a corrupt segment).
  Status Run(const std::atomic<bool>& stop);

  std::uint64_t copied_seq() const { return copied_seq_; }
  std::uint64_t stream_seq() const { return stream_seq_; }

 private:
  ReplicaServer(const Config& config, zmq::context_t& context);
  Status Init();
  // Opens (create: makes) the copy of write store `store_id`.
  Status OpenCopy(bool create, const std::string& store_id);
  // Connects and subscribes when needed. Unavailable while NATS cannot be reached.
  Status Sync();
  // Waits up to `wait_ms` for stream messages, then copies those that have arrived (a bounded
  // batch) in one transaction. Returns the number of events appended.
  Result<std::uint64_t> CopyNext(std::int64_t wait_ms);
  // Appends the events of messages_ after the copy's last seq, with the checkpoint. Sets *gap
  // (and appends nothing) when a message starts past the copy's next seq.
  Status Append(bool* gap, std::uint64_t* appended);
  void PublishTick();
  void Beat();

  Config config_;
  zmq::socket_t tick_pub_;
  std::unique_ptr<store::WriteStore> copy_;
  std::optional<shm::ControlBlock> control_;
  std::unique_ptr<mirror::NatsLink> link_;
  bool subscribed_ = false;
  std::uint64_t subscribed_from_ = 0;          // the stream seq the subscription started at
  std::uint64_t copied_seq_ = 0;               // the copy's last event seq
  std::uint64_t stream_seq_ = 0;               // the stream message that held it
  std::vector<mirror::NatsMsgPtr> messages_;   // the batch being copied
  std::vector<wire::AlignedBuffer> segments_;  // their bodies, aligned
  Retry retry_;
};

}  // namespace cqrs::replica
