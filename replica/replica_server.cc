// The replica's loop: NATS JetStream stream → the local copy of the log.
#include "replica/replica_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "base/status.h"
#include "store/key_format.h"
#include "store/namespaces.h"
#include "store/write_store_format.h"
#include "wire/log_segment.h"
#include "wire/protocol.h"
#include "wire/zmq_util.h"

namespace cqrs::replica {
namespace {

// One transaction copies at most this much: a bounded batch, and one commit per many segments
// when catching up.
constexpr std::size_t kMaxBatchMessages = 256;
constexpr std::size_t kMaxBatchBytes = 16u << 20;
constexpr std::chrono::milliseconds kBeat(100);

// The stream sequence of a message delivered by a JetStream consumer (from its reply subject).
Result<std::uint64_t> StreamSeqOf(natsMsg* msg) {
  jsMsgMetaData* meta = nullptr;
  natsStatus s = natsMsg_GetMetaData(&meta, msg);
  if (s != NATS_OK)
    return Error(Code::kInternal, "a stream message without JetStream metadata: {}",
                 mirror::NatsError(s));
  const std::uint64_t seq = meta->Sequence.Stream;
  jsMsgMetaData_Destroy(meta);
  return seq;
}

}  // namespace

ReplicaServer::ReplicaServer(const Config& config, zmq::context_t& context)
    : config_(config), tick_pub_(context, zmq::socket_type::pub) {}

Result<std::unique_ptr<ReplicaServer>> ReplicaServer::Open(const Config& config,
                                                           zmq::context_t& context) {
  std::unique_ptr<ReplicaServer> r(new ReplicaServer(config, context));
  CQRS_RETURN_IF_ERROR(r->Init());
  return r;
}

Status ReplicaServer::Init() {
  const std::filesystem::path log = std::filesystem::path(config_.data_dir) / "write" / "log";
  if (std::filesystem::exists(log / "data.mdb")) {
    // Missing after all when it was removed (unsynced before a machine restart): the first
    // message then names the store again.
    Status opened = OpenCopy(false, "");
    if (!opened.ok() && !store::IsMissingStore(opened)) return opened;
  }
  control_ =
      shm::ControlBlock::AttachAndClaim(config_.data_dir, config_.cache.slots, shm::kMirrorSlot);
  if (control_) control_->seqs().writer_committed_seq.store(copied_seq_, std::memory_order_release);
  try {
    tick_pub_.set(zmq::sockopt::sndhwm, 16);  // a tick carries the latest seq: drops are fine
    tick_pub_.set(zmq::sockopt::linger, 0);
    wire::BindResolved(tick_pub_, config_.TickEndpoint());
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "bind {}: {}", config_.TickEndpoint(), e.what());
  }
  return OkStatus();
}

Status ReplicaServer::OpenCopy(bool create, const std::string& store_id) {
  store::WriteStoreOptions w;
  w.dir = (std::filesystem::path(config_.data_dir) / "write").string();
  // A cache of the stream, not a source of truth: never fsynced per batch (0.4 ms less from a
  // command to its visibility here); after a machine crash it is copied again (the unsynced
  // guard, store/unsynced_guard.h).
  w.durability = Durability::kNoSync;
  w.map_size = config_.writer.map_size_mb << 20;
  w.max_map_size = config_.writer.max_map_size_mb << 20;
  w.copy_of_stream = config_.mirror.stream;
  w.copy_store_id = store_id;
  auto opened = store::WriteStore::Open(w);
  if (!opened.ok()) return opened.status();
  copy_ = std::move(opened).value();
  auto txn = store::Txn::BeginRead(copy_->env());
  if (!txn.ok()) return txn.status();
  auto last = copy_->LastSeq(txn.value());
  if (!last.ok()) return last.status();
  auto stream_seq = copy_->CopiedStreamSeq(txn.value());
  if (!stream_seq.ok()) return stream_seq.status();
  copied_seq_ = last.value();
  stream_seq_ = stream_seq.value();
  if (create)
    spdlog::info("made {}, a copy of write store {}", copy_->log_dir(), copy_->store_id());
  else
    spdlog::info("{} is a copy of write store {} up to seq {} (stream message {})",
                 copy_->log_dir(), copy_->store_id(), copied_seq_, stream_seq_);
  return OkStatus();
}

