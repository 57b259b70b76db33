// ServerSecurity: what one server process (writer, reader, projector) needs when security is on:
// the server key pair, the principals (reloaded on SIGHUP), the ZAP handler of its ZeroMQ
// context, the CURVE options of its public sockets and their start-up self-test.
//
// Threads: the ZAP handler runs on its own thread; everything else is for the server's one
// thread. A principal found by Find stays valid until the next Reload on that thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "base/config.h"
#include "base/status.h"
#include "security/keys.h"
#include "security/principals.h"
#include "security/zap.h"

namespace cqrs::security {

class ServerSecurity {
 public:
  // nullptr when security is off (config.security.server_key empty), logged once. Otherwise reads
  // the server key and the principals file and starts the ZAP handler in `context`: call it
  // before any socket of the context binds. InvalidArgument / NotFound naming the file if the
  // key or the principals file is bad.
  static Result<std::unique_ptr<ServerSecurity>> Start(const Config& config,
                                                       zmq::context_t& context);

  // Before the public bind: makes `socket` a CURVE server with the server key (ZAP domain
  // enforced), then proves it on a private loopback endpoint (bound, tested, unbound, so no real
  // client can interleave): the own key gets through, an unknown key and plaintext do not
  // (security::SelfTest). Internal, naming the check, on failure: the server must not start.
  Status SecureAndTest(zmq::context_t& context, zmq::socket_t& socket, ServerSocket kind) const;

  // The enabled principal a message's User-Id (a connection id) names, or nullptr with
  // `refusal` set to Unauthenticated saying why (no User-Id, unknown name, disabled, or its key
  // or tenant changed since the connection was made). Allocates only to refuse.
  const Principal* Authenticate(std::string_view user_id, Status* refusal) const;

  // Re-reads the principals file when a SIGHUP arrived since the last call (one atomic load
  // otherwise). A bad file is logged and the current principals stay. True if a principal lost
  // something it had (removed, disabled, another key, tenant or ACL): a server that cannot check
  // each message (the change feed) must then cut its connections.
  bool ReloadIfSignalled();
  // Re-reads the principals file now; the current set stays on error. `revoked` as above.
  Status Reload(bool* revoked);

  const KeyPair& keys() const { return keys_; }
  const ZapHandler& zap() const { return *zap_; }

 private:
  ServerSecurity() = default;

  std::string principals_path_;
  std::uint32_t handshake_timeout_ms_ = 5000;
  KeyPair keys_;
  std::shared_ptr<const Principals> principals_;
  std::unique_ptr<ZapHandler> zap_;
  const std::atomic<std::uint64_t>* reloads_ = nullptr;
  std::uint64_t reloads_seen_ = 0;
};

}  // namespace cqrs::security
