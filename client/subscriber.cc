// Gap detection and replay for the change feed.
#include "client/subscriber.h"

#include <cerrno>

#include "base/clock.h"
#include "base/status.h"
#include "security/curve_client.h"
#include "wire/zmq_util.h"

namespace cqrs {
namespace {
constexpr std::size_t kMaxPending = 1'000'000;  // live events held while a gap is filled
}

Result<std::unique_ptr<Subscriber>> Subscriber::Connect(SubscriberOptions options,
                                                        zmq::context_t* context) {
  CQRS_RETURN_IF_ERROR(options.curve.Validate());
  if (options.curve.enabled() && (options.tenant.empty() || options.collection.empty()))
    return Status(Code::kInvalidArgument,
                  "with CURVE keys a subscription names its tenant and one collection (the "
                  "feed admits only the principal's own tenant's collections)");
  std::unique_ptr<Subscriber> s(new Subscriber(std::move(options), context));
  try {
    s->sub_.set(zmq::sockopt::rcvhwm, s->options_.rcvhwm);
    s->sub_.set(zmq::sockopt::linger, 0);
    security::SecureClient(s->sub_, s->options_.curve);
    std::string prefix = s->options_.collection.empty() ? "" : s->options_.collection + "/";
    if (s->options_.curve.enabled()) prefix = s->options_.tenant + "/" + prefix;
    s->sub_.set(zmq::sockopt::subscribe, prefix);
    if (!prefix.empty()) s->sub_.set(zmq::sockopt::subscribe, std::string(wire::kHeartbeatTopic));
    s->sub_.connect(s->options_.events_endpoint);
  } catch (const zmq::error_t& e) {
    return Error(Code::kInvalidArgument, "subscribe {}: {}", s->options_.events_endpoint, e.what());
  }
  if (s->options_.from_seq > 0) {
    s->last_seq_ = s->options_.from_seq - 1;
    if (!s->filtered()) {  // filtered: the first collection_seq is known from the first event
      s->started_ = true;
      s->next_ = s->options_.from_seq;
    }
  }
  return s;
}

Subscriber::Subscriber(SubscriberOptions options, zmq::context_t* context)
    : options_(std::move(options)),
      owned_context_(context ? nullptr : std::make_unique<zmq::context_t>(1)),
      context_(context ? context : owned_context_.get()),
      sub_(*context_, zmq::socket_type::sub) {}

Subscriber::~Subscriber() = default;

Status Subscriber::Poll(std::chrono::milliseconds wait, const Handler& handler) {
  if (options_.from_seq > 0 && !joined_) {
    // A late joiner: everything from from_seq out of the log first; live events that arrive
    // meanwhile wait in the SUB queue and are dropped as duplicates up to where replay got.
    CQRS_RETURN_IF_ERROR(Replay(UINT64_MAX, handler));
    joined_ = true;
  }
  const std::uint64_t end = MonoNs() + static_cast<std::uint64_t>(wait.count()) * 1'000'000;
  zmq::message_t topic, body;
  for (;;) {
    zmq::pollitem_t item{sub_.handle(), 0, ZMQ_POLLIN, 0};
    std::uint64_t now = MonoNs();
    long timeout = now >= end ? 0 : static_cast<long>((end - now) / 1'000'000);
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(timeout));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    if (item.revents & ZMQ_POLLIN) {
      while (sub_.recv(topic, zmq::recv_flags::dontwait)) {
        if (!topic.more()) continue;  // not ours: a feed message is two frames
        if (!sub_.recv(body, zmq::recv_flags::dontwait)) break;
        while (body.more()) (void)sub_.recv(body, zmq::recv_flags::dontwait);
        CQRS_RETURN_IF_ERROR(HandleLive(topic, body, handler));
      }
    }
    if (MonoNs() >= end) return OkStatus();
  }
}

