// ReplayServer: the projector's replay endpoint (ROUTER). A subscriber that saw a gap asks for
// the events from a seq (of the whole log, or of one collection through the read store's
// collection log) and gets an EventBatch read from the event log, never past `head`, the seq
// the read store has applied, so that a replayed event is one the feed has published. With
// security on, a replay must name a collection its principal may read, and sees only its
// tenant's. docs/PROTOCOL.md, "Replay".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "base/config.h"
#include "base/status.h"
#include "security/server_security.h"
#include "store/lmdb.h"
#include "store/read_store.h"
#include "store/write_store.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"
#include "wire/zmq_util.h"

namespace cqrs::projector {

// Not thread-safe: the projector's thread.
class ReplayServer {
 public:
  ReplayServer(const Config& config, zmq::context_t& context);

  // Binds `endpoint` (CURVE and the self-test when `security` is given). zmq::error_t on a bad
  // endpoint.
  Status Bind(const std::string& endpoint, const security::ServerSecurity* security);
  const std::string& endpoint() const { return endpoint_; }
  zmq::socket_t& socket() { return router_; }

  // Answers up to 16 waiting requests from `log`, and `read` for a collection's events, up to
  // `head`. Returns how many were answered.
  int Serve(store::WriteStore& log, store::ReadStore& read, std::uint64_t head,
            const security::ServerSecurity* security);
  // Drops the snapshot of the read store: call before that store is closed (a rebuild switch).
  void ForgetReadStore() { index_snapshot_ = store::Txn(); }

 private:
  // Security on: the principal may read the named collection; sets its tenant.
  Status Authorize(const wire::DecodedReplayRequest& request,
                   const security::ServerSecurity& security, std::string_view* tenant);
  Status Collect(const wire::DecodedReplayRequest& request, store::WriteStore& log,
                 store::ReadStore& read, std::uint64_t head, std::string_view tenant);

  const Config& config_;
  zmq::context_t& context_;
  zmq::socket_t router_;
  std::string endpoint_;
  // Read snapshots of the log and of the read store, reset after each request and renewed:
  // their reader slots are taken once.
  store::Txn log_snapshot_;
  store::WriteStore::Start start_;  // an OutOfRange reply's first seq and snapshot
  store::Txn index_snapshot_;
  wire::InboundMessage message_;
  wire::AlignedBuffer request_buffer_;
  wire::AlignedBuffer event_buffer_;
  wire::EventBatchBuilder batch_builder_;
};

}  // namespace cqrs::projector
