// The mirror's loop: log → segments → NATS JetStream.
#include "mirror/mirror_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "base/status.h"
#include "wire/event_codec.h"

namespace cqrs::mirror {
namespace {

constexpr std::size_t kMaxSegmentEvents = 100000;
constexpr std::chrono::milliseconds kBeat(100);

}  // namespace

MirrorServer::MirrorServer(const Config& config, zmq::context_t& context)
    : config_(config), context_(context), hold_(config.data_dir, "mirror") {}

Result<std::unique_ptr<MirrorServer>> MirrorServer::Open(const Config& config,
                                                         zmq::context_t& context) {
  std::unique_ptr<MirrorServer> m(new MirrorServer(config, context));
  CQRS_RETURN_IF_ERROR(m->Init());
  return m;
}

Status MirrorServer::Init() {
  auto log = projector::LocalLogTail::Open(config_, context_);
  if (!log.ok()) return log.status();
  log_ = std::move(log).value();
  control_ =
      shm::ControlBlock::AttachAndClaim(config_.data_dir, config_.cache.slots, shm::kMirrorSlot);
  // Unknown until the tip is read: what a mirror before us published may since have changed.
  if (control_) control_->seqs().mirror_published_seq.store(0, std::memory_order_relaxed);
  return OkStatus();
}

void MirrorServer::Beat() {
  if (!control_) return;
  control_->Beat(shm::kMirrorSlot);
  control_->ExitIfOrphaned();
}

Status MirrorServer::Sync() {
  if (!link_) {
    auto link = NatsLink::Connect(config_.mirror, "cqrs-mirror");
    if (!link.ok()) return link.status();
    link_ = std::move(link).value();
    tip_known_ = false;
    const std::int64_t payload = natsConnection_GetMaxPayload(link_->connection());
    max_segment_ = config_.mirror.max_message_bytes;
    if (payload > 0 && static_cast<std::uint64_t>(payload) < max_segment_ + 1024) {
      max_segment_ = static_cast<std::size_t>(payload) - 1024;
      spdlog::warn(
          "the NATS servers take messages of at most {} bytes: segments are cut at {} "
          "bytes, not [mirror] max_message_bytes {}",
          payload, max_segment_, config_.mirror.max_message_bytes);
    }
  }
  if (tip_known_) return OkStatus();
  CQRS_RETURN_IF_ERROR(link_->EnsureStream(log_->store().store_id()));
  auto tip = link_->ReadTip(log_->store().store_id());
  if (!tip.ok()) return tip.status();
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(log_->store().env(), &snapshot_));
  auto last = log_->store().LastSeq(snapshot_);
  snapshot_.Reset();
  if (!last.ok()) return last.status();
  if (tip->last_seq > last.value())
    return Error(Code::kInternal,
                 "NATS stream {} holds events up to seq {}, past this log's last seq {} (a log "
                 "restored from an older copy, or a nosync log that lost its tail): the stream "
                 "is not a mirror of this log; delete the stream to mirror this log afresh",
                 config_.mirror.stream, tip->last_seq, last.value());
  spdlog::info(
      "NATS stream {} ends at seq {} (stream seq {}); the log at {}: publishing from "
      "seq {}",
      config_.mirror.stream, tip->last_seq, tip->stream_seq, last.value(), tip->last_seq + 1);
  tip_ = std::move(tip).value();
  tip_known_ = true;
  retry_.ClearCause();
  if (control_)
    control_->seqs().mirror_published_seq.store(tip_.last_seq, std::memory_order_relaxed);
  return OkStatus();
}

Result<std::size_t> MirrorServer::PublishNext() {
  auto read = log_->source().Read(tip_.last_seq, kMaxSegmentEvents, max_segment_, &events_);
  if (!read.ok()) return read.status();
  if (read.value() == 0) return std::size_t{0};
  const std::uint64_t first = tip_.last_seq + 1;
  std::uint64_t seq = first;
  segment_.Begin();
  for (std::size_t i = 0; i < read.value(); ++i) {
    std::span<const std::uint8_t> frame = events_[i].span();
    // Whole events only; one larger than a segment goes alone.
    if (i > 0 && segment_.size() + frame.size() + 64 > max_segment_) break;
    const fb::Event* event = nullptr;
    Status valid = wire::VerifyEvent(frame, &event);
    if (!valid.ok())
      return Error(Code::kInternal, "the log's event at seq {} is unreadable: {}", seq,
                   valid.ToString());
    if (event->seq() != seq)
      return Error(Code::kInternal, "the log holds seq {} where seq {} was expected", event->seq(),
                   seq);
    segment_.Add(frame);
    ++seq;
  }
  const std::uint64_t last = seq - 1;
  auto bytes = segment_.Finish(log_->store().store_id(), first, last);
  std::string detail;
  switch (link_->Publish(bytes, log_->store().store_id(), first, last, &tip_, &detail)) {
    case Published::kStored:
      if (control_) {
        control_->seqs().mirror_published_seq.store(last, std::memory_order_relaxed);
        auto& slot = control_->slot(shm::kMirrorSlot);
        slot.counters[shm::kBatches].fetch_add(1, std::memory_order_relaxed);
        slot.counters[shm::kEventsPublished].fetch_add(last - first + 1, std::memory_order_relaxed);
      }
      return static_cast<std::size_t>(last - first + 1);
    case Published::kRefused:
      tip_known_ = false;  // read the tip again before the next publish
      return Error(Code::kUnavailable, "NATS stream {} refused events {}..{}: {}",
                   config_.mirror.stream, first, last, detail);
    case Published::kUncertain:
      break;
  }
  tip_known_ = false;
  return Error(Code::kUnavailable, "no acknowledgement of events {}..{} from NATS stream {}: {}",
               first, last, config_.mirror.stream, detail);
}

Status MirrorServer::Run(const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  auto next_beat = Clock::now();
  // Waits for the writer's next commit (or `most`), beating meanwhile.
  auto wait = [&](std::chrono::milliseconds most) { log_->WaitForCommit(std::min(most, kBeat)); };
  while (!stop.load(std::memory_order_relaxed)) {
    if (Clock::now() >= next_beat) {
      Beat();
      next_beat = Clock::now() + kBeat;
    }
    Status step = Sync();
    if (step.ok()) {
      hold_.Set(tip_.last_seq);  // stored by JetStream (R replicas): no longer needed here
      auto published = PublishNext();
      if (published.ok()) {
        retry_.Succeeded();
        if (published.value() == 0) wait(kBeat);  // all published: until the next commit
        continue;
      }
      step = published.status();
    }
    // Unavailable: NATS unreachable, or a publish refused or unanswered (the tip is read again
    // first). Anything else cannot be mended by retrying.
    if (step.code() != Code::kUnavailable) return step;
    wait(retry_.Failed(step));
  }
  return OkStatus();
}

}  // namespace cqrs::mirror
