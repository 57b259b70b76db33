// The reader's receive → snapshot → answer or park loop.
#include "reader/reader_server.h"

#include <cerrno>
#include <chrono>
#include <filesystem>

#include "base/clock.h"
#include "base/log.h"
#include "base/status.h"
#include "wire/protocol.h"

namespace cqrs::reader {

ReaderServer::ReaderServer(const Config& config, std::uint32_t index, zmq::context_t& context)
    : config_(config),
      index_(index),
      context_(context),
      follower_([&] {
        store::ReadStoreOptions o;
        o.dir = (std::filesystem::path(config.data_dir) / "read").string();
        o.read_only = true;
        o.max_map_size = config.projector.max_map_size_mb << 20;
        return o;
      }()),
      router_(context, zmq::socket_type::router),
      tick_sub_(context, zmq::socket_type::sub) {}

ReaderServer::~ReaderServer() = default;

Result<std::unique_ptr<ReaderServer>> ReaderServer::Open(const Config& config, std::uint32_t index,
                                                         const std::string& endpoint,
                                                         zmq::context_t& context) {
  if (index >= static_cast<std::uint32_t>(shm::kMaxReaders))
    return Error(Code::kInvalidArgument, "reader index {} is over the maximum {}", index,
                 shm::kMaxReaders - 1);
  std::unique_ptr<ReaderServer> server(new ReaderServer(config, index, context));
  CQRS_RETURN_IF_ERROR(server->Init(endpoint));
  return server;
}

Status ReaderServer::Init(const std::string& endpoint) {
  limits_.max_request_bytes = config_.limits.max_request_bytes;
  limits_.max_key_bytes = config_.limits.max_key_bytes;
  limits_.max_token_bytes = config_.limits.max_token_bytes;
  limits_.max_scan_limit = config_.reader.max_scan_limit;
  limits_.max_timeout_ms = config_.reader.max_timeout_ms;

  auto control = shm::ControlBlock::Attach(config_.data_dir, config_.cache.slots);
  if (control.ok()) control_.emplace(std::move(control).value());
  slot_index_ = shm::kFirstReaderSlot + static_cast<int>(index_);
  CQRS_RETURN_IF_ERROR(FollowStore(true));
  if (control_) {
    control_->Claim(slot_index_);
  } else {
    spdlog::warn("no shared-memory control block: {}", control.status().ToString());
  }
  auto security = security::ServerSecurity::Start(config_, context_);
  if (!security.ok()) return security.status();
  security_ = std::move(security).value();
  try {
    wire::SocketTuning tuning;
    tuning.max_message_bytes = config_.limits.max_request_bytes + wire::kMessageSlackBytes;
    wire::ConfigureRouter(router_, tuning);
    if (security_)
      CQRS_RETURN_IF_ERROR(
          security_->SecureAndTest(context_, router_, security::ServerSocket::kRouter));
    endpoint_ = wire::BindResolved(router_, endpoint);
    tick_sub_.set(zmq::sockopt::linger, 0);
    tick_sub_.set(zmq::sockopt::subscribe, "");
    tick_sub_.connect(config_.ProjectorTickEndpoint());
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "bind {}: {}", endpoint, e.what());
  }
  return OkStatus();
}

Status ReaderServer::Authorize(Slot* slot) {
  return Authorize(slot->user_id, *slot->decoded.request, &slot->tenant);
}

Status ReaderServer::Authorize(std::string_view user_id, const fb::QueryRequest& request,
                               std::string* tenant) {
  if (!security_) {
    tenant->assign(kDefaultTenant);
    return OkStatus();
  }
  Status refusal;
  const security::Principal* p = security_->Authenticate(user_id, &refusal);
  if (p == nullptr) return refusal;
  const std::string_view collection = wire::QueryCollection(request);
  if (!p->Allows(security::Access::kRead, collection))
    return Error(Code::kPermissionDenied, "principal \"{}\" may not read collection \"{}\"",
                 p->name, collection);
  tenant->assign(p->tenant);
  return OkStatus();
}

