// The replay endpoint: events from a seq, read from the log.
#include "projector/replay_server.h"

#include "base/log.h"
#include "base/status.h"
#include "store/key_format.h"
#include "store/namespaces.h"
#include "store/read_store_format.h"
#include "wire/protocol.h"

namespace cqrs::projector {

ReplayServer::ReplayServer(const Config& config, zmq::context_t& context)
    : config_(config), context_(context), router_(context, zmq::socket_type::router) {}

Status ReplayServer::Bind(const std::string& endpoint, const security::ServerSecurity* security) {
  wire::SocketTuning tuning;
  tuning.max_message_bytes = config_.limits.max_request_bytes + wire::kMessageSlackBytes;
  wire::ConfigureRouter(router_, tuning);
  if (security != nullptr)
    CQRS_RETURN_IF_ERROR(
        security->SecureAndTest(context_, router_, security::ServerSocket::kRouter));
  endpoint_ = wire::BindResolved(router_, endpoint);
  return OkStatus();
}

int ReplayServer::Serve(store::WriteStore& log, store::ReadStore& read, std::uint64_t head,
                        const security::ServerSecurity* security) {
  int served = 0;
  for (; served < 16; ++served) {
    if (!message_.TryReceive(router_)) break;
    const zmq::message_t& body = message_.body();
    request_buffer_.Assign(body.data(), body.size());
    auto request =
        wire::DecodeReplayRequest(request_buffer_.span(), config_.limits.max_request_bytes);
    batch_builder_.Begin();
    Status s = request.status;
    std::string_view tenant = kDefaultTenant;
    if (s.ok() && security != nullptr) s = Authorize(request, *security, &tenant);
    start_ = store::WriteStore::Start();
    if (s.ok()) s = Collect(request, log, read, head, tenant);
    const bool below = s.code() == Code::kOutOfRange;
    if (!s.ok()) {
      batch_builder_.Begin();
      if (s.code() != Code::kInvalidArgument && !below) spdlog::error("replay: {}", s.ToString());
    }
    auto reply = batch_builder_.Finish(s.code(), s.message(), head, below ? start_.first_seq : 0,
                                       below ? start_.snapshot_seq : 0);
    (void)wire::SendEnvelopeReply(router_, message_.envelope(), reply);
  }
  return served;
}

Status ReplayServer::Authorize(const wire::DecodedReplayRequest& request,
                               const security::ServerSecurity& security, std::string_view* tenant) {
  Status refusal;
  const security::Principal* p = security.Authenticate(security::UserId(message_.body()), &refusal);
  if (p == nullptr) return refusal;
  // The global seq interleaves every tenant's events: only a collection's log is the tenant's.
  if (request.collection.empty())
    return Error(Code::kPermissionDenied,
                 "with security on a replay names a collection (principal \"{}\")", p->name);
  if (!p->Allows(security::Access::kRead, request.collection))
    return Error(Code::kPermissionDenied, "principal \"{}\" may not read collection \"{}\"",
                 p->name, request.collection);
  *tenant = p->tenant;
  return OkStatus();
}

Status ReplayServer::Collect(const wire::DecodedReplayRequest& request, store::WriteStore& log,
                             store::ReadStore& read, std::uint64_t head, std::string_view tenant) {
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(log.env(), &log_snapshot_));
  store::SnapshotLease log_lease(log_snapshot_);
  // Below the first seq: OutOfRange naming where to start instead, never a silent skip.
  CQRS_RETURN_IF_ERROR(log.CheckFrom(log_snapshot_, request.from_seq, &start_));
  auto add = [&](std::string_view value) -> Status {
    event_buffer_.Assign(value.data(), value.size());
    const fb::Event* event = nullptr;
    CQRS_RETURN_IF_ERROR(wire::VerifyEvent(event_buffer_.span(), &event));
    batch_builder_.Add(*event);
    return OkStatus();
  };
  auto full = [&] {
    return batch_builder_.size() >= request.max_events ||
           batch_builder_.bytes() >= wire::kMaxReplayBytes;
  };
  if (request.collection.empty()) {
    auto cursor = store::Cursor::Open(log_snapshot_, log.dbs().events);
    if (!cursor.ok()) return cursor.status();
    store::KeyBuffer from = store::SeqKey(request.from_seq);
    std::string_view key = from.view(), value;
    for (Status s = cursor->Get(MDB_SET_RANGE, &key, &value); s.ok() && !full();
         s = cursor->Get(MDB_NEXT, &key, &value)) {
      if (store::DecodeSeqKey(key) > head) break;
      CQRS_RETURN_IF_ERROR(add(value));
    }
    return OkStatus();
  }
  // One collection: walk its index in the read store, fetch each event from the log.
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(read.env(), &index_snapshot_));
  store::SnapshotLease index_lease(index_snapshot_);
  std::uint32_t ns = 0;
  Status s = read.namespaces().Lookup(index_snapshot_, tenant, request.collection, &ns);
  if (s.code() == Code::kNotFound) return OkStatus();
  CQRS_RETURN_IF_ERROR(s);
  auto cursor = store::Cursor::Open(index_snapshot_, read.dbs().collection_log);
  if (!cursor.ok()) return cursor.status();
  store::KeyBuffer from = store::CollectionLogKey(ns, request.from_seq);
  std::string_view key = from.view(), value;
  for (s = cursor->Get(MDB_SET_RANGE, &key, &value); s.ok() && !full();
       s = cursor->Get(MDB_NEXT, &key, &value)) {
    const auto* k = reinterpret_cast<const std::uint8_t*>(key.data());
    if (key.size() != 12 || store::GetU32BE(k) != ns) break;
    std::uint64_t seq = store::GetU64BE(k + 4);
    if (seq > head) break;
    std::string_view event;
    CQRS_RETURN_IF_ERROR(log_snapshot_.Get(log.dbs().events, store::SeqKey(seq).view(), &event));
    CQRS_RETURN_IF_ERROR(add(event));
  }
  return OkStatus();
}

}  // namespace cqrs::projector
