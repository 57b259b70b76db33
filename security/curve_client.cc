// CURVE socket options of a client, and why its handshakes failed.
#include "security/curve_client.h"

#include <fmt/format.h>

#include "base/status.h"

namespace cqrs::security {

Status MakeCurveClient(zmq::socket_t& socket, const KeyPair& client,
                       const std::string& server_public_key) {
  try {
    SecureClient(socket, ClientCurve{client, server_public_key});
  } catch (const zmq::error_t& e) {
    return Error(Code::kInvalidArgument, "CURVE client options: {}", e.what());
  }
  return OkStatus();
}

void SecureClient(zmq::socket_t& socket, const ClientCurve& curve) {
  if (!curve.enabled()) return;
  socket.set(zmq::sockopt::curve_serverkey, curve.server_public_key);
  socket.set(zmq::sockopt::curve_publickey, curve.keys.public_key);
  socket.set(zmq::sockopt::curve_secretkey, curve.keys.secret_key);
}

void HandshakeWatch::Attach(zmq::context_t& context, zmq::socket_t& socket,
                            const ClientCurve& curve) {
  Release();
  if (!curve.enabled()) return;
  auto monitor = wire::SocketMonitor::Attach(context, socket,
                                             ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  if (monitor.ok()) monitor_ = std::move(monitor).value();  // else: only the bare timeout
}

const std::string& HandshakeWatch::LastFailure() {
  if (!monitor_) return last_failure_;
  wire::SocketMonitor::Event e;
  while (monitor_->Next(&e)) {
    const std::uint16_t id = e.id;
    const std::uint32_t value = e.value;
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
      last_failure_ = fmt::format(
          "the server refused this client's key (ZAP status {}): is its principal in the "
          "principals file and enabled?",
          value);
    else
      last_failure_ = fmt::format(
          "the CURVE handshake with {} failed ({}): is the server key the servers' public key, "
          "and is security on there?",
          e.address,
          id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? fmt::format("protocol error {:#x}", value)
                                                    : std::string("no detail"));
  }
  return last_failure_;
}

}  // namespace cqrs::security