Status ReaderServer::FollowStore(bool force) {
  const std::uint64_t generation =
      control_ ? control_->seqs().read_generation.load(std::memory_order_acquire) : 0;
  auto changed = follower_.Follow(generation, force, &snapshot_);
  if (!changed.ok()) return changed.status();
  store::ReadStore& store = *follower_.store();
  if (!changed.value()) {
    // Not yet built with the declared read models (a rebuild for them runs, or the projector
    // had not recorded them when we opened the store): look again every 100 ms.
    if (executor_->models_current() || MonoNs() < next_models_look_ns_) return OkStatus();
    next_models_look_ns_ = MonoNs() + 100'000'000;
    return LookAtModels(store);
  }
  executor_ = std::make_unique<QueryExecutor>(store, config_.reader, config_.collections);
  CQRS_RETURN_IF_ERROR(LookAtModels(store));
  if (control_ && control_->cache().enabled()) {
    auto& counters = control_->slot(slot_index_).counters;
    reporter_ = shm::AccessReporter(&control_->ring(static_cast<int>(index_)),
                                    &counters[shm::kCacheReportsDropped]);
    executor_->set_cache(&control_->cache(), &control_->seqs().projector_applied_seq,
                         &counters[shm::kCacheHits], &counters[shm::kCacheMisses], &reporter_);
  }
  spdlog::info("reader {} follows the read store {} (inode {}, generation {})", index_,
               config_.data_dir + "/read", follower_.identity().ino, generation);
  return OkStatus();
}

Status ReaderServer::LookAtModels(store::ReadStore& store) {
  auto txn = store::Txn::BeginRead(store.env());
  if (!txn.ok()) return txn.status();
  auto models = store.ReadModels(txn.value());
  if (!models.ok()) return models.status();
  executor_->set_models_current(models->value_or("") == config_.ReadModelFingerprint());
  return OkStatus();
}

Status ReaderServer::RenewSnapshot(std::uint64_t* seq) {
  store::ReadStore& store = *follower_.store();
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(store.env(), &snapshot_));
  auto checkpoint = store.ReadCheckpoint(snapshot_);
  if (!checkpoint.ok()) return checkpoint.status();
  *seq = checkpoint->applied_seq;
  return OkStatus();
}

ReaderServer::Slot* ReaderServer::Acquire() {
  if (free_.empty()) {
    slots_.push_back(std::make_unique<Slot>());
    return slots_.back().get();
  }
  Slot* s = free_.back();
  free_.pop_back();
  return s;
}

void ReaderServer::Receive(std::vector<Slot*>* fresh) {
  fresh->clear();
  std::size_t bytes = 0;
  while (fresh->size() < config_.reader.batch_max_queries && bytes < kBatchMaxBytes) {
    Slot* slot = Acquire();
    if (!slot->message.TryReceive(router_)) {
      free_.push_back(slot);
      return;
    }
    slot->received_ns = MonoNs();
    bytes += slot->message.body_size();
    fresh->push_back(slot);
  }
}

void ReaderServer::Reply(Slot* slot, std::span<const std::uint8_t> reply, Code status) {
  bool sent = wire::SendEnvelopeReply(router_, slot->message.envelope(), reply);
  Count(status, slot->received_ns);
  if (!sent && control_)
    control_->slot(slot_index_)
        .counters[shm::kRepliesDropped]
        .fetch_add(1, std::memory_order_relaxed);
  Release(slot);
}

void ReaderServer::Release(Slot* slot) {
  slot->buffer.ShrinkTo(kKeptBufferBytes);
  free_.push_back(slot);
}

