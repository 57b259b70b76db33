// The writer's receive → group commit → reply loop.
#include "writer/writer_server.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>

#include "base/clock.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/status.h"
#include "store/key_format.h"
#include "wire/command_codec.h"
#include "wire/protocol.h"
#include "writer/state_recovery.h"

namespace cqrs::writer {

WriterServer::WriterServer(const Config& config, zmq::context_t& context)
    : config_(config),
      router_(context, zmq::socket_type::router),
      tick_(context, zmq::socket_type::pub),
      shed_decoder_(config.limits) {}

WriterServer::~WriterServer() {
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
}

Result<std::unique_ptr<WriterServer>> WriterServer::Open(const Config& config,
                                                         zmq::context_t& context) {
  std::unique_ptr<WriterServer> server(new WriterServer(config, context));
  store::WriteStoreOptions options;
  options.dir = (std::filesystem::path(config.data_dir) / "write").string();
  options.durability = config.writer.durability;
  options.map_size = config.writer.map_size_mb << 20;
  options.max_map_size = config.writer.max_map_size_mb << 20;
  auto store = store::WriteStore::Open(options);
  if (!store.ok()) return store.status();
  server->store_ = std::move(store).value();
  store::StateStoreOptions state_options;
  state_options.dir = options.dir + "/state";
  state_options.map_size = options.map_size;
  state_options.max_map_size = options.max_map_size;
  state_options.checkpoints_dir = options.dir + "/checkpoints";
  server->checkpoints_dir_ = state_options.checkpoints_dir;
  auto state = store::StateStore::Open(state_options, server->store_->store_id());
  if (!state.ok()) return state.status();
  server->state_ = std::move(state).value();
  // Serve only a state that reflects every committed event.
  auto caught = CatchUpState(*server->store_, *server->state_);
  if (!caught.ok()) return caught.status();
  if (!server->state_->discarded().empty() || server->state_->restored_seq() > 0)
    spdlog::warn("entity state rebuilt: {} events applied from the log (seq {}..{}) onto {}",
                 caught->events, caught->from_seq + 1, caught->to_seq,
                 server->state_->restored_seq() > 0
                     ? fmt::format("checkpoint seq {}", server->state_->restored_seq())
                     : std::string("an empty state"));
  server->last_checkpoint_seq_ = caught->to_seq;  // nothing new to checkpoint yet
  // A checkpoint cut short by a crash left its temp files: remove them (never used).
  const std::vector<store::StateCheckpoint> checkpoints =
      store::ListStateCheckpoints(server->checkpoints_dir_, true);
  if (config.log.retains()) {
    // Retention keeps the events after the newest checkpoint that verifies, so that one can
    // be started from.
    for (const store::StateCheckpoint& c : checkpoints) {
      Status v = store::VerifyStateCheckpoint(c, server->store_->store_id());
      if (v.ok()) {
        server->durable_checkpoint_seq_ = c.seq;
        break;
      }
      spdlog::warn("state checkpoint {} does not verify: {}", c.path, v.ToString());
    }
    server->retention_ =
        std::make_unique<LogRetention>(*server->store_, config.data_dir, config.log);
  }
  auto security = security::ServerSecurity::Start(config, context);
  if (!security.ok()) return security.status();
  server->security_ = std::move(security).value();
  if (server->security_)
    server->authorizer_ = std::make_unique<PrincipalAuthorizer>(*server->security_);
  else
    server->authorizer_ = std::make_unique<OpenAuthorizer>();
  server->committer_ = std::make_unique<BatchCommitter>(*server->store_, *server->state_,
                                                        config.limits, *server->authorizer_);
  server->sweeper_ = std::make_unique<ClientSweeper>(
      *server->store_, config.writer.client_expiry_s * 1'000'000'000ull);

  wire::SocketTuning tuning;
  tuning.max_message_bytes = config.writer.max_message_bytes;
  try {
    wire::ConfigureRouter(server->router_, tuning);
    if (server->security_)
      CQRS_RETURN_IF_ERROR(server->security_->SecureAndTest(context, server->router_,
                                                            security::ServerSocket::kRouter));
    server->endpoint_ = wire::BindResolved(server->router_, config.WriterEndpoint());
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "bind {}: {}", config.WriterEndpoint(), e.what());
  }
  try {
    server->tick_.set(zmq::sockopt::sndhwm, 16);  // a tick carries the latest seq: drops are fine
    server->tick_.set(zmq::sockopt::linger, 0);
    server->tick_endpoint_ = wire::BindResolved(server->tick_, config.TickEndpoint());
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "bind {}: {}", config.TickEndpoint(), e.what());
  }
  server->last_tick_seq_ = server->committer_->committed_seq();
  auto control = shm::ControlBlock::Attach(config.data_dir, config.cache.slots);
  if (control.ok()) {
    server->control_.emplace(std::move(control).value());
    // The seq before the heartbeat: readers trust it as the committed head while we beat.
    server->control_->seqs().writer_committed_seq.store(server->last_tick_seq_,
                                                        std::memory_order_release);
    server->control_->Claim(shm::kWriterSlot);
  } else {
    spdlog::warn("no shared-memory control block: {}", control.status().ToString());
  }
  return server;
}

