// The projector's catch-up, publish, heartbeat and replay loop.
#include "projector/projector.h"

#include <cerrno>
#include <chrono>
#include <filesystem>

#include "base/clock.h"
#include "base/log.h"
#include "store/key_format.h"
#include "store/namespaces.h"
#include "store/read_store_format.h"
#include "wire/command_decoder.h"

namespace cqrs::projector {
namespace {

constexpr std::size_t kMaxBatchBytes = 16u << 20;
constexpr std::string_view kTenant = "default";  // TODO(#8): the subscriber's tenant

// Resets a snapshot when the scope that renewed it ends (cursors of it are closed first).
class SnapshotLease {
 public:
  explicit SnapshotLease(store::Txn& txn) : txn_(txn) {}
  ~SnapshotLease() {
    if (txn_.active()) txn_.Reset();
  }

 private:
  store::Txn& txn_;
};

}  // namespace

Projector::Projector(const Config& config, zmq::context_t& context)
    : config_(config),
      context_(context),
      tick_sub_(context, zmq::socket_type::sub),
      events_pub_(context, zmq::socket_type::pub),
      replay_router_(context, zmq::socket_type::router),
      tick_pub_(context, zmq::socket_type::pub) {}

Projector::~Projector() = default;

Result<std::unique_ptr<Projector>> Projector::Open(const Config& config, zmq::context_t& context,
                                                   const ProjectorOptions& options) {
  std::unique_ptr<Projector> p(new Projector(config, context));
  CQRS_RETURN_IF_ERROR(p->Init(options));
  return p;
}

Status Projector::Init(const ProjectorOptions& options) {
  serve_ = options.serve;
  const std::filesystem::path data(config_.data_dir);
  store::WriteStoreOptions w;
  w.dir = (data / "write").string();
  w.read_only = true;
  auto write = store::WriteStore::Open(w);
  if (!write.ok()) return write.status();
  write_ = std::move(write).value();

  store::ReadStoreOptions r;
  r.dir = options.read_dir.empty() ? (data / "read").string() : options.read_dir;
  r.map_size = config_.projector.map_size_mb << 20;
  r.max_map_size = config_.projector.max_map_size_mb << 20;
  r.sync_commits = config_.projector.sync_read_store;
  auto read = store::ReadStore::Open(r);
  if (!read.ok()) return read.status();
  read_ = std::move(read).value();
  applier_ = std::make_unique<EventApplier>(*read_, config_.collections);

  // The read store must follow this write store, and not be ahead of it.
  auto txn = store::Txn::BeginWrite(read_->env());
  if (!txn.ok()) return txn.status();
  auto followed = read_->FollowedStoreId(txn.value());
  if (!followed.ok()) return followed.status();
  auto checkpoint = read_->ReadCheckpoint(txn.value());
  if (!checkpoint.ok()) return checkpoint.status();
  if (followed->empty()) {
    CQRS_RETURN_IF_ERROR(read_->SetFollowedStoreId(txn.value(), write_->store_id()));
  } else if (followed.value() != write_->store_id()) {
    return Error(Code::kUnavailable,
                 "{} follows write store {}, but {} is {}: remove {} to rebuild it from the log",
                 r.dir, followed.value(), w.dir, write_->store_id(), r.dir);
  }
  // Indexes and aggregates are built as events are applied: a store built with other read
  // models has none for the new ones. TODO(#5): rebuild it (cqrs rebuild) instead of refusing.
  auto models = read_->ReadModels(txn.value());
  if (!models.ok()) return models.status();
  const std::string declared = config_.ReadModelFingerprint();
  if (!models->has_value() && checkpoint->applied_seq == 0) {
    CQRS_RETURN_IF_ERROR(read_->SetReadModels(txn.value(), declared));
  } else if (models->value_or("") != declared) {
    return Error(Code::kUnavailable,
                 "{} was built with read models '{}', the config declares '{}': remove {} to "
                 "rebuild it from the log",
                 r.dir, models->value_or(""), declared, r.dir);
  }
  CQRS_RETURN_IF_ERROR(txn->Commit());
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(write_->env(), &log_snapshot_));
  auto last = write_->LastSeq(log_snapshot_);
  log_snapshot_.Reset();
  if (!last.ok()) return last.status();
  applied_seq_ = checkpoint->applied_seq;
  if (applied_seq_ > last.value())
    return Error(Code::kUnavailable,
                 "{} has applied seq {} but the log ends at {}: remove {} to rebuild it", r.dir,
                 applied_seq_, last.value(), r.dir);