void ReplicaServer::Beat() {
  if (!control_) return;
  control_->Beat(shm::kMirrorSlot);
  control_->ExitIfOrphaned();
}

Status ReplicaServer::Sync() {
  if (!link_) {
    auto link = mirror::NatsLink::Connect(config_.mirror, "cqrs-replica");
    if (!link.ok()) return link.status();
    link_ = std::move(link).value();
    subscribed_ = false;
  }
  if (subscribed_) return OkStatus();
  const std::uint64_t from = stream_seq_ + 1;
  CQRS_RETURN_IF_ERROR(link_->Subscribe(from));
  subscribed_ = true;
  subscribed_from_ = from;
  retry_.ClearCause();
  spdlog::info("consuming NATS stream {} from message {} (the copy is at seq {})",
               config_.mirror.stream, from, copied_seq_);
  return OkStatus();
}

Result<std::uint64_t> ReplicaServer::CopyNext(std::int64_t wait_ms) {
  messages_.clear();
  std::size_t bytes = 0;
  for (;;) {
    auto next = link_->Next(messages_.empty() ? wait_ms : 1);
    if (!next.ok()) {
      subscribed_ = false;  // subscribe again, from the checkpoint
      return next.status();
    }
    if (!next.value()) break;
    bytes += static_cast<std::size_t>(natsMsg_GetDataLength(next.value().get()));
    messages_.push_back(std::move(next).value());
    if (messages_.size() >= kMaxBatchMessages || bytes >= kMaxBatchBytes || link_->pending() == 0)
      break;
  }
  if (messages_.empty()) return std::uint64_t{0};
  if (segments_.size() < messages_.size()) segments_.resize(messages_.size());
  for (std::size_t i = 0; i < messages_.size(); ++i)
    segments_[i].Assign(natsMsg_GetData(messages_[i].get()),
                        static_cast<std::size_t>(natsMsg_GetDataLength(messages_[i].get())));
  if (!copy_) {
    // The first message names the store this host copies.
    wire::SegmentHeader header;
    Status s = wire::ForEachSegmentEvent(
        segments_[0].span(), wire::kMaxTrustedFrameBytes, &header,
        [](const fb::Event&, std::span<const std::uint8_t>) { return OkStatus(); });
    if (!s.ok())
      return Error(Code::kInternal, "a message of NATS stream {} is not a cqrs log segment: {}",
                   config_.mirror.stream, s.message());
    CQRS_RETURN_IF_ERROR(OpenCopy(true, std::string(header.store_id)));
  }
  bool gap = false;
  std::uint64_t appended = 0;
  CQRS_RETURN_IF_ERROR(Append(&gap, &appended));
  if (gap) {
    subscribed_ = false;
    if (subscribed_from_ > 1) {
      // The stream was renumbered (deleted and refilled): start over from its first message.
      spdlog::warn(
          "NATS stream {} message {} does not follow the copy's seq {}: the stream was "
          "refilled; consuming it again from its first message",
          config_.mirror.stream, stream_seq_ + 1, copied_seq_);
      stream_seq_ = 0;
      return std::uint64_t{0};
    }
    return Error(Code::kInternal,
                 "NATS stream {} misses events after seq {} (its messages skip them): this "
                 "copy cannot follow it; remove {} to copy the stream from its start",
                 config_.mirror.stream, copied_seq_, config_.data_dir);
  }
  if (appended > 0) {
    if (control_) {
      control_->seqs().writer_committed_seq.store(copied_seq_, std::memory_order_release);
      auto& slot = control_->slot(shm::kMirrorSlot);
      slot.counters[shm::kBatches].fetch_add(messages_.size(), std::memory_order_relaxed);
      slot.counters[shm::kEventsPublished].fetch_add(appended, std::memory_order_relaxed);
    }
    PublishTick();
  }
  messages_.clear();
  return appended;
}