void ReaderServer::Count(Code status, std::uint64_t received_ns) {
  if (!control_) return;
  shm::ProcessSlot& mine = control_->slot(slot_index_);
  mine.latency[shm::LatencyBucket(MonoNs() - received_ns)].fetch_add(1, std::memory_order_relaxed);
  auto& counters = mine.counters;
  counters[shm::kRequests].fetch_add(1, std::memory_order_relaxed);
  if (status != Code::kOk) counters[shm::kRequestErrors].fetch_add(1, std::memory_order_relaxed);
  if (status == Code::kDeadlineExceeded)
    counters[shm::kDeadlineExceeded].fetch_add(1, std::memory_order_relaxed);
}

void ReaderServer::SendBatchReply(Slot* slot) {
  reply_envelope_.CopyEnvelope(slot->message);
  if (!wire::SendEnvelopeReply(router_, reply_envelope_.envelope(),
                               batch_reply_.Finish(wire::BatchKind::kQueryReplies)))
    ++batch_dropped_;
  batch_reply_.Begin();
}

void ReaderServer::ProcessBatch(Slot* slot, std::uint64_t seq, std::uint64_t now) {
  batch_reply_.Begin();
  batch_dropped_ = 0;
  const std::size_t max_bytes = config_.reader.max_reply_bytes;
  // Each answer goes into the batch reply, which is sent first when the answer would take it
  // past max_reply_bytes (an answer is itself within it).
  auto answer = [&](std::span<const std::uint8_t> reply, Code code) {
    if (batch_reply_.count() > 0 && batch_reply_.size() + reply.size() + 16 > max_bytes)
      SendBatchReply(slot);
    batch_reply_.Add(reply);
    Count(code, slot->received_ns);
  };
  Status whole = wire::ForEachNestedFrame(
      slot->buffer.span(), wire::BatchKind::kQueries, limits_.max_request_bytes,
      config_.reader.batch_max_queries, [&](std::span<const std::uint8_t> member) {
        member = member_buffer_.AlignedView(member);  // another builder may not align it
        wire::DecodedQueryRequest d = wire::DecodeQueryRequest(member, limits_);
        if (!d.status.ok()) {
          answer(executor_->Refuse(d.request_id, d.status, seq), d.status.code());
          return;
        }
        const fb::QueryRequest& request = *d.request;
        if (Status denied = Authorize(slot->user_id, request, &member_tenant_); !denied.ok()) {
          answer(executor_->Refuse(request.request_id(), denied, seq), denied.code());
          return;
        }
        if (request.min_seq() <= seq) {
          Code code;
          auto reply = executor_->Execute(snapshot_, seq, request, member_tenant_, &code);
          answer(reply, code);
          return;
        }
        // It waits in a slot of its own, with its own copy of the query and of the envelope.
        Slot* parked = Acquire();
        parked->buffer.Assign(member.data(), member.size());
        parked->decoded = wire::DecodeQueryRequest(parked->buffer.span(), limits_);
        parked->user_id = slot->user_id;
        parked->tenant = member_tenant_;
        parked->min_seq = request.min_seq();
        parked->received_ns = slot->received_ns;
        if (Status refused = MayPark(*parked, seq); !refused.ok()) {
          Release(parked);
          answer(executor_->Refuse(request.request_id(), refused, seq), refused.code());
          return;
        }
        parked->message.CopyEnvelope(slot->message);
        Park(parked, now);
      });
  if (!whole.ok()) {  // the frame itself: one QueryReply, as for a frame that is no query
    Reply(slot, executor_->Refuse(0, whole, seq), whole.code());
    return;
  }
  if (batch_reply_.count() > 0) SendBatchReply(slot);
  if (batch_dropped_ > 0 && control_)
    control_->slot(slot_index_)
        .counters[shm::kRepliesDropped]
        .fetch_add(batch_dropped_, std::memory_order_relaxed);
  Release(slot);
}