void WriterServer::Run(const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  const auto check_period = std::chrono::milliseconds(config_.writer.reader_check_ms);
  auto next_check = Clock::now() + check_period;
  auto next_sweep = Clock::now();
  auto next_retention = Clock::now();
  zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0}};
  while (!stop.load(std::memory_order_relaxed)) {
    // The poll timeout bounds how late a stop request or a reader check can be noticed.
    auto wait = std::min(std::chrono::ceil<std::chrono::milliseconds>(next_check - Clock::now()),
                         std::chrono::milliseconds(100));
    try {
      zmq::poll(items, 1, std::max(wait, std::chrono::milliseconds(0)));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    // Between batches (no tenant view is held), before the next one: after a SIGHUP no request
    // is judged by the old principals.
    if (security_) security_->ReloadIfSignalled();
    // One batch per turn (the poll returns at once while more is waiting), so the reader
    // check and a stop request are never starved by a steady load.
    if (items[0].revents & ZMQ_POLLIN) ProcessBatch();
    if (Clock::now() >= next_check) {
      CheckReaders();
      next_check = Clock::now() + check_period;
    }
    if (Clock::now() >= next_sweep) next_sweep = SweepClients();
    CheckpointIfDue(false);
    if (retention_ && Clock::now() >= next_retention) next_retention = RetainLog();
    if (control_) {
      control_->Beat(shm::kWriterSlot);
      control_->ExitIfOrphaned();
    }
  }
  // Let the last replies leave before the socket closes. The stores' destructors sync what
  // was not synced (the nosync log, the state) and remove their `unsynced` guards.
  router_.set(zmq::sockopt::linger, 1000);
  committer_->CommitState();
  CheckpointIfDue(true);
  if (control_ && control_->RemoveIfUnused()) spdlog::info("removed the unused shared memory");
}

void WriterServer::Admit(Slot& slot) {
  const zmq::message_t& body = slot.message.body();
  // Copy into an aligned buffer: ZeroMQ frames are often misaligned (docs/DEPENDENCY_FACTS.md
  // fact 5).
  slot.buffer.Assign(body.data(), body.size());
  const Identity identity{security::UserId(body)};
  const Status frames =
      slot.message.too_many_frames()
          ? Error(Code::kInvalidArgument, "message has more than {} frames", wire::kMaxFrames)
          : Status();
  slot.batch = wire::IsBatch(wire::BatchKind::kCommands, slot.buffer.span());
  if (!slot.batch) {
    slot.item.frame = slot.buffer.span();
    slot.item.identity = identity;
    slot.item.refusal = frames;
    batch_.push_back(&slot.item);
    return;
  }
  // A CommandBatch: each request a BatchItem of its own, exactly as if it had come alone.
  slot.nested_count = 0;
  slot.batch_refusal = wire::ForEachNestedFrame(
      slot.buffer.span(), wire::BatchKind::kCommands, config_.limits.max_request_bytes,
      kMaxBatchRequests, [&](std::span<const std::uint8_t> frame) {
        const std::size_t i = slot.nested_count++;
        if (slot.nested.size() <= i) {
          slot.nested.resize(i + 1);
          slot.nested_copies.resize(i + 1);
        }
        BatchItem& item = slot.nested[i];
        item.frame = slot.nested_copies[i].AlignedView(frame);
        item.identity = identity;
        item.refusal = frames;
      });
  if (!slot.batch_refusal.ok()) {
    slot.nested_count = 0;
    return;
  }
  for (std::size_t i = 0; i < slot.nested_count; ++i) batch_.push_back(&slot.nested[i]);
}

