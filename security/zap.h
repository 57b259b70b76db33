// CURVE with a ZAP handler (RFC 27), built around docs/DEPENDENCY_FACTS.md facts 7 and 8: CURVE
// alone admits any key pair, a ZAP domain without a handler fails open unless
// ZMQ_ZAP_ENFORCE_DOMAIN is set, and the only trustworthy identity is the ZAP User-Id of each
// message.
//
// A ZapHandler is a thread with a REP socket on inproc://zeromq.zap.01 in the server's context.
// It admits a CURVE client whose public key belongs to a principal that is not disabled (the
// reply's User-Id is the principal's connection id, Principal::connection_id), and the server's own
// key as "self-test"; it refuses everything else, and every other mechanism, domain or version.
// Start it before any bind.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "base/log.h"
#include "base/status.h"
#include "security/keys.h"
#include "security/principals.h"
#include "wire/zmq_util.h"

namespace cqrs::security {

inline constexpr const char kZapDomain[] = "cqrs";
// Not a valid principal name ('#'), so no principal can be mistaken for the self-test.
inline constexpr const char kSelfTestUser[] = "#self-test";

// The socket kinds a server secures; the self-test speaks to each with a matching client.
enum class ServerSocket { kRouter, kXpub };

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `context` (Unavailable if another handler holds it) and
  // starts the thread. `server` is the server's key pair (its public key is the self-test's).
  static Result<std::unique_ptr<ZapHandler>> Start(zmq::context_t& context, const KeyPair& server,
                                                   std::shared_ptr<const Principals> principals);
  ~ZapHandler();  // stops and joins the thread
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // New principals for the connections that follow (e.g. after SIGHUP). Thread-safe.
  void Replace(std::shared_ptr<const Principals> principals);
  std::shared_ptr<const Principals> principals() const;
  // The self-test's unknown key: its refusal is expected, logged at debug level only.
  void ExpectRefusal(std::string public_key);

  std::uint64_t admitted() const { return admitted_.load(); }
  std::uint64_t refused() const { return refused_.load(); }

 private:
  ZapHandler(zmq::context_t& context, std::string self_key);
  void Run();
  bool IsExpectedRefusal(const std::vector<zmq::message_t>& frames) const;
  // The reply's status code, text and user id for one request's frames.
  void Decide(const std::vector<zmq::message_t>& frames, std::string* code, std::string* text,
              std::string* user_id) const;

  zmq::socket_t socket_;
  std::string self_key_;  // Z85
  mutable std::mutex mutex_;
  std::shared_ptr<const Principals> principals_;
  std::string expected_refusal_;  // under mutex_
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> admitted_{0}, refused_{0};
  LogLimiter log_limiter_;  // the handler thread's
  std::thread thread_;
};

// Before bind: makes `socket` a CURVE server with `server`'s secret key, in kZapDomain, with
// ZMQ_ZAP_ENFORCE_DOMAIN on (a missing handler then refuses everyone).
Status MakeCurveServer(zmq::socket_t& socket, const KeyPair& server);

// The start-up self-test of a server socket already bound to `endpoint` (a concrete address):
// a client with the server's own key must get a message through (the ZAP handler answers), and
// a client with an unknown key and a plaintext client must not. The clients are DEALERs sending
// a frame to a ROUTER, or SUBs subscribing at an XPUB. Reads what arrives on `server` for up to
// `wait` (so run it before serving). Internal, saying which check failed.
// Ends as soon as the server socket's monitor has seen all three handshakes decided; `wait`
// bounds it. `unknown` is the probe's key (given, so the ZAP handler can log its refusal
// quietly); the overload without it makes one.
Status SelfTest(zmq::context_t& context, zmq::socket_t& server, ServerSocket kind,
                const std::string& endpoint, const KeyPair& server_keys,
                std::chrono::milliseconds wait);
Status SelfTest(zmq::context_t& context, zmq::socket_t& server, ServerSocket kind,
                const std::string& endpoint, const KeyPair& server_keys, const KeyPair& unknown,
                std::chrono::milliseconds wait);

// The ZAP User-Id ZeroMQ attached to a received frame; empty without security.
std::string_view UserId(const zmq::message_t& frame);

}  // namespace cqrs::security