void ReaderServer::Park(Slot* slot, std::uint64_t now) {
  const fb::QueryRequest& request = *slot->decoded.request;
  slot->parked_bytes = slot->buffer.size() + slot->user_id.size();
  waiting_bytes_ += slot->parked_bytes;
  std::uint32_t timeout_ms =
      request.timeout_ms() == 0 ? config_.reader.default_timeout_ms : request.timeout_ms();
  slot->deadline_ns = now + std::uint64_t{timeout_ms} * 1'000'000;
  waiting_.push_back(slot);
  if (control_)
    control_->slot(slot_index_).counters[shm::kWaited].fetch_add(1, std::memory_order_relaxed);
}

bool ReaderServer::WaitingCanProgress(std::uint64_t now) const {
  if (!control_) return true;
  const std::uint64_t applied =
      control_->seqs().projector_applied_seq.load(std::memory_order_acquire);
  for (const Slot* slot : waiting_)
    if (slot->min_seq <= applied || now >= slot->deadline_ns) return true;
  return false;
}

Status ReaderServer::MayPark(const Slot& slot, std::uint64_t seq) const {
  // Writers publish their committed seq before they reply, so while the writer lives no client
  // can hold a seq above it; without a live writer nothing is known, and the bounds below hold.
  if (control_ && control_->BeatWithin(shm::kWriterSlot, kWriterStaleNs)) {
    const std::uint64_t committed =
        std::max(seq, control_->seqs().writer_committed_seq.load(std::memory_order_acquire));
    if (slot.min_seq > committed && slot.min_seq - committed > config_.reader.min_seq_slack)
      return Error(Code::kInvalidArgument,
                   "min_seq {} is beyond the last committed seq {} (reader.min_seq_slack {}): no "
                   "write has been acknowledged with it",
                   slot.min_seq, committed, config_.reader.min_seq_slack);
  }
  if (waiting_.size() >= config_.reader.max_waiting)
    return Error(Code::kResourceExhausted,
                 "{} queries already wait for min_seq (reader.max_waiting)", waiting_.size());
  if (waiting_bytes_ + slot.buffer.size() > config_.reader.max_waiting_bytes)
    return Error(Code::kResourceExhausted,
                 "queries waiting for min_seq already hold {} bytes (reader.max_waiting_bytes {})",
                 waiting_bytes_, config_.reader.max_waiting_bytes);
  return OkStatus();
}