Status Subscriber::HandleLive(const zmq::message_t& topic, const zmq::message_t& body,
                              const Handler& h) {
  buffer_.Assign(body.data(), body.size());
  std::string_view t(static_cast<const char*>(topic.data()), topic.size());
  if (t == wire::kHeartbeatTopic) {
    const fb::EventBatch* batch = nullptr;
    if (!wire::VerifyEventBatch(buffer_.span(), &batch).ok()) return OkStatus();
    ++stats_.heartbeats;
    head_seq_ = std::max(head_seq_, batch->head_seq());
    if (!started_) {
      if (!filtered()) {  // from now on: the next event after the current head
        started_ = true;
        next_ = head_seq_ + 1;
        last_seq_ = head_seq_;
      }
      return OkStatus();
    }
    // Events up to the head were published before this heartbeat; any we lack were dropped.
    if (head_seq_ <= last_seq_ || !pending_.empty()) return OkStatus();
#ifdef CQRS_MISTAKE_NO_GAP_DETECTION  // the injected mistake of tests/faults (make mistakes)
    return OkStatus();
#endif
    if (!filtered()) {
      ++stats_.gaps;
      return Replay(head_seq_, h);
    }
    // Filtered: other collections move the head too, so whether ours lost its tail is only
    // known from the log; ask it at most once a second.
    std::uint64_t now = MonoNs();
    if (now - last_tail_check_ns_ < 1'000'000'000) return OkStatus();
    last_tail_check_ns_ = now;
    return Replay(UINT64_MAX, h);
  }
  const fb::Event* event = nullptr;
  if (!wire::VerifyEvent(buffer_.span(), &event).ok()) return OkStatus();  // not an event
  head_seq_ = std::max(head_seq_, event->seq());
  std::uint64_t pos = Position(*event);
  if (!started_) {
    started_ = true;
    next_ = pos;
    last_seq_ = event->seq() - 1;
  }
  if (pos < next_) {
    ++stats_.duplicates;
    return OkStatus();
  }
#ifdef CQRS_MISTAKE_NO_GAP_DETECTION  // the injected mistake: deliver past the gap
  next_ = pos;
#endif
  if (pos > next_) {
    // A gap: keep this one, fill in from the log, then deliver what was held.
    if (pending_.size() < kMaxPending)
      pending_.emplace(pos,
                       std::vector<std::uint8_t>(buffer_.data(), buffer_.data() + buffer_.size()));
    ++stats_.gaps;
    CQRS_RETURN_IF_ERROR(Replay(pos - 1, h));
    return DrainPending(h);
  }
  CQRS_RETURN_IF_ERROR(Deliver(*event, false, h));
  return DrainPending(h);
}

Status Subscriber::Deliver(const fb::Event& event, bool replayed, const Handler& h) {
  ++next_;
  last_seq_ = event.seq();
  ++stats_.delivered;
  if (replayed) ++stats_.replayed;
  h(event);
  return OkStatus();
}

Status Subscriber::DrainPending(const Handler& h) {
  while (!pending_.empty()) {
    auto it = pending_.begin();
    if (it->first < next_) {
      pending_.erase(it);
      ++stats_.duplicates;
      continue;
    }
    if (it->first > next_) {  // still a gap before it
      CQRS_RETURN_IF_ERROR(Replay(it->first - 1, h));
      if (it->first > next_) return OkStatus();  // the log lacks it too: wait for more
      continue;
    }
    std::vector<std::uint8_t> bytes = std::move(it->second);
    pending_.erase(it);
    buffer_.Assign(bytes.data(), bytes.size());
    const fb::Event* event = nullptr;
    CQRS_RETURN_IF_ERROR(wire::VerifyEvent(buffer_.span(), &event));
    CQRS_RETURN_IF_ERROR(Deliver(*event, false, h));
  }
  return OkStatus();
}

Status Subscriber::RequestReplay(std::uint64_t from_seq, const fb::EventBatch** batch) {
  auto bytes = encoder_.Encode(from_seq, wire::kDefaultReplayEvents, options_.collection);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (!replay_) {
      replay_ = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::dealer);
      wire::ConfigureClient(*replay_, wire::SocketTuning());
      security::SecureClient(*replay_, options_.curve);
      replay_->connect(options_.replay_endpoint);
    }
    zmq::message_t request(bytes.data(), bytes.size());
    (void)replay_->send(request, zmq::send_flags::dontwait);
    zmq::pollitem_t item{replay_->handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, options_.replay_timeout);
    if (item.revents & ZMQ_POLLIN) {
      zmq::message_t reply;
      (void)replay_->recv(reply, zmq::recv_flags::dontwait);
      replay_buffer_.Assign(reply.data(), reply.size());
      CQRS_RETURN_IF_ERROR(wire::VerifyEventBatch(replay_buffer_.span(), batch));
      const std::string why = (*batch)->message() ? (*batch)->message()->str() : "refused";
      // Events below the log's first seq are gone for good: no retry brings them back.
      if ((*batch)->status() == fb::Status::OutOfRange)
        return Error(Code::kOutOfRange, "replay from seq {}: {}", from_seq, why);
      if ((*batch)->status() != fb::Status::Ok)
        return Error(Code::kUnavailable, "replay from seq {}: {}", from_seq, why);
      head_seq_ = std::max(head_seq_, (*batch)->head_seq());
      return OkStatus();
    }
    replay_.reset();  // a lost request or reply: fresh socket, ask again
  }
  return Error(Code::kUnavailable, "no replay reply from {} after 3 attempts",
               options_.replay_endpoint);
}

Status Subscriber::Replay(std::uint64_t target, const Handler& h) {
  while (next_ <= target) {
    const fb::EventBatch* batch = nullptr;
    CQRS_RETURN_IF_ERROR(RequestReplay(last_seq_ + 1, &batch));
    const auto* events = batch->events();
    if (events == nullptr || events->size() == 0) return OkStatus();  // nothing more yet
    bool progressed = false;
    for (const fb::Event* e : *events) {
      std::uint64_t pos = Position(*e);
      if (!started_) {  // a filtered late joiner starts at its first event
        started_ = true;
        next_ = pos;
      }
      if (pos < next_) {
        last_seq_ = std::max(last_seq_, e->seq());  // filtered: seen already
        continue;
      }
      if (pos > next_) {
        // The log itself skips a position: impossible for a gap-free log; stop rather than
        // deliver out of order.
        return Error(Code::kInternal, "replay jumped from position {} to {}", next_, pos);
      }
      CQRS_RETURN_IF_ERROR(Deliver(*e, true, h));
      progressed = true;
      if (next_ > target) break;
    }
    if (!progressed) return OkStatus();
  }
  return OkStatus();
}

}  // namespace cqrs
