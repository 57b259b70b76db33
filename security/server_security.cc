// A server's security: key, principals, ZAP handler, socket options, self-test, reload.
#include "security/server_security.h"

#include "base/fault.h"
#include "base/log.h"
#include "base/signals.h"
#include "base/status.h"

namespace cqrs::security {
namespace {

// How long the self-test waits for its own key's message: the CURVE handshake and the ZAP
// round trip take a few ms; a loaded machine (sanitizers, CI) needs more.
constexpr std::chrono::milliseconds kSelfTestWait{1500};

}  // namespace

Result<std::unique_ptr<ServerSecurity>> ServerSecurity::Start(const Config& config,
                                                              zmq::context_t& context) {
  if (!config.SecurityOn()) {
    spdlog::warn(
        "security off: no [security] server_key, so any client that reaches the endpoints acts "
        "for tenant \"default\" with full access");
    return std::unique_ptr<ServerSecurity>();
  }
  std::unique_ptr<ServerSecurity> s(new ServerSecurity());
  auto keys = ReadKeyFile(config.security.server_key);
  if (!keys.ok()) return keys.status();
  if (keys->secret_key.empty())
    return Error(Code::kInvalidArgument,
                 "security.server_key {} holds no secret_key: name the .key file, not the .pub",
                 config.security.server_key);
  s->keys_ = std::move(keys).value();
  s->principals_path_ = config.PrincipalsPath();
  s->handshake_timeout_ms_ = config.security.handshake_timeout_ms;
  auto principals = Principals::Load(s->principals_path_);
  if (!principals.ok()) return principals.status();
  s->principals_ = std::make_shared<const Principals>(std::move(principals).value());
  if (fault::Fire(fault::Point::kNoZapHandler)) {
    spdlog::warn("fault point no_zap_handler: not starting the ZAP handler");
  } else {
    auto zap = ZapHandler::Start(context, s->keys_, s->principals_);
    if (!zap.ok()) return zap.status();
    s->zap_ = std::move(zap).value();
  }
  if (s->principals_->all().empty())
    spdlog::warn(
        "security on with no principals in {}: no client can connect until `cqrs "
        "principal add` and a SIGHUP",
        s->principals_path_);
  s->reloads_ = &InstallReloadSignal();
  s->reloads_seen_ = s->reloads_->load();
  spdlog::info("security on: CURVE server key {} ({}), {} principals from {}; SIGHUP reloads them",
               config.security.server_key, s->keys_.public_key, s->principals_->all().size(),
               s->principals_path_);
  return s;
}

Status ServerSecurity::SecureAndTest(zmq::context_t& context, zmq::socket_t& socket,
                                     ServerSocket kind) const {
  CQRS_RETURN_IF_ERROR(MakeCurveServer(socket, keys_));
  std::string endpoint;
  try {
    socket.set(zmq::sockopt::handshake_ivl, static_cast<int>(handshake_timeout_ms_));
    socket.bind("tcp://127.0.0.1:*");
    endpoint = socket.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "security self-test: bind tcp://127.0.0.1:*: {}", e.what());
  }
  auto unknown = GenerateKeyPair();
  if (!unknown.ok()) return unknown.status();
  if (zap_) zap_->ExpectRefusal(unknown->public_key);
  Status tested =
      security::SelfTest(context, socket, kind, endpoint, keys_, unknown.value(), kSelfTestWait);
  try {
    socket.unbind(endpoint);
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "security self-test: unbind {}: {}", endpoint, e.what());
  }
  if (tested.ok())
    spdlog::debug(
        "security self-test passed on {}: own key admitted, an unknown key (the refusal "
        "logged above) and plaintext refused",
        endpoint);
  return tested;
}

const Principal* ServerSecurity::Authenticate(std::string_view user_id, Status* refusal) const {
  if (user_id.empty()) {
    *refusal = Status(Code::kUnauthenticated, "the connection has no authenticated identity");
    return nullptr;
  }
  const std::string_view name = ConnectionIdName(user_id);
  const Principal* p = principals_->FindByName(name);
  if (p == nullptr) {
    *refusal =
        Error(Code::kUnauthenticated, "principal \"{}\" is not in the principals file", name);
    return nullptr;
  }
  if (p->disabled) {
    *refusal = Error(Code::kUnauthenticated, "principal \"{}\" is disabled", name);
    return nullptr;
  }
#ifndef CQRS_MISTAKE_NO_CONNECTION_CHECK  // the injected mistake of issue #15 (make mistakes)
  if (principals_->connection_id(p) != user_id) {
    *refusal = Error(Code::kUnauthenticated,
                     "principal \"{}\" has another key or tenant since this connection was made: "
                     "connect again with its current key",
                     name);
    return nullptr;
  }
#endif
  return p;
}

bool ServerSecurity::ReloadIfSignalled() {
  const std::uint64_t reloads = reloads_->load(std::memory_order_relaxed);
  if (reloads == reloads_seen_) return false;
  reloads_seen_ = reloads;
  bool revoked = false;
  if (Status s = Reload(&revoked); !s.ok())
    spdlog::error("SIGHUP: keeping the current {} principals: {}", principals_->all().size(),
                  s.ToString());
  return revoked;
}

Status ServerSecurity::Reload(bool* revoked) {
  auto loaded = Principals::Load(principals_path_);
  if (!loaded.ok()) return loaded.status();
  auto next = std::make_shared<const Principals>(std::move(loaded).value());
  *revoked = false;
  for (const Principal& p : principals_->all())
    if (!p.StillCovers(next->FindByName(p.name))) {
      spdlog::info("principal \"{}\" lost access it had (removed, disabled or changed)", p.name);
      *revoked = true;
    }
  principals_ = std::move(next);
  if (zap_) zap_->Replace(principals_);
  spdlog::info("reloaded {} principals from {}", principals_->all().size(), principals_path_);
  return OkStatus();
}

}  // namespace cqrs::security