bool WriterServer::RefuseWhole(wire::InboundMessage& message, const Status& why) {
  wire::BuildCommandReply(shed_fbb_, 0, why.code(), why.message(), -1, 0, {});
  return wire::SendEnvelopeReply(router_, message.envelope(),
                                 {shed_fbb_.GetBufferPointer(), shed_fbb_.GetSize()});
}

bool WriterServer::SendReplies(Slot& slot) {
  if (!slot.batch)
    return wire::SendEnvelopeReply(router_, slot.message.envelope(), slot.item.reply);
  if (!slot.batch_refusal.ok()) return RefuseWhole(slot.message, slot.batch_refusal);
  batch_reply_.Begin();
  for (std::size_t i = 0; i < slot.nested_count; ++i) batch_reply_.Add(slot.nested[i].reply);
  return wire::SendEnvelopeReply(router_, slot.message.envelope(),
                                 batch_reply_.Finish(wire::BatchKind::kCommandReplies));
}

bool WriterServer::ProcessBatch() {
  const std::size_t max_requests = config_.writer.batch_max_requests;
  const std::uint64_t max_bytes = config_.writer.batch_max_bytes;
  batch_.clear();
  slots_used_ = 0;
  std::uint64_t bytes = 0;
  while (batch_.size() < max_requests && bytes < max_bytes) {
    if (slots_.size() == slots_used_) slots_.push_back(std::make_unique<Slot>());
    Slot& slot = *slots_[slots_used_];
    if (!slot.message.TryReceive(router_)) break;
    slot.received_ns = MonoNs();
    bytes += slot.message.body_size();
    Admit(slot);
    ++slots_used_;
  }
  if (slots_used_ == 0) return false;
  if (batch_.size() >= max_requests && config_.writer.shed_overload) ShedWaiting(max_requests);
  counters_.max_batch = std::max<std::uint64_t>(counters_.max_batch, batch_.size());

#ifdef CQRS_MISTAKE_ACK_BEFORE_COMMIT  // the injected mistake of tests/faults (make mistakes)
  bool replied = false;
  committer_->before_commit = [&](std::span<BatchItem*>) {
    for (std::size_t i = 0; i < slots_used_; ++i) (void)SendReplies(*slots_[i]);
    replied = true;
  };
#else
  const bool replied = false;
#endif
  std::uint64_t seq = committer_->Commit(batch_);
  // Published before any reply: a reader refuses a min_seq above it (no client can hold one).
  if (control_) control_->seqs().writer_committed_seq.store(seq, std::memory_order_release);

  std::uint64_t errors = 0, dropped = 0, requests = 0;
  for (std::size_t i = 0; i < slots_used_; ++i) {
    Slot& slot = *slots_[i];
    const std::size_t count = slot.batch ? std::max<std::size_t>(slot.nested_count, 1) : 1;
    requests += count;
    if (slot.batch && !slot.batch_refusal.ok()) ++errors;
    if (replied || fault::Fire(fault::Point::kDropReply)) continue;  // sent, or a lost reply
    if (!SendReplies(slot)) ++dropped;
    if (control_)  // receipt to reply, the commit's fsync included
      control_->slot(shm::kWriterSlot)
          .latency[shm::LatencyBucket(MonoNs() - slot.received_ns)]
          .fetch_add(count, std::memory_order_relaxed);
  }
  for (const BatchItem* item : batch_)
    if (item->status != Code::kOk) ++errors;
  committer_->CommitState();  // after the replies: the state is a cache of the committed log
  counters_.replies_dropped += dropped;
  if (control_) {
    auto& c = control_->slot(shm::kWriterSlot).counters;
    c[shm::kRequests].fetch_add(requests, std::memory_order_relaxed);
    c[shm::kRequestErrors].fetch_add(errors, std::memory_order_relaxed);
    c[shm::kBatches].fetch_add(1, std::memory_order_relaxed);
    c[shm::kRepliesDropped].fetch_add(dropped, std::memory_order_relaxed);
  }
  PublishTick(seq);
  return true;
}