  if (!serve_) return OkStatus();
  auto control = shm::ControlBlock::Attach(config_.data_dir);
  if (control.ok()) {
    control_.emplace(std::move(control).value());
    control_->Claim(shm::kProjectorSlot);
    control_->seqs().projector_applied_seq.store(applied_seq_, std::memory_order_release);
  } else {
    spdlog::warn("no shared-memory control block: {}", control.status().ToString());
  }
  try {
    tick_sub_.set(zmq::sockopt::linger, 0);
    tick_sub_.set(zmq::sockopt::subscribe, "");
    tick_sub_.connect(config_.TickEndpoint());
    events_pub_.set(zmq::sockopt::sndhwm, static_cast<int>(config_.projector.events_sndhwm));
    events_pub_.set(zmq::sockopt::linger, 0);
    events_endpoint_ = wire::BindResolved(events_pub_, config_.EventsEndpoint());
    wire::SocketTuning tuning;
    tuning.max_message_bytes = config_.limits.max_request_bytes;
    wire::ConfigureRouter(replay_router_, tuning);
    replay_endpoint_ = wire::BindResolved(replay_router_, config_.ReplayEndpoint());
    tick_pub_.set(zmq::sockopt::sndhwm, 16);
    tick_pub_.set(zmq::sockopt::linger, 0);
    wire::BindResolved(tick_pub_, config_.ProjectorTickEndpoint());
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "projector endpoints: {}", e.what());
  }
  return OkStatus();
}

Result<std::size_t> Projector::ReadBatch() {
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(write_->env(), &log_snapshot_));
  SnapshotLease lease(log_snapshot_);
  auto cursor = store::Cursor::Open(log_snapshot_, write_->dbs().events);
  if (!cursor.ok()) return cursor.status();
  store::KeyBuffer from = store::SeqKey(applied_seq_ + 1);
  std::string_view key = from.view(), value;
  std::size_t count = 0, bytes = 0;
  Status s = cursor->Get(MDB_SET_RANGE, &key, &value);
  while (s.ok() && count < config_.projector.batch_max_events && bytes < kMaxBatchBytes) {
    if (batch_.size() == count) batch_.emplace_back();
    batch_[count++].Assign(value.data(), value.size());
    bytes += value.size();
    s = cursor->Get(MDB_NEXT, &key, &value);
  }
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  return count;
}

Status Projector::ApplyBatch(std::size_t count) {
  for (;;) {
    auto begun = store::Txn::BeginWrite(read_->env());
    if (!begun.ok()) return begun.status();
    store::Txn txn = std::move(begun).value();
    Status s = applier_->Begin(txn);
    for (std::size_t i = 0; s.ok() && i < count; ++i) {
      const fb::Event* event = nullptr;
      s = wire::VerifyEvent(batch_[i].span(), &event);
      if (!s.ok()) {
        s = Error(Code::kInternal, "event log entry after seq {}: {}",
                  applier_->checkpoint().applied_seq, s.message());
        break;
      }
      s = applier_->Apply(txn, *event);
    }
    if (s.ok()) s = applier_->End(txn);
    if (s.ok()) s = txn.Commit();
    if (s.ok()) {
      applied_seq_ = applier_->checkpoint().applied_seq;
      return OkStatus();
    }
    txn.Abort();
    if (!store::IsMapFull(s)) return s;
    CQRS_RETURN_IF_ERROR(read_->Grow());
    spdlog::info("read store map grown to {} MiB", read_->env().map_size() >> 20);
  }
}

Result<std::uint64_t> Projector::CatchUp() {
  std::uint64_t total = 0;
  for (;;) {
    auto count = ReadBatch();
    if (!count.ok()) return count.status();
    if (count.value() == 0) break;
    CQRS_RETURN_IF_ERROR(ApplyBatch(count.value()));
    total += count.value();
    if (control_) {
      control_->seqs().projector_applied_seq.store(applied_seq_, std::memory_order_release);
      auto& slot = control_->slot(shm::kProjectorSlot);
      slot.counters[shm::kBatches].fetch_add(1, std::memory_order_relaxed);
      slot.counters[shm::kEventsApplied].fetch_add(count.value(), std::memory_order_relaxed);
    }
    if (serve_) {
      // Only now, after the read-store commit: a subscriber never hears of a change that a
      // reader cannot serve yet.
      PublishBatch(count.value());
      PublishTick();
    }
    if (count.value() < config_.projector.batch_max_events) break;
  }
  return total;
}

void Projector::PublishBatch(std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto* event = flatbuffers::GetRoot<fb::Event>(batch_[i].data());  // verified
    wire::EventTopic(*event, &topic_);
    zmq::message_t topic(topic_.data(), topic_.size());
    zmq::message_t body(batch_[i].data(), batch_[i].size());
    // PUB never blocks: past a subscriber's high-water mark it drops, and the subscriber sees
    // the gap by seq and replays.
    (void)events_pub_.send(topic, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    (void)events_pub_.send(body, zmq::send_flags::dontwait);
  }
  if (control_)
    control_->slot(shm::kProjectorSlot)
        .counters[shm::kEventsPublished]
        .fetch_add(count, std::memory_order_relaxed);
}

void Projector::PublishTick() {
  std::uint8_t buf[8];
  store::PutU64LE(buf, applied_seq_);
  zmq::message_t msg(buf, sizeof buf);
  (void)tick_pub_.send(msg, zmq::send_flags::dontwait);
}

