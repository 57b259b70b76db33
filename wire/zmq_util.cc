// ZeroMQ socket tuning and message plumbing.
#include "wire/zmq_util.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "base/status.h"
#include "wire/protocol.h"

namespace cqrs::wire {

void ConfigureRouter(zmq::socket_t& socket, const SocketTuning& t) {
  socket.set(zmq::sockopt::router_mandatory, 1);
  socket.set(zmq::sockopt::maxmsgsize, t.max_message_bytes);
  socket.set(zmq::sockopt::heartbeat_ivl, t.heartbeat_ivl_ms);
  socket.set(zmq::sockopt::heartbeat_timeout, t.heartbeat_timeout_ms);
  socket.set(zmq::sockopt::linger, t.linger_ms);
  socket.set(zmq::sockopt::sndhwm, t.sndhwm);
  socket.set(zmq::sockopt::rcvhwm, t.rcvhwm);
}

Result<std::unique_ptr<SocketMonitor>> SocketMonitor::Attach(zmq::context_t& context,
                                                             zmq::socket_t& socket, int events) {
  static std::atomic<std::uint64_t> monitors{0};
  const std::string endpoint = "inproc://cqrs-monitor-" + std::to_string(monitors.fetch_add(1));
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), events) != 0)
    return Error(Code::kInternal, "zmq_socket_monitor: {}", zmq_strerror(zmq_errno()));
  std::unique_ptr<SocketMonitor> m(new SocketMonitor(context, socket));
  m->pair_.set(zmq::sockopt::linger, 0);
  m->pair_.connect(endpoint);
  return m;
}

SocketMonitor::~SocketMonitor() {
  if (socket_ != nullptr) zmq_socket_monitor(socket_->handle(), nullptr, 0);
}

bool SocketMonitor::Next(Event* event, std::chrono::milliseconds wait) {
  zmq::message_t head, address;
  try {
    if (wait.count() > 0) {
      zmq::pollitem_t item{pair_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, wait);
    }
    if (!pair_.recv(head, zmq::recv_flags::dontwait)) return false;
    if (head.more()) (void)pair_.recv(address);
  } catch (const zmq::error_t&) {
    return false;
  }
  *event = Event{};
  if (head.size() >= sizeof event->id + sizeof event->value) {
    std::memcpy(&event->id, head.data(), sizeof event->id);
    std::memcpy(&event->value, head.data<char>() + sizeof event->id, sizeof event->value);
  }
  event->address = address.to_string();
  return true;
}

bool UnbindAndWait(zmq::context_t& context, zmq::socket_t& socket, const std::string& endpoint,
                   std::chrono::milliseconds wait) {
  auto monitor = SocketMonitor::Attach(context, socket, ZMQ_EVENT_CLOSED);
  if (!monitor.ok()) return false;
  socket.unbind(endpoint);
  SocketMonitor::Event event;
  return monitor.value()->Next(&event, wait);
}

void ConfigureClient(zmq::socket_t& socket, const SocketTuning& t) {
  socket.set(zmq::sockopt::heartbeat_ivl, t.heartbeat_ivl_ms);
  socket.set(zmq::sockopt::heartbeat_timeout, t.heartbeat_timeout_ms);
  socket.set(zmq::sockopt::heartbeat_ttl, t.heartbeat_timeout_ms);
  socket.set(zmq::sockopt::linger, t.linger_ms);
  socket.set(zmq::sockopt::sndhwm, t.sndhwm);
  socket.set(zmq::sockopt::rcvhwm, t.rcvhwm);
}

std::string BindResolved(zmq::socket_t& socket, const std::string& endpoint) {
  socket.bind(endpoint);
  return socket.get(zmq::sockopt::last_endpoint);
}

bool TryRecv(zmq::socket_t& socket, zmq::message_t& frame) {
  try {
    return socket.recv(frame, zmq::recv_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    return false;
  }
}

bool InboundMessage::TryReceive(zmq::socket_t& socket) {
  count_ = 0;
  too_many_ = false;
  for (;;) {
    if (frames_.size() <= count_) frames_.emplace_back();
    zmq::message_t& frame = frames_[count_];
    // Frames of one message arrive together: only the first receive can find nothing waiting.
    zmq::recv_result_t got;
    try {
      got = socket.recv(frame, count_ == 0 ? zmq::recv_flags::dontwait : zmq::recv_flags::none);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      if (count_ == 0) return false;  // a signal (stop, SIGHUP) before anything was taken
      continue;                       // mid-message: the rest is there, take it
    }
    if (!got) return false;
    bool more = frame.more();
    if (count_ < kMaxFrames - 1 || !more) {
      ++count_;
    } else {
      too_many_ = true;  // keep the first kMaxFrames - 1, overwrite the slot until the last frame
    }
    if (!more) return true;
  }
}

void InboundMessage::CopyEnvelope(InboundMessage& from) {
  if (frames_.size() < from.count_) frames_.resize(from.count_);
  for (std::size_t i = 0; i + 1 < from.count_; ++i) frames_[i].copy(from.frames_[i]);
  frames_[from.count_ - 1].rebuild();
  count_ = from.count_;
  too_many_ = from.too_many_;
}

zmq::send_result_t SendRetryingSignals(zmq::socket_t& socket, zmq::message_t& frame,
                                       zmq::send_flags flags) {
  for (;;) {
    try {
      return socket.send(frame, flags);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }
}

bool SendEnvelopeReply(zmq::socket_t& socket, std::span<zmq::message_t> envelope,
                       std::span<const std::uint8_t> body) {
  try {
    for (std::size_t i = 0; i < envelope.size(); ++i) {
      auto sent = SendRetryingSignals(socket, envelope[i],
                                      zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      if (!sent) {
        if (i == 0) return false;  // nothing went out
        // A later frame cannot fail with EAGAIN once the first was accepted; be safe anyway.
        zmq::message_t end;
        (void)SendRetryingSignals(socket, end, zmq::send_flags::dontwait);
        return false;
      }
    }
    zmq::message_t msg(body.data(), body.size());
    return SendRetryingSignals(socket, msg, zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return false;
    throw;
  }
}

}  // namespace cqrs::wire