void WriterServer::ShedWaiting(std::size_t max) {
  std::size_t shed = 0;
  static constexpr std::string_view kShed =
      "writer overloaded: a full batch is being committed and more requests wait; nothing was "
      "applied, retry after a backoff";
  // Only for the request id (0 if the frame does not verify: the client cannot match it).
  auto refusal = [this](std::span<const std::uint8_t> frame) {
    std::uint64_t request_id = shed_decoder_.Decode(frame).request_id;
    wire::BuildCommandReply(shed_fbb_, request_id, Code::kResourceExhausted, kShed, -1, 0, {});
    return std::span<const std::uint8_t>(shed_fbb_.GetBufferPointer(), shed_fbb_.GetSize());
  };
  while (shed < max) {
    if (!shed_.message.TryReceive(router_)) break;
    const zmq::message_t& body = shed_.message.body();
    shed_.buffer.Assign(body.data(), body.size());
    bool sent = false;
    if (!wire::IsBatch(wire::BatchKind::kCommands, shed_.buffer.span())) {
      sent =
          wire::SendEnvelopeReply(router_, shed_.message.envelope(), refusal(shed_.buffer.span()));
      ++shed;
    } else {
      batch_reply_.Begin();
      Status whole = wire::ForEachNestedFrame(shed_.buffer.span(), wire::BatchKind::kCommands,
                                              config_.limits.max_request_bytes, kMaxBatchRequests,
                                              [&](std::span<const std::uint8_t> frame) {
                                                shed_copy_.Assign(frame.data(), frame.size());
                                                batch_reply_.Add(refusal(shed_copy_.span()));
                                                ++shed;
                                              });
      if (!whole.ok()) {  // refused as a whole, as it would be if it were admitted
        sent = RefuseWhole(shed_.message, whole);
      } else {
        sent = wire::SendEnvelopeReply(router_, shed_.message.envelope(),
                                       batch_reply_.Finish(wire::BatchKind::kCommandReplies));
      }
    }
    if (!sent) ++counters_.replies_dropped;
  }
  counters_.shed += shed;
  std::uint64_t suppressed = 0;
  if (shed > 0 && shed_log_.Allow(MonoNs(), &suppressed))
    spdlog::warn(
        "overloaded: answered {} requests ResourceExhausted ({} more rounds not logged "
        "since the last report; {} in all)",
        shed, suppressed, counters_.shed);
}

void WriterServer::PublishTick(std::uint64_t seq) {
  if (seq == last_tick_seq_) return;
  last_tick_seq_ = seq;
  std::uint8_t buf[8];
  store::PutU64LE(buf, seq);
  zmq::message_t msg(buf, sizeof buf);
  try {
    (void)tick_.send(msg, zmq::send_flags::dontwait);  // no subscriber or full: the timer covers it
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;  // a signal: this tick is lost, the projector's timer covers it
  }
}

std::chrono::steady_clock::time_point WriterServer::SweepClients() {
  using namespace std::chrono_literals;
  // A bounded step (1,024 records, their replies) between batches: a few milliseconds at most,
  // every 100 ms while a pass is under way; then a pause of a quarter of the expiry (at most a
  // minute) before the next pass, so an idle writer does not scan for nothing.
  committer_->CommitState();
  bool pass_done = false;
  Status s = sweeper_->Step(WallNs(), 1024, &pass_done);
  if (!s.ok()) {
    spdlog::warn("client expiry: {}", s.ToString());
    return std::chrono::steady_clock::now() + 1s;
  }
  if (!pass_done) return std::chrono::steady_clock::now() + 100ms;
  auto pause = std::chrono::milliseconds(config_.writer.client_expiry_s * 1000 / 4);
  return std::chrono::steady_clock::now() +
         std::clamp<std::chrono::milliseconds>(pause, 100ms, 60s);
}

