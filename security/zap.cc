// The ZAP handler, the CURVE server options and the start-up self-test.
#include "security/zap.h"

#include <fmt/format.h>

#include <array>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/status.h"
#include "security/curve_client.h"

namespace cqrs::security {
namespace {

constexpr int kZapEnforceDomain = 93;  // ZMQ_ZAP_ENFORCE_DOMAIN, draft API in libzmq 4.3.4

std::string Z85(const zmq::message_t& key) {
  std::array<char, kZ85KeyLength + 1> text{};
  if (key.size() != 32 || zmq_z85_encode(text.data(), key.data<std::uint8_t>(), 32) == nullptr)
    return {};
  return text.data();
}

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, std::string self_key)
    : socket_(context, zmq::socket_type::rep), self_key_(std::move(self_key)) {}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(
    zmq::context_t& context, const KeyPair& server, std::shared_ptr<const Principals> principals) {
  std::unique_ptr<ZapHandler> h(new ZapHandler(context, server.public_key));
  h->principals_ = std::move(principals);
  try {
    h->socket_.set(zmq::sockopt::linger, 0);
    h->socket_.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "ZAP handler: bind inproc://zeromq.zap.01: {}", e.what());
  }
  h->thread_ = std::thread([raw = h.get()] { raw->Run(); });
  return h;
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::Replace(std::shared_ptr<const Principals> principals) {
  std::lock_guard lock(mutex_);
  principals_ = std::move(principals);
}

void ZapHandler::ExpectRefusal(std::string public_key) {
  std::lock_guard lock(mutex_);
  expected_refusal_ = std::move(public_key);
}

std::shared_ptr<const Principals> ZapHandler::principals() const {
  std::lock_guard lock(mutex_);
  return principals_;
}

void ZapHandler::Decide(const std::vector<zmq::message_t>& f, std::string* code, std::string* text,
                        std::string* user_id) const {
  *code = "400";
  user_id->clear();
  // version, request id, domain, address, routing id, mechanism, credentials...
  if (f.size() < 6 || f[0].to_string_view() != "1.0") {
    *text = "malformed ZAP request";
    return;
  }
  if (f[2].to_string_view() != kZapDomain) {
    *text = "unknown domain";
    return;
  }
  if (f[5].to_string_view() != "CURVE" || f.size() != 7) {
    *text = "only CURVE is accepted";
    return;
  }
  std::string key = Z85(f[6]);
  if (key.empty()) {
    *text = "malformed CURVE key";
    return;
  }
  if (key == self_key_) {
    *code = "200";
    *text = "OK";
    *user_id = kSelfTestUser;
    return;
  }
  auto principals = this->principals();
  const Principal* p = principals ? principals->FindByKey(key) : nullptr;
  if (p == nullptr) {
    *text = "unknown key";
    return;
  }
  if (p->disabled) {
    *text = "principal disabled";
    return;
  }
  *code = "200";
  *text = "OK";
  *user_id = principals->connection_id(p);
}

bool ZapHandler::IsExpectedRefusal(const std::vector<zmq::message_t>& frames) const {
  if (frames.size() != 7) return false;
  std::lock_guard lock(mutex_);
  return !expected_refusal_.empty() && Z85(frames[6]) == expected_refusal_;
}

void ZapHandler::Run() {
  std::vector<zmq::message_t> frames;
  std::string code, text, user_id;
  while (!stop_.load(std::memory_order_relaxed)) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      frames.clear();
      do {
        frames.emplace_back();
        (void)socket_.recv(frames.back());
      } while (frames.back().more());
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      if (e.num() == ETERM) return;
      spdlog::error("ZAP handler: {}", e.what());
      return;
    }
    Decide(frames, &code, &text, &user_id);
    (code == "200" ? admitted_ : refused_).fetch_add(1, std::memory_order_relaxed);
    std::uint64_t suppressed = 0;
    if (code != "200" && IsExpectedRefusal(frames)) {
      spdlog::debug("refused the self-test's unknown key, as it must");
    } else if (code != "200" && log_limiter_.Allow(MonoNs(), &suppressed))
      spdlog::warn("refused a connection from {}: {} ({} more refusals not logged since the last)",
                   frames.size() > 3 ? frames[3].to_string() : "?", text, suppressed);
    const std::string request_id = frames.size() > 1 ? frames[1].to_string() : "";
    try {
      socket_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(code), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(user_id), zmq::send_flags::sndmore);
      socket_.send(zmq::str_buffer(""), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      spdlog::error("ZAP handler: {}", e.what());
    }
  }
}