void ReaderServer::Process(std::vector<Slot*>& fresh) {
  if (fresh.empty() && waiting_.empty()) return;
  const std::uint64_t now = MonoNs();
  // Only parked queries, and the projector (per the control block) has applied none of their
  // min_seqs and none is due: no snapshot needed.
  if (fresh.empty() && !WaitingCanProgress(now)) return;
  if (Status s = FollowStore(false); !s.ok())
    spdlog::warn("cannot open the read store now at {}/read yet: {}", config_.data_dir,
                 s.ToString());
  if (control_)
    executor_->set_cache_usable(control_->BeatWithin(shm::kProjectorSlot, shm::kProjectorStaleNs));
  std::uint64_t seq = 0;
  Status s = RenewSnapshot(&seq);
  if (!s.ok()) {
    spdlog::error("snapshot: {}", s.ToString());
    Status unavailable(Code::kUnavailable, s.message());
    for (Slot* slot : fresh) Reply(slot, executor_->Refuse(0, unavailable, 0), Code::kUnavailable);
    fresh.clear();
    return;  // parked queries retry on the next turn
  }
  for (Slot* slot : fresh) {
    const zmq::message_t& body = slot->message.body();
    slot->buffer.Assign(body.data(), body.size());  // aligned, as the Verifier needs
    if (security_) slot->user_id.assign(security::UserId(body));
    slot->message.ReleaseBody();  // the copy is what the query is read from, parked or not
    if (wire::IsBatch(wire::BatchKind::kQueries, slot->buffer.span())) {
      ProcessBatch(slot, seq, now);
      continue;
    }
    slot->decoded = wire::DecodeQueryRequest(slot->buffer.span(), limits_);
    if (!slot->decoded.status.ok()) {
      Reply(slot, executor_->Refuse(slot->decoded.request_id, slot->decoded.status, seq),
            slot->decoded.status.code());
      continue;
    }
    const fb::QueryRequest& request = *slot->decoded.request;
    if (Status denied = Authorize(slot); !denied.ok()) {
      Reply(slot, executor_->Refuse(request.request_id(), denied, seq), denied.code());
      continue;
    }
    slot->min_seq = request.min_seq();
    if (slot->min_seq <= seq) {
      Code code;
      auto reply = executor_->Execute(snapshot_, seq, request, slot->tenant, &code);
      Reply(slot, reply, code);
      continue;
    }
    if (Status refused = MayPark(*slot, seq); !refused.ok()) {
      Reply(slot, executor_->Refuse(request.request_id(), refused, seq), refused.code());
      continue;
    }
    Park(slot, now);
  }
  fresh.clear();
  // Parked queries: answer those whose seq is applied now, expire the overdue, keep the rest.
  std::size_t kept = 0;
  for (Slot* slot : waiting_) {
    const fb::QueryRequest& request = *slot->decoded.request;
    if (slot->min_seq > seq && now < slot->deadline_ns) {
      waiting_[kept++] = slot;
      continue;
    }
    waiting_bytes_ -= slot->parked_bytes;
    if (slot->min_seq > seq) {
      Status late = store::NotAppliedInTime(seq, slot->min_seq);
      Reply(slot, executor_->Refuse(request.request_id(), late, seq), late.code());
    } else if (Status denied = Authorize(slot); !denied.ok()) {
      // Judged again: a reload while it waited may have disabled its principal.
      Reply(slot, executor_->Refuse(request.request_id(), denied, seq), denied.code());
    } else {
      Code code;
      auto reply = executor_->Execute(snapshot_, seq, request, slot->tenant, &code);
      Reply(slot, reply, code);
    }
  }
  waiting_.resize(kept);
  snapshot_.Reset();  // never hold a snapshot between batches
  if (control_)
    control_->slot(slot_index_).counters[shm::kBatches].fetch_add(1, std::memory_order_relaxed);
}

void ReaderServer::Run(const std::atomic<bool>& stop) {
  zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                             {tick_sub_.handle(), 0, ZMQ_POLLIN, 0}};
  zmq::message_t tick;
  std::uint64_t next_beat = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    // While queries wait, look again at least every 5 ms even if a tick was dropped; the
    // projector's tick normally wakes us first.
    long timeout_ms = 100;
    if (!waiting_.empty()) {
      std::uint64_t now = MonoNs(), nearest = UINT64_MAX;
      for (Slot* s : waiting_) nearest = std::min(nearest, s->deadline_ns);
      timeout_ms = nearest <= now
                       ? 0
                       : std::min<long>(5, static_cast<long>((nearest - now) / 1'000'000 + 1));
    }
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    if (items[1].revents & ZMQ_POLLIN)
      while (wire::TryRecv(tick_sub_, tick)) {
      }
    if (security_) security_->ReloadIfSignalled();  // before judging any query after a SIGHUP
    if (items[0].revents & ZMQ_POLLIN) Receive(&fresh_);
    Process(fresh_);
    std::uint64_t now = MonoNs();
    if (control_ && now >= next_beat) {
      control_->Beat(slot_index_);
      control_->ExitIfOrphaned();
      next_beat = now + 100'000'000;
      // An idle reader leaves a replaced store too, so it can be removed.
      if (Status s = FollowStore(false); !s.ok())
        spdlog::warn("cannot open the read store now at {}/read yet: {}", config_.data_dir,
                     s.ToString());
    }
  }
  router_.set(zmq::sockopt::linger, 1000);
  if (control_ && control_->RemoveIfUnused()) spdlog::info("removed the unused shared memory");
}

}  // namespace cqrs::reader
