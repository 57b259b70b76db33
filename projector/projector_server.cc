// The projector's catch-up, publish and heartbeat loop; replays are ReplayServer's.
#include "projector/projector_server.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "base/clock.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/status.h"
#include "projector/derive_read_models.h"
#include "projector/rebuild.h"
#include "projector/rebuild_switch.h"
#include "store/key_format.h"
#include "store/namespaces.h"
#include "store/read_store_format.h"
#include "wire/command_codec.h"
#include "wire/validate.h"
#include "wire/value_codec.h"

namespace cqrs::projector {
namespace {

constexpr std::size_t kMaxBatchBytes = 16u << 20;
using wire::AsView;

}  // namespace

ProjectorServer::ProjectorServer(const Config& config, zmq::context_t& context)
    : config_(config),
      context_(context),
      tick_sub_(context, zmq::socket_type::sub),
      // With security on, an XPUB: each subscription is admitted by its sender's tenant and ACL.
      events_pub_(context, config.SecurityOn() ? zmq::socket_type::xpub : zmq::socket_type::pub),
      replay_(config_, context),
      tick_pub_(context, zmq::socket_type::pub) {}

ProjectorServer::~ProjectorServer() {
  rebuild_.reset();  // stop and join the rebuild thread before the stores and shm it uses go
}

Result<std::unique_ptr<ProjectorServer>> ProjectorServer::Open(const Config& config,
                                                               zmq::context_t& context,
                                                               const ProjectorOptions& options) {
  std::unique_ptr<ProjectorServer> p(new ProjectorServer(config, context));
  CQRS_RETURN_IF_ERROR(p->Init(options));
  return p;
}

Status ProjectorServer::Init(const ProjectorOptions& options) {
  serve_ = options.serve;
  const std::filesystem::path data(config_.data_dir);
  store::WriteStoreOptions w;
  w.dir = (data / "write").string();
  w.read_only = true;
  w.max_map_size = config_.writer.max_map_size_mb << 20;  // mapped at once: the writer never
                                                          // makes us remap (MDB_MAP_RESIZED)
  auto write = store::WriteStore::Open(w);
  if (!write.ok()) return write.status();
  write_ = std::move(write).value();
  source_ = std::make_unique<LogEventSource>(*write_);

  read_dir_ = options.read_dir.empty() ? (data / "read").string() : options.read_dir;
  CQRS_RETURN_IF_ERROR(OpenLiveStore(read_dir_));
  const store::ReadStoreOptions& r = read_->options();

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
  // models is kept up to date with its own while a rebuild makes one with the config's.
  auto models = read_->ReadModels(txn.value());
  if (!models.ok()) return models.status();
  const std::string declared = config_.ReadModelFingerprint();
  if (!models->has_value() && checkpoint->applied_seq == 0) {
    CQRS_RETURN_IF_ERROR(read_->SetReadModels(txn.value(), declared));
  } else if (models->value_or("") != declared) {
    if (!serve_)
      return Error(Code::kUnavailable,
                   "{} was built with read models '{}', the config declares '{}': remove {} to "
                   "rebuild it from the log",
                   r.dir, models->value_or(""), declared, r.dir);
    auto built_with = ParseReadModelFingerprint(models->value_or(""));
    if (!built_with.ok()) return built_with.status();
    store_models_ = std::move(built_with).value();
    applier_ = std::make_unique<EventApplier>(*read_, store_models_);
    models_changed_ = true;
    spdlog::warn(
        "{} was built with read models '{}', the config declares '{}': rebuilding it "
        "while serving from it",
        r.dir, models->value_or(""), declared);
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
  CQRS_RETURN_IF_ERROR(SeedStoreIfPassed());

  if (!serve_) return OkStatus();
  hold_ = store::LogHold(config_.data_dir, "projector");
  hold_.Set(applied_seq_);
  auto control = shm::ControlBlock::Attach(config_.data_dir, config_.cache.slots);
  if (control.ok()) {
    control_.emplace(std::move(control).value());
    control_->Claim(shm::kProjectorSlot);
    ClearCache();
    if (control_->cache().enabled() && config_.cache.fill_ms > 0) filler_.emplace(*control_);
    control_->seqs().projector_applied_seq.store(applied_seq_, std::memory_order_release);
    // No generation bump here: readers find a store switched by a projector killed before its
    // bump by looking at <data>/read's identity (every 100 ms; store/read_store_follower.h).
  } else {
    spdlog::warn("no shared-memory control block: {}", control.status().ToString());
  }
  auto security = security::ServerSecurity::Start(config_, context_);
  if (!security.ok()) return security.status();
  security_ = std::move(security).value();
  try {
    tick_sub_.set(zmq::sockopt::linger, 0);
    tick_sub_.set(zmq::sockopt::subscribe, "");
    tick_sub_.connect(config_.TickEndpoint());
    CQRS_RETURN_IF_ERROR(BindEvents(config_.EventsEndpoint()));
    CQRS_RETURN_IF_ERROR(replay_.Bind(config_.ReplayEndpoint(), security_.get()));
    tick_pub_.set(zmq::sockopt::sndhwm, 16);
    tick_pub_.set(zmq::sockopt::linger, 0);
    wire::BindResolved(tick_pub_, config_.ProjectorTickEndpoint());
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "projector endpoints: {}", e.what());
  }
  return OkStatus();
}

Status ProjectorServer::SeedStoreIfPassed() {
  store::LogHold hold = serve_ ? store::LogHold(config_.data_dir, "projector")
                               : store::LogHold::Temporary(config_.data_dir);
  // A new store (or one a machine restart discarded) on a log that no longer starts at 1, or a
  // store whose hold was released while its projector was away.
  auto seeded = SeedIfPassed(*write_, *read_, applied_seq_, hold);
  if (!seeded.ok()) return seeded.status();
  if (!seeded->has_value()) return OkStatus();
  if (applied_seq_ > 0)
    spdlog::warn(
        "{} was at seq {}, but retention had removed the events after it from the log: seeded "
        "again from the newest state checkpoint",
        read_->options().dir, applied_seq_);
  const std::uint64_t begin = MonoNs();
  CQRS_RETURN_IF_ERROR(DeriveReadModels(*read_, store_models_, kDeriveBudgetBytes));
  spdlog::info("read models derived from the seeded entities in {:.2f} s",
               static_cast<double>(MonoNs() - begin) / 1e9);
  applied_seq_ = seeded->value();
  return OkStatus();
}

Status ProjectorServer::BindEvents(const std::string& endpoint) {
  events_pub_.set(zmq::sockopt::sndhwm, static_cast<int>(config_.projector.events_sndhwm));
  events_pub_.set(zmq::sockopt::linger, 0);
  if (security_) {
    events_pub_.set(zmq::sockopt::xpub_manual, 1);
    CQRS_RETURN_IF_ERROR(
        security_->SecureAndTest(context_, events_pub_, security::ServerSocket::kXpub));
  }
  events_endpoint_ = wire::BindResolved(events_pub_, endpoint);
  return OkStatus();
}

void ProjectorServer::AdmitSubscriptions() {
  for (int handled = 0; handled < 64; ++handled) {
    zmq::message_t msg;
    if (!wire::TryRecv(events_pub_, msg)) return;
    const auto* bytes = msg.data<char>();
    if (msg.size() == 0 || (bytes[0] != 0 && bytes[0] != 1)) continue;  // not a subscription
    const std::string_view topic(bytes + 1, msg.size() - 1);
    if (bytes[0] == 0) {
      events_pub_.set(zmq::sockopt::unsubscribe, topic);
      continue;
    }
    Status refusal;
    const security::Principal* p = security_->Authenticate(security::UserId(msg), &refusal);
    if (p != nullptr && p->AllowsTopic(topic)) {
      events_pub_.set(zmq::sockopt::subscribe, topic);
      continue;
    }
    ++subscriptions_refused_;
    std::uint64_t suppressed = 0;
    if (refusal_log_.Allow(MonoNs(), &suppressed))
      spdlog::warn(
          "change feed: refused a subscription to {}: {} ({} more refused since the last "
          "report; {} in all)",
          wire::Quoted(topic),
          p == nullptr
              ? refusal.message()
              : fmt::format("principal \"{}\" (tenant {}) may not read it", p->name, p->tenant),
          suppressed, subscriptions_refused_);
  }
}

Status ProjectorServer::ReloadSecurity() {
  if (!security_->ReloadIfSignalled()) return OkStatus();
  // Subscriptions are admitted once, not per message: cut every subscriber so each comes back
  // through ZAP and admission under the new principals (the rest replay what they missed).
  spdlog::info("change feed: principals lost access; rebinding {} so every subscriber reconnects",
               events_endpoint_);
  const std::string endpoint = events_endpoint_;
  try {
    if (!wire::UnbindAndWait(context_, events_pub_, endpoint, std::chrono::seconds(2)))
      return Error(Code::kUnavailable, "unbind {}: the listener did not close in 2 s", endpoint);
    events_pub_.close();  // and with it every subscriber's connection
    events_pub_ = zmq::socket_t(context_, zmq::socket_type::xpub);
    return BindEvents(endpoint);
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "rebind {}: {}", endpoint, e.what());
  }
}