Status MakeCurveServer(zmq::socket_t& socket, const KeyPair& server) {
  try {
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, server.secret_key);
    socket.set(zmq::sockopt::zap_domain, kZapDomain);
    int enforce = 1;
    if (zmq_setsockopt(socket.handle(), kZapEnforceDomain, &enforce, sizeof enforce) != 0)
      return Error(Code::kUnavailable, "ZMQ_ZAP_ENFORCE_DOMAIN: {}", zmq_strerror(zmq_errno()));
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "CURVE server options: {}", e.what());
  }
  return OkStatus();
}

Status SelfTest(zmq::context_t& context, zmq::socket_t& server, ServerSocket kind,
                const std::string& endpoint, const KeyPair& server_keys,
                std::chrono::milliseconds wait) {
  auto unknown = GenerateKeyPair();
  if (!unknown.ok()) return unknown.status();
  return SelfTest(context, server, kind, endpoint, server_keys, unknown.value(), wait);
}

Status SelfTest(zmq::context_t& context, zmq::socket_t& server, ServerSocket kind,
                const std::string& endpoint, const KeyPair& server_keys, const KeyPair& unknown,
                std::chrono::milliseconds wait) {
  // The server socket's handshake outcomes, so the test ends as soon as all three probes have
  // been decided instead of waiting out `wait` for what must not arrive.
  auto attached = wire::SocketMonitor::Attach(
      context, server,
      ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
          ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  if (!attached.ok())
    return Error(Code::kInternal, "security self-test at {}: {}", endpoint,
                 attached.status().message());
  wire::SocketMonitor& monitor = *attached.value();

  struct Probe {
    const char* name;
    const KeyPair* keys;  // nullptr: plaintext
  };
  const Probe probes[] = {
      {"own-key", &server_keys}, {"unknown-key", &unknown}, {"plaintext", nullptr}};
  const std::string kPrefix = "cqrs-self-test:";
  std::vector<zmq::socket_t> clients;
  for (const Probe& p : probes) {
    clients.emplace_back(
        context, kind == ServerSocket::kXpub ? zmq::socket_type::sub : zmq::socket_type::dealer);
    zmq::socket_t& c = clients.back();
    c.set(zmq::sockopt::linger, 0);
    if (p.keys != nullptr)
      CQRS_RETURN_IF_ERROR(MakeCurveClient(c, *p.keys, server_keys.public_key));
    c.connect(endpoint);
    if (kind == ServerSocket::kXpub)
      c.set(zmq::sockopt::subscribe, kPrefix + p.name);
    else
      (void)c.send(zmq::buffer(kPrefix + p.name), zmq::send_flags::dontwait);
  }
  bool own_arrived = false;
  int succeeded = 0, failed = 0;
  const std::uint64_t end = MonoNs() + static_cast<std::uint64_t>(wait.count()) * 1'000'000;
  while (MonoNs() < end && !(own_arrived && failed >= 2)) {
    zmq::pollitem_t items[] = {{server.handle(), 0, ZMQ_POLLIN, 0},
                               {monitor.pair().handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, std::chrono::milliseconds(10));
    for (wire::SocketMonitor::Event e; monitor.Next(&e);)
      (e.id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? succeeded : failed) += 1;
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> frames;
    do {
      frames.emplace_back();
      (void)server.recv(frames.back());
    } while (frames.back().more());
    const zmq::message_t& body = frames.back();
    std::string text = body.to_string();
    // An XPUB delivers a subscription as \x01<topic> (\x00: unsubscribe).
    if (kind == ServerSocket::kXpub && !text.empty()) text.erase(0, 1);
    const std::string_view user = UserId(body);
    if (text == kPrefix + "own-key" && user == kSelfTestUser) {
      own_arrived = true;
      continue;
    }
    return Error(
        Code::kInternal,
        "security self-test failed: \"{}\" got through to {} (User-Id \"{}\"): refusing to "
        "serve",
        text, endpoint, user);
  }
  if (!own_arrived)
    return Error(Code::kInternal,
                 "security self-test failed: a client with the server's own key did not get "
                 "through to {} within {} ms: is the ZAP handler running?",
                 endpoint, wait.count());
  if (succeeded > 1)
    return Error(
        Code::kInternal,
        "security self-test failed: {} handshakes succeeded at {} where only the own key's "
        "may: refusing to serve",
        succeeded, endpoint);
  if (failed < 2)
    return Error(Code::kInternal,
                 "security self-test failed: the unknown key and the plaintext client were not "
                 "both refused at {} within {} ms",
                 endpoint, wait.count());
  return OkStatus();
}

std::string_view UserId(const zmq::message_t& frame) {
  const char* user = zmq_msg_gets(frame.handle(), "User-Id");
  return user == nullptr ? std::string_view() : std::string_view(user);
}

}  // namespace cqrs::security
