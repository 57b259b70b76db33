// The client side of CURVE: what a client socket needs to talk to a secured server, and a
// watch that says why a handshake failed. Depends on ZeroMQ and the key files only, so the
// client library links none of the server side (the ZAP handler, principals, self-test).
#pragma once

#include <memory>
#include <string>
#include <zmq.hpp>

#include "base/result.h"
#include "security/keys.h"
#include "wire/zmq_util.h"

namespace cqrs::security {

// Before connect: makes `socket` a CURVE client of `server_public_key` with `client`'s keys.
Status MakeCurveClient(zmq::socket_t& socket, const KeyPair& client,
                       const std::string& server_public_key);

// MakeCurveClient when `curve` is enabled; nothing otherwise. Throws zmq::error_t on bad keys
// (call ClientCurve::Validate first).
void SecureClient(zmq::socket_t& socket, const ClientCurve& curve);

// A client socket's failed CURVE handshakes, seen through a socket monitor, so that a client
// that gets no reply can say why ("the server refused this client's key") instead of only
// timing out. Attach it right after creating the socket.
class HandshakeWatch {
 public:
  HandshakeWatch() = default;
  ~HandshakeWatch() { Release(); }
  HandshakeWatch(const HandshakeWatch&) = delete;
  HandshakeWatch& operator=(const HandshakeWatch&) = delete;
  // No-op when `curve` is disabled.
  void Attach(zmq::context_t& context, zmq::socket_t& socket, const ClientCurve& curve);
  // Reads the monitor's events (non-blocking); a description of the last failure, or "".
  const std::string& LastFailure();

 private:
  // The watched socket may already be gone (replaced, or closed first): closing it ended the
  // monitoring, so the monitor only drops its PAIR.
  void Release() {
    if (monitor_) monitor_->Release();
    monitor_.reset();
  }
  std::unique_ptr<wire::SocketMonitor> monitor_;
  std::string last_failure_;
};

}  // namespace cqrs::security