Status ReplicaServer::Append(bool* gap, std::uint64_t* appended) {
  for (;;) {
    auto begun = store::Txn::BeginWrite(copy_->env());
    if (!begun.ok()) return begun.status();
    store::Txn txn = std::move(begun).value();
    std::uint64_t last = copied_seq_, stream_seq = stream_seq_;
    Status s;
    for (std::size_t i = 0; s.ok() && i < messages_.size(); ++i) {
      auto message_seq = StreamSeqOf(messages_[i].get());
      if (!message_seq.ok()) return message_seq.status();
      wire::SegmentHeader header;
      s = wire::ForEachSegmentEvent(
          segments_[i].span(), wire::kMaxTrustedFrameBytes, &header,
          [&](const fb::Event& event, std::span<const std::uint8_t> frame) -> Status {
            if (event.seq() <= last) return OkStatus();  // copied before
            if (event.seq() != last + 1) {
              *gap = true;
              return Error(Code::kOutOfOrder, "gap");
            }
            CQRS_RETURN_IF_ERROR(
                txn.Put(copy_->dbs().events, store::SeqKey(event.seq()).view(),
                        {reinterpret_cast<const char*>(frame.data()), frame.size()}, MDB_APPEND));
            last = event.seq();
            return OkStatus();
          });
      if (*gap) return OkStatus();  // the transaction aborts with nothing appended
      if (!s.ok()) {
        if (store::IsMapFull(s)) break;
        return Error(Code::kInternal, "message {} of NATS stream {} is not a cqrs log segment: {}",
                     message_seq.value(), config_.mirror.stream, s.message());
      }
      if (header.store_id != copy_->store_id())
        return Error(Code::kAlreadyExists,
                     "NATS stream {} carries the log of write store {}, but {} is a copy of {}: "
                     "remove {} to copy the new one",
                     config_.mirror.stream, header.store_id, copy_->log_dir(), copy_->store_id(),
                     config_.data_dir);
      stream_seq = message_seq.value();
    }
    if (s.ok() && last == copied_seq_ && stream_seq == stream_seq_) return OkStatus();
    if (s.ok()) s = txn.Put(copy_->dbs().meta, store::kMetaLastSeq, store::U64Value(last).view());
    if (s.ok())
      s = txn.Put(copy_->dbs().meta, store::kMetaStreamSeq, store::U64Value(stream_seq).view());
    if (s.ok()) s = txn.Commit();
    if (s.ok()) {
      *appended = last - copied_seq_;
      copied_seq_ = last;
      stream_seq_ = stream_seq;
      return OkStatus();
    }
    txn.Abort();
    if (!store::IsMapFull(s)) return s;
    CQRS_RETURN_IF_ERROR(copy_->Grow());
    spdlog::info("copy of the log grown to {} MiB", copy_->env().map_size() >> 20);
  }
}

void ReplicaServer::PublishTick() {
  std::uint8_t buf[8];
  store::PutU64LE(buf, copied_seq_);
  zmq::message_t msg(buf, sizeof buf);
  (void)wire::SendRetryingSignals(tick_pub_, msg, zmq::send_flags::dontwait);
}

Status ReplicaServer::Run(const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  auto next_beat = Clock::now();
  while (!stop.load(std::memory_order_relaxed)) {
    if (Clock::now() >= next_beat) {
      Beat();
      next_beat = Clock::now() + kBeat;
    }
    Status step = Sync();
    if (step.ok()) {
      auto copied = CopyNext(kBeat.count());
      if (copied.ok()) {
        retry_.Succeeded();
        continue;
      }
      step = copied.status();
    }
    if (step.code() != Code::kUnavailable) return step;
    std::this_thread::sleep_for(retry_.Failed(step));
  }
  return OkStatus();
}

}  // namespace cqrs::replica
