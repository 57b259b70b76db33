// CURVE + ZAP over real TCP sockets: only a principal's key gets in, with its connection id
// (name, and a hash of key and tenant) as User-Id;
// unknown keys, plaintext, a wrong server key and disabled principals do not; a server without
// a ZAP handler admits no one, and the start-up self-test says so.
#include "security/zap.h"

#include <catch2/catch.hpp>
#include <optional>
#include <zmq.hpp>

#include "security/curve_client.h"

namespace cqrs::security {
namespace {

struct Server {
  explicit Server(zmq::context_t& context) : socket(context, zmq::socket_type::router) {
    socket.set(zmq::sockopt::linger, 0);
    REQUIRE(MakeCurveServer(socket, keys).ok());
    socket.bind("tcp://127.0.0.1:*");
    endpoint = socket.get(zmq::sockopt::last_endpoint);
  }
  // The User-Id of the first message to arrive within `wait`, or nullopt.
  std::optional<std::string> Receive(std::chrono::milliseconds wait) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, wait);
    if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
    zmq::message_t id, body;
    (void)socket.recv(id);
    (void)socket.recv(body);
    const char* user = body.gets("User-Id");
    return std::string(user ? user : "");
  }
  KeyPair keys = GenerateKeyPair().value();
  zmq::socket_t socket;
  std::string endpoint;
};

// Connects a DEALER (CURVE with `client` unless null, to `server_key`) and sends one message.
zmq::socket_t Send(zmq::context_t& context, const std::string& endpoint, const KeyPair* client,
                   const std::string& server_key) {
  zmq::socket_t s(context, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  if (client != nullptr) REQUIRE(MakeCurveClient(s, *client, server_key).ok());
  s.connect(endpoint);
  (void)s.send(zmq::str_buffer("hello"), zmq::send_flags::dontwait);
  return s;
}

}  // namespace

TEST_CASE("ZAP admits principals' keys by name and nothing else", "[security][zap]") {
  zmq::context_t context;
  Server server(context);
  KeyPair alice = GenerateKeyPair().value(), bob = GenerateKeyPair().value();
  auto principals = std::make_shared<Principals>();
  Principal a{"alice", alice.public_key, "tenant_a", {"*"}, {"*"}, false};
  Principal b{"bob", bob.public_key, "tenant_b", {"*"}, {}, true};
  REQUIRE(principals->Add(a).ok());
  REQUIRE(principals->Add(b).ok());
  auto zap = ZapHandler::Start(context, server.keys, principals);
  REQUIRE(zap.ok());

  const std::chrono::milliseconds refused(300), admitted(5000);
  {
    auto c = Send(context, server.endpoint, &alice, server.keys.public_key);
    CHECK(server.Receive(admitted) ==
          std::optional<std::string>(ConnectionId("alice", alice.public_key, "tenant_a")));
  }
  KeyPair stranger = GenerateKeyPair().value();
  {
    auto c = Send(context, server.endpoint, &stranger, server.keys.public_key);
    CHECK(server.Receive(refused) == std::nullopt);
  }
  {
    auto c = Send(context, server.endpoint, nullptr, "");
    CHECK(server.Receive(refused) == std::nullopt);
  }
  {
    KeyPair other_server = GenerateKeyPair().value();
    auto c = Send(context, server.endpoint, &alice, other_server.public_key);
    CHECK(server.Receive(refused) == std::nullopt);
  }
  {
    auto c = Send(context, server.endpoint, &bob, server.keys.public_key);  // disabled
    CHECK(server.Receive(refused) == std::nullopt);
  }
  // Enabled by a new set (as on SIGHUP): the next connection gets in.
  auto next = std::make_shared<Principals>(*principals);
  REQUIRE(next->SetDisabled("bob", false).ok());
  zap.value()->Replace(next);
  {
    auto c = Send(context, server.endpoint, &bob, server.keys.public_key);
    CHECK(server.Receive(admitted) ==
          std::optional<std::string>(ConnectionId("bob", bob.public_key, "tenant_b")));
  }
  CHECK(zap.value()->admitted() >= 2);
  CHECK(zap.value()->refused() >= 2);  // plaintext and a wrong server key fail before ZAP

  // The self-test passes with the handler in place.
  CHECK(SelfTest(context, server.socket, ServerSocket::kRouter, server.endpoint, server.keys,
                 std::chrono::milliseconds(300))
            .ok());
}

TEST_CASE("Without a ZAP handler a CURVE server admits no one and the self-test fails",
          "[security][zap]") {
  zmq::context_t context;
  Server server(context);
  KeyPair alice = GenerateKeyPair().value();
  {
    auto c = Send(context, server.endpoint, &alice, server.keys.public_key);
    CHECK(server.Receive(std::chrono::milliseconds(300)) == std::nullopt);
  }
  Status s = SelfTest(context, server.socket, ServerSocket::kRouter, server.endpoint, server.keys,
                      std::chrono::milliseconds(300));
  CHECK(s.code() == Code::kInternal);
  CHECK_THAT(s.message(), Catch::Contains("is the ZAP handler running?"));
}

TEST_CASE("The self-test of an XPUB: own key subscribes, unknown key and plaintext do not",
          "[security][zap]") {
  zmq::context_t context;
  zmq::socket_t xpub(context, zmq::socket_type::xpub);
  xpub.set(zmq::sockopt::linger, 0);
  xpub.set(zmq::sockopt::xpub_manual, 1);
  KeyPair keys = GenerateKeyPair().value();
  REQUIRE(MakeCurveServer(xpub, keys).ok());
  xpub.bind("tcp://127.0.0.1:*");
  const std::string endpoint = xpub.get(zmq::sockopt::last_endpoint);
  // No handler: fails closed.
  Status s =
      SelfTest(context, xpub, ServerSocket::kXpub, endpoint, keys, std::chrono::milliseconds(300));
  CHECK_THAT(s.message(), Catch::Contains("is the ZAP handler running?"));
  auto zap = ZapHandler::Start(context, keys, std::make_shared<Principals>());
  REQUIRE(zap.ok());
  CHECK(SelfTest(context, xpub, ServerSocket::kXpub, endpoint, keys, std::chrono::milliseconds(500))
            .ok());
}

TEST_CASE("A second ZAP handler in one context is refused", "[security][zap]") {
  zmq::context_t context;
  KeyPair server = GenerateKeyPair().value();
  auto first = ZapHandler::Start(context, server, std::make_shared<Principals>());
  REQUIRE(first.ok());
  auto second = ZapHandler::Start(context, server, std::make_shared<Principals>());
  CHECK(second.status().code() == Code::kUnavailable);
}

}  // namespace cqrs::security
