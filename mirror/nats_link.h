// NatsLink: one connection to a NATS cluster and its JetStream context (nats.c), and the
// operations on the event log's stream that cqrs-mirror and cqrs-replica need: making sure the
// stream exists and belongs to this write store, reading its tip (the last segment), publishing
// after it, and consuming the stream in order.
// Not thread-safe: one thread uses a link.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/config.h"
#include "base/retry.h"
#include "base/status.h"

namespace cqrs::mirror {

struct NatsMsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using NatsMsgPtr = std::unique_ptr<natsMsg, NatsMsgDeleter>;

// The last segment of the stream: the event seq it ends at (0: the subject holds none yet), its
// message id, and its sequence in the stream (what the next publish expects).
struct StreamTip {
  std::uint64_t last_seq = 0;
  std::uint64_t stream_seq = 0;
  std::string msg_id;
};

// The outcome of one publish.
enum class Published {
  kStored,     // the stream stored the segment after the expected tip
  kRefused,    // the tip moved or a duplicate: read the tip again, publish from it
  kUncertain,  // no acknowledgement (timeout, connection lost): read the tip again
};

class NatsLink {
 public:
  // Connects to `config.Servers()` (nats.c reconnects on its own after a loss) with the name
  // `client_name`. Unavailable naming the servers when none answers within `connect_timeout_ms`.
  static Result<std::unique_ptr<NatsLink>> Connect(const MirrorConfig& config,
                                                   std::string_view client_name,
                                                   std::uint32_t connect_timeout_ms = 2000);
  ~NatsLink();
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  // Makes sure the stream exists, creating it (file storage, config.replicas, the subject) with
  // a description naming `store_id`. Unavailable when the servers cannot be reached or refuse
  // to make it (the reason given); AlreadyExists naming both ids when it was made for another
  // write store.
  Status EnsureStream(std::string_view store_id);

  // The stream's tip, its last segment checked in full (ForEachSegmentEvent). Unavailable when
  // unreachable; AlreadyExists naming both ids when it holds another write store's log;
  // Internal when the last message is not a valid segment.
  Result<StreamTip> ReadTip(std::string_view store_id);

  // Publishes `segment` (the events first..last) expecting `tip` to be the stream's last
  // segment; on kStored advances `tip`. `detail` says why when it is not stored.
  Published Publish(std::span<const std::uint8_t> segment, std::string_view store_id,
                    std::uint64_t first_seq, std::uint64_t last_seq, StreamTip* tip,
                    std::string* detail);

  // Starts an ordered consumer of the stream's subject from stream message
  // `start_stream_seq` (1: the first), replacing any before. nats.c recreates the consumer
  // after a gap, a missed heartbeat or a reconnect, resuming after the last message delivered.
  // Unavailable when the stream cannot be reached or does not exist yet.
  Status Subscribe(std::uint64_t start_stream_seq);
  // The next message of the subscription: null after `timeout_ms` with none. Unavailable when
  // the subscription broke (subscribe again).
  Result<NatsMsgPtr> Next(std::int64_t timeout_ms);
  // Messages delivered to this process and not yet taken by Next.
  int pending() const;

  jsCtx* js() { return js_; }
  natsConnection* connection() { return nc_; }

 private:
  NatsLink(const MirrorConfig& config) : config_(config), subject_(config.Subject()) {}

  MirrorConfig config_;
  std::string subject_;
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  natsSubscription* sub_ = nullptr;
};

// "<text of status>[: <nats.c's last error>]" for messages.
std::string NatsError(natsStatus s, jsErrCode code = static_cast<jsErrCode>(0));

// The description cqrs-mirror gives a stream it makes for write store `store_id`.
std::string StreamDescription(std::string_view store_id);

}  // namespace cqrs::mirror
