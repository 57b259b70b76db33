// MirrorServer: the loop of cqrs-mirror. It reads the event log like the projector (through
// short read snapshots) and publishes it, in segments of many events, to a NATS JetStream
// stream that read replicas on other hosts consume. It keeps no checkpoint of its own: at start
// and after any doubt (a refused or unacknowledged publish, a reconnect) it reads the stream's
// last segment and publishes from the event after it, each publish expecting that tip, so the
// stream holds every event once, in order, with no gap and no overlap.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <vector>
#include <zmq.hpp>

#include "base/config.h"
#include "base/status.h"
#include "mirror/nats_link.h"
#include "projector/event_source.h"
#include "shm/control_block.h"
#include "store/log_holds.h"
#include "store/write_store.h"
#include "wire/log_segment.h"

namespace cqrs::mirror {

class MirrorServer {
 public:
  // Opens the write store (read-only) and the control block, and connects to the writer's tick.
  // NATS is reached in Run (and again after every loss). Unavailable if the store is missing.
  static Result<std::unique_ptr<MirrorServer>> Open(const Config& config, zmq::context_t& context);

  // Publishes until `stop`. Returns an error it cannot recover from by retrying (the stream
  // belongs to another store or runs ahead of the log, a corrupt event): the supervisor logs it
  // and restarts us.
  Status Run(const std::atomic<bool>& stop);

  std::uint64_t published_seq() const { return tip_.last_seq; }

 private:
  MirrorServer(const Config& config, zmq::context_t& context);
  Status Init();
  // Connects when there is no link, then reads the tip when it is not known. Unavailable while
  // NATS cannot be reached; any other error is final.
  Status Sync();
  // Reads the events after the tip and publishes them as one segment. Returns how many were
  // published (0: none committed yet, or a publish to retry after Sync).
  Result<std::size_t> PublishNext();
  void Beat();

  Config config_;
  zmq::context_t& context_;
  std::unique_ptr<projector::LocalLogTail> log_;
  std::optional<shm::ControlBlock> control_;
  store::LogHold hold_;  // "mirror": the log keeps what the stream does not hold yet
  std::unique_ptr<NatsLink> link_;
  bool tip_known_ = false;
  StreamTip tip_;
  store::Txn snapshot_;          // of the log, to read its last seq
  std::size_t max_segment_ = 0;  // bytes: the config's, within the servers' max_payload
  std::vector<wire::AlignedBuffer> events_;
  wire::LogSegmentBuilder segment_;
  Retry retry_;
};

}  // namespace cqrs::mirror