void Projector::PublishHeartbeat() {
  batch_builder_.Begin();
  auto bytes = batch_builder_.Finish(Code::kOk, {}, applied_seq_);
  zmq::message_t topic(wire::kHeartbeatTopic.data(), wire::kHeartbeatTopic.size());
  zmq::message_t body(bytes.data(), bytes.size());
  (void)events_pub_.send(topic, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  (void)events_pub_.send(body, zmq::send_flags::dontwait);
  PublishTick();  // also lets a reader that missed a tick notice
  if (control_) control_->Beat(shm::kProjectorSlot);
}

Status Projector::CollectReplay(const wire::DecodedReplayRequest& request, std::uint64_t head) {
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(write_->env(), &log_snapshot_));
  SnapshotLease log_lease(log_snapshot_);
  store::Txn& log = log_snapshot_;
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
    auto cursor = store::Cursor::Open(log, write_->dbs().events);
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
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(read_->env(), &index_snapshot_));
  SnapshotLease index_lease(index_snapshot_);
  store::Txn& index = index_snapshot_;
  std::uint32_t ns = 0;
  Status s = read_->namespaces().Lookup(index, kTenant, request.collection, &ns);
  if (s.code() == Code::kNotFound) return OkStatus();
  CQRS_RETURN_IF_ERROR(s);
  auto cursor = store::Cursor::Open(index, read_->dbs().collection_log);
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
    CQRS_RETURN_IF_ERROR(log.Get(write_->dbs().events, store::SeqKey(seq).view(), &event));
    CQRS_RETURN_IF_ERROR(add(event));
  }
  return OkStatus();
}

void Projector::ServeReplay() {
  for (int served = 0; served < 16; ++served) {
    if (!replay_message_.TryReceive(replay_router_)) return;
    const zmq::message_t& body = replay_message_.body();
    replay_buffer_.Assign(body.data(), body.size());
    auto request =
        wire::DecodeReplayRequest(replay_buffer_.span(), config_.limits.max_request_bytes);
    batch_builder_.Begin();
    Status s = request.status;
    const std::uint64_t head = applied_seq_;
    if (s.ok()) s = CollectReplay(request, head);
    if (!s.ok()) {
      batch_builder_.Begin();
      if (s.code() != Code::kInvalidArgument) spdlog::error("replay: {}", s.ToString());
    }
    auto reply = batch_builder_.Finish(s.code(), s.message(), head);
    (void)wire::SendEnvelopeReply(replay_router_, replay_message_.envelope(), reply);
    if (control_)
      control_->slot(shm::kProjectorSlot)
          .counters[shm::kReplayRequests]
          .fetch_add(1, std::memory_order_relaxed);
  }
}

void Projector::CheckReaders() {
  for (store::LmdbEnv* env : {&write_->env(), &read_->env()}) {
    auto cleared = env->ReaderCheck();
    if (!cleared.ok()) {
      spdlog::warn("{}", cleared.status().ToString());
    } else if (cleared.value() > 0) {
      spdlog::info("mdb_reader_check({}) cleared {} stale reader slots", env->dir(),
                   cleared.value());
    }
  }
}

void Projector::Run(const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  const auto heartbeat = std::chrono::milliseconds(config_.projector.heartbeat_ms);
  const auto poll = std::chrono::milliseconds(config_.projector.poll_ms);
  const auto check = std::chrono::milliseconds(config_.projector.reader_check_ms);
  auto now = Clock::now();
  auto next_heartbeat = now, next_poll = now, next_check = now + check;
  zmq::pollitem_t items[] = {{tick_sub_.handle(), 0, ZMQ_POLLIN, 0},
                             {replay_router_.handle(), 0, ZMQ_POLLIN, 0}};
  zmq::message_t tick;
  while (!stop.load(std::memory_order_relaxed)) {
    now = Clock::now();
    auto until = std::min({next_heartbeat, next_poll, next_check});
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
    try {
      zmq::poll(items, 2, std::clamp(wait, std::chrono::milliseconds(0), heartbeat));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    bool ticked = false;
    if (items[0].revents & ZMQ_POLLIN) {
      while (tick_sub_.recv(tick, zmq::recv_flags::dontwait)) ticked = true;  // the latest wins
    }
    now = Clock::now();
    if (ticked || now >= next_poll) {
      auto applied = CatchUp();
      if (!applied.ok()) {
        // A corrupt log or a store error: stop rather than publish something wrong. The
        // supervisor restarts us and the checkpoint makes the retry exact.
        spdlog::error("catch-up failed at seq {}: {}", applied_seq_, applied.status().ToString());
        throw std::runtime_error(applied.status().ToString());
      }
      next_poll = Clock::now() + poll;
    }
    if (items[1].revents & ZMQ_POLLIN) ServeReplay();
    now = Clock::now();
    if (now >= next_heartbeat) {
      PublishHeartbeat();
      next_heartbeat = now + heartbeat;
    }
    if (now >= next_check) {
      CheckReaders();
      next_check = now + check;
    }
  }
}

}  // namespace cqrs::projector
