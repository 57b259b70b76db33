// ZeroMQ helpers shared by every server and client: socket tuning, binding with the resolved
// endpoint read back, and whole-message receive/send for ROUTER sockets with routing envelopes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/result.h"

namespace cqrs::wire {

struct SocketTuning {
  std::int64_t max_message_bytes = 1 << 20;  // ZMQ_MAXMSGSIZE (servers)
  int heartbeat_ivl_ms = 200;                // docs/DEPENDENCY_FACTS.md fact 10
  int heartbeat_timeout_ms = 1000;
  int linger_ms = 0;
  int sndhwm = 100000;
  int rcvhwm = 100000;
};

// ROUTER server socket: ZMQ_ROUTER_MANDATORY (a reply to a vanished peer is an error, not a
// silent drop), ZMQ_MAXMSGSIZE, heartbeats, linger, high-water marks.
void ConfigureRouter(zmq::socket_t& socket, const SocketTuning& tuning);

// DEALER/REQ client socket: heartbeats, linger, high-water marks.
void ConfigureClient(zmq::socket_t& socket, const SocketTuning& tuning);

// Binds and returns the endpoint actually bound ("tcp://127.0.0.1:*" → the chosen port).
// Throws zmq::error_t (start-up only).
std::string BindResolved(zmq::socket_t& socket, const std::string& endpoint);

// A socket monitor (zmq_socket_monitor): events of `socket` arrive on the PAIR it holds.
// Stops monitoring when it ends, so it must not outlive `socket` unless released first.
class SocketMonitor {
 public:
  struct Event {
    std::uint16_t id = 0;     // ZMQ_EVENT_*
    std::uint32_t value = 0;  // the event's value (a ZAP status, a protocol error, an fd)
    std::string address;      // the endpoint it concerns
  };
  // Monitors `events` of `socket`; an error when ZeroMQ refuses. Attached before anything can
  // happen on the socket that should be seen.
  static Result<std::unique_ptr<SocketMonitor>> Attach(zmq::context_t& context,
                                                       zmq::socket_t& socket, int events);
  ~SocketMonitor();
  SocketMonitor(const SocketMonitor&) = delete;
  SocketMonitor& operator=(const SocketMonitor&) = delete;

  // Receives one event if one is waiting (or arrives within `wait`); false if none.
  bool Next(Event* event, std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  zmq::socket_t& pair() { return pair_; }
  // Forgets the socket (closing a socket ends its monitoring): for a monitor that may outlive it.
  void Release() { socket_ = nullptr; }

 private:
  SocketMonitor(zmq::context_t& context, zmq::socket_t& socket)
      : socket_(&socket), pair_(context, zmq::socket_type::pair) {}
  zmq::socket_t* socket_;
  zmq::socket_t pair_;
};

// Unbinds `endpoint` (as bound) and waits, up to `wait`, until the listener is closed (ZeroMQ
// closes it on its I/O thread; an ipc:// file is unlinked then), so the endpoint can be bound
// again without the old listener removing the new one's file. False if that was not seen in time.
bool UnbindAndWait(zmq::context_t& context, zmq::socket_t& socket, const std::string& endpoint,
                   std::chrono::milliseconds wait);

// zmq_send that takes a signal's EINTR (nothing was queued) as "try again": a SIGHUP storm
// must not turn a send into a fatal error, nor cut a multipart message in two.
zmq::send_result_t SendRetryingSignals(zmq::socket_t& socket, zmq::message_t& frame,
                                       zmq::send_flags flags);

// Receives one frame if one is waiting; false if none or if a signal interrupted (EINTR: stop
// or SIGHUP, the caller's loop comes back). Throws zmq::error_t for other errors.
bool TryRecv(zmq::socket_t& socket, zmq::message_t& frame);

// One received message: routing envelope (every frame before the last) and body (the last).
// Reuses its frames between messages; not thread-safe.
class InboundMessage {
 public:
  // Receives one whole message if one is waiting; false if none. Throws zmq::error_t only for
  // errors other than EAGAIN/EINTR (a closed context).
  bool TryReceive(zmq::socket_t& socket);

  // Frames before the last, at most kMaxFrames - 1 of them.
  std::span<zmq::message_t> envelope() { return {frames_.data(), count_ - 1}; }
  const zmq::message_t& body() const { return frames_[count_ - 1]; }
  // The message had more than kMaxFrames frames; the extra middle frames were dropped.
  bool too_many_frames() const { return too_many_; }
  std::size_t body_size() const { return body().size(); }
  // Frees the body's bytes (the envelope stays for the reply): for a message whose body was
  // copied elsewhere and may wait long.
  void ReleaseBody() { frames_[count_ - 1].rebuild(); }
  // Becomes a copy of `from`'s envelope with an empty body: another reply to the same peer
  // (sending consumes an envelope).
  void CopyEnvelope(InboundMessage& from);

 private:
  std::vector<zmq::message_t> frames_;
  std::size_t count_ = 0;
  bool too_many_ = false;
};

// Receives every message waiting on a DEALER without blocking and calls `handle` with each
// one's last frame (a reply's body; any frames before it are skipped). `frame` is scratch.
template <typename Handle>
void DrainMessages(zmq::socket_t& socket, zmq::message_t& frame, Handle&& handle) {
  while (socket.recv(frame, zmq::recv_flags::dontwait)) {
    while (frame.more() && socket.recv(frame, zmq::recv_flags::dontwait)) {
    }
    handle(frame);
  }
}

// Sends the envelope frames (consuming them) then a copy of `body`, without blocking. False if
// the peer is gone (EHOSTUNREACH) or its pipe is full: the caller counts a dropped reply.
bool SendEnvelopeReply(zmq::socket_t& socket, std::span<zmq::message_t> envelope,
                       std::span<const std::uint8_t> body);

}  // namespace cqrs::wire