Status ProjectorServer::ApplyBatch(std::size_t count) {
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

Result<std::uint64_t> ProjectorServer::CatchUp() {
  std::uint64_t total = 0;
  for (;;) {
    auto count =
        source_->Read(applied_seq_, config_.projector.batch_max_events, kMaxBatchBytes, &batch_);
    if (!count.ok()) return count.status();
    if (count.value() == 0) break;
    CQRS_RETURN_IF_ERROR(ApplyBatch(count.value()));
    total += count.value();
    if (control_) {
      UpdateCache(count.value());
      control_->seqs().projector_applied_seq.store(applied_seq_, std::memory_order_release);
      const auto* last = flatbuffers::GetRoot<fb::Event>(batch_[count.value() - 1].data());
      const std::uint64_t now = WallNs();
      control_->seqs().projector_lag_ns.store(
          now > last->timestamp_ns() ? now - last->timestamp_ns() : 0, std::memory_order_relaxed);
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

void ProjectorServer::UpdateCache(std::size_t count) {
  shm::HotCache& cache = control_->cache();
  if (!cache.enabled()) return;
  std::uint64_t writes = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto* e = flatbuffers::GetRoot<fb::Event>(batch_[i].data());  // verified
    cache_key_.Set(AsView(e->tenant()), AsView(e->collection()), AsView(e->key()));
    if (e->op() == fb::Op::Delete) {
      writes += static_cast<std::uint64_t>(cache.Erase(cache_key_));
      continue;
    }
    // A key that had a slot is rewritten whatever its rating (it must not go stale); one that
    // had none displaces an entry only if not read less than it (the sketch's judgement).
    if (filler_) filler_->CountWrite(cache_key_.hash());
    writes += static_cast<std::uint64_t>(
        cache.Put(cache_key_, store::EventRecord(*e, &cache_fields_, &cache_record_), e->seq(),
                  filler_ ? &filler_->admission() : nullptr));
  }
  control_->slot(shm::kProjectorSlot)
      .counters[shm::kCacheWrites]
      .fetch_add(writes, std::memory_order_relaxed);
}

void ProjectorServer::ClearCache() {
  const std::uint32_t odd = control_->cache().CountMidWrite();
  if (odd > 0) spdlog::info("hot cache: {} slots left mid-write by a killed projector", odd);
  control_->cache().Clear();
}

void ProjectorServer::FillCache() {
  if (!filler_) return;
  auto filled = filler_->Fill(*read_);
  if (!filled.ok()) {
    // A failed read leaves the cache as it was (each fill is whole or absent): say so, go on.
    std::uint64_t suppressed = 0;
    if (fill_log_.Allow(MonoNs(), &suppressed))
      spdlog::warn("hot cache fill: {} ({} more since the last report)", filled.status().ToString(),
                   suppressed);
    return;
  }
  control_->slot(shm::kProjectorSlot)
      .counters[shm::kCacheWrites]
      .fetch_add(filled.value(), std::memory_order_relaxed);
}

void ProjectorServer::PublishBatch(std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto* event = flatbuffers::GetRoot<fb::Event>(batch_[i].data());  // verified
    wire::EventTopic(*event, security_ != nullptr, &topic_);
    zmq::message_t topic(topic_.data(), topic_.size());
    zmq::message_t body(batch_[i].data(), batch_[i].size());
    // PUB never blocks: past a subscriber's high-water mark it drops, and the subscriber sees
    // the gap by seq and replays.
    (void)wire::SendRetryingSignals(events_pub_, topic,
                                    zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    (void)wire::SendRetryingSignals(events_pub_, body, zmq::send_flags::dontwait);
  }
  if (control_)
    control_->slot(shm::kProjectorSlot)
        .counters[shm::kEventsPublished]
        .fetch_add(count, std::memory_order_relaxed);
}

void ProjectorServer::PublishTick() {
  std::uint8_t buf[8];
  store::PutU64LE(buf, applied_seq_);
  zmq::message_t msg(buf, sizeof buf);
  (void)wire::SendRetryingSignals(tick_pub_, msg, zmq::send_flags::dontwait);
}

void ProjectorServer::PublishHeartbeat() {
  batch_builder_.Begin();
  auto bytes = batch_builder_.Finish(Code::kOk, {}, applied_seq_);
  zmq::message_t topic(wire::kHeartbeatTopic.data(), wire::kHeartbeatTopic.size());
  zmq::message_t body(bytes.data(), bytes.size());
  (void)wire::SendRetryingSignals(events_pub_, topic,
                                  zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  (void)wire::SendRetryingSignals(events_pub_, body, zmq::send_flags::dontwait);
  PublishTick();  // also lets a reader that missed a tick notice
  if (control_) {
    control_->Beat(shm::kProjectorSlot);
    control_->ExitIfOrphaned();
  }
}

Status ProjectorServer::OpenLiveStore(const std::string& dir) {
  store::ReadStoreOptions r;
  r.dir = dir;
  r.map_size = config_.projector.map_size_mb << 20;
  r.max_map_size = config_.projector.max_map_size_mb << 20;
  r.sync_commits = config_.projector.sync_read_store;
  auto read = store::ReadStore::Open(r);
  if (!read.ok()) return read.status();
  read_ = std::move(read).value();
  store_models_ = config_.collections;
  models_changed_ = false;
  applier_ = std::make_unique<EventApplier>(*read_, store_models_);
  return OkStatus();
}

void ProjectorServer::CheckReaders() {
  if (serve_) RemoveOldStores();
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

void ProjectorServer::Run(const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  const auto heartbeat = std::chrono::milliseconds(config_.projector.heartbeat_ms);
  const auto poll = std::chrono::milliseconds(config_.projector.poll_ms);
  const auto check = std::chrono::milliseconds(config_.projector.reader_check_ms);
  auto now = Clock::now();
  const auto fill = std::chrono::milliseconds(std::max<std::uint32_t>(config_.cache.fill_ms, 1));
  auto next_heartbeat = now, next_poll = now, next_check = now + check, next_fill = now + fill;
  zmq::pollitem_t items[] = {{tick_sub_.handle(), 0, ZMQ_POLLIN, 0},
                             {replay_.socket().handle(), 0, ZMQ_POLLIN, 0},
                             {events_pub_.handle(), 0, ZMQ_POLLIN, 0}};
  // The events socket is polled only with security on (it then carries subscriptions to admit).
  const std::size_t polled = security_ ? 3 : 2;
  zmq::message_t tick;
  const auto until_max = Clock::time_point::max();
  while (!stop.load(std::memory_order_relaxed)) {
    now = Clock::now();
    auto until = std::min({next_heartbeat, next_poll, next_check, filler_ ? next_fill : until_max});
    // Rounded up: a wait truncated to 0 ms would spin until the deadline.
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - now);
    try {
      zmq::poll(items, polled, std::clamp(wait, std::chrono::milliseconds(0), heartbeat));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    bool ticked = false;
    if (items[0].revents & ZMQ_POLLIN) {
      while (wire::TryRecv(tick_sub_, tick)) ticked = true;  // the latest wins
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
    hold_.Set(applied_seq_);  // written once the period since the last write has passed
    if (filler_ && (ticked || now >= next_fill)) {
      // After the batch's commit and its applied seq: the read store is at that seq.
      FillCache();
      next_fill = Clock::now() + fill;
    }
    MaybeStartRebuild();
    if (rebuild_ && rebuild_->done.load(std::memory_order_acquire)) {
      if (Status s = FinishRebuild(); !s.ok()) {
        spdlog::error("rebuild failed: {}", s.ToString());
        throw std::runtime_error(s.ToString());
      }
    }
    if (items[1].revents & ZMQ_POLLIN) {
      const int served = replay_.Serve(*write_, *read_, applied_seq_, security_.get());
      if (control_)
        control_->slot(shm::kProjectorSlot)
            .counters[shm::kReplayRequests]
            .fetch_add(static_cast<std::uint64_t>(served), std::memory_order_relaxed);
    }
    if (security_) {
      if (items[2].revents & ZMQ_POLLIN) AdmitSubscriptions();
      if (Status s = ReloadSecurity(); !s.ok()) {
        spdlog::error("{}", s.ToString());
        throw std::runtime_error(s.ToString());  // the supervisor restarts us, bound again
      }
      items[2].socket = events_pub_.handle();  // a new socket after a rebind
    }
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
  if (control_ && control_->RemoveIfUnused()) spdlog::info("removed the unused shared memory");
}

}  // namespace cqrs::projector