std::chrono::steady_clock::time_point WriterServer::RetainLog() {
  using namespace std::chrono_literals;
  // Steps of log.step_events events interleave with batches while there is more to remove (a
  // batch waits for at most one step); then the floor is looked at again once a second.
  const std::uint64_t removed_before = retention_->stats().removed;
  bool more = false;
  Status s = retention_->Step(WallNs(), durable_checkpoint_seq_, &more);
  if (!s.ok()) {
    if (store::IsMapFull(s)) {  // a delete splits no page, but the meta put may need one
      if (Status g = store_->Grow(); !g.ok()) spdlog::warn("event log map: {}", g.ToString());
    }
    spdlog::warn("log retention: {}", s.ToString());
    return std::chrono::steady_clock::now() + 1s;
  }
  const RetentionStats& after = retention_->stats();
  std::uint64_t suppressed = 0;
  if (after.removed != removed_before && retention_log_.Allow(MonoNs(), &suppressed))
    spdlog::info("log retention: {} events removed so far; the log starts at seq {} (floor {}: {})",
                 after.removed, after.first_seq, after.floor.seq, after.floor.holder);
  return more ? std::chrono::steady_clock::now() : std::chrono::steady_clock::now() + 1s;
}

void WriterServer::CheckpointIfDue(bool wait) {
  using Clock = std::chrono::steady_clock;
  if (checkpoint_thread_.joinable()) {
    if (!wait && !checkpoint_finished_.load(std::memory_order_acquire)) return;
    checkpoint_thread_.join();
    if (checkpoint_result_.ok()) {
      last_checkpoint_seq_ = checkpoint_result_->seq;
      durable_checkpoint_seq_ = checkpoint_result_->seq;  // written, fsynced and renamed
      checkpoint_retry_delay_ = std::chrono::seconds(0);
      store::PruneStateCheckpoints(checkpoints_dir_, 2);
      spdlog::info("state checkpoint at seq {} written: {}", checkpoint_result_->seq,
                   checkpoint_result_->path);
    } else {
      // Commands are served meanwhile; the log still holds everything. Try again after 1 s,
      // then twice as long each time, up to a minute (a full disk may take a while to clear).
      checkpoint_retry_delay_ = std::clamp(checkpoint_retry_delay_ * 2, std::chrono::seconds(1),
                                           std::chrono::seconds(60));
      checkpoint_retry_at_ = Clock::now() + checkpoint_retry_delay_;
      spdlog::warn("state checkpoint failed (retried in {} s): {}", checkpoint_retry_delay_.count(),
                   checkpoint_result_.status().ToString());
    }
    return;
  }
  if (wait) return;
  const WriterConfig& w = config_.writer;
  const std::uint64_t seq = committer_->committed_seq();
  if (seq == last_checkpoint_seq_ || Clock::now() < checkpoint_retry_at_) return;
  const bool by_events = w.checkpoint_interval_events > 0 &&
                         seq - last_checkpoint_seq_ >= w.checkpoint_interval_events;
  const bool by_time =
      w.checkpoint_interval_s > 0 &&
      Clock::now() - last_checkpoint_time_ >= std::chrono::seconds(w.checkpoint_interval_s);
  if (!by_events && !by_time) return;
  last_checkpoint_time_ = Clock::now();
  committer_->CommitState();  // the copy then holds every committed batch
  // Grow ahead: the map cannot be resized while the copy runs (Grow would wait for it).
  if (state_->env().used_fraction() > 0.5) {
    if (Status s = state_->Grow(); !s.ok()) spdlog::warn("entity state map: {}", s.ToString());
  }
  checkpoint_finished_.store(false, std::memory_order_relaxed);
  checkpoint_thread_ = std::thread([this] {
    checkpoint_result_ = store::WriteStateCheckpoint(*state_, checkpoints_dir_);
    checkpoint_finished_.store(true, std::memory_order_release);
  });
}

void WriterServer::CheckReaders() {
  auto cleared = store_->env().ReaderCheck();
  if (!cleared.ok()) {
    spdlog::warn("{}", cleared.status().ToString());
  } else if (cleared.value() > 0) {
    spdlog::info("mdb_reader_check cleared {} stale reader slots", cleared.value());
  }
}

}  // namespace cqrs::writer
