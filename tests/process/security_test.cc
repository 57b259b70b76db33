// Security through real processes (`cqrs up` with [security] server_key): CURVE + ZAP on every
// endpoint, the tenant and ACL from the principals file, SIGHUP reloading it.
//  - unknown key, plaintext, wrong server key: no reply and no request counted by any server;
//  - tenant B cannot see or change tenant A's data: thousands of reads, scans, finds, aggregates
//    and writes (same collection and keys, A's client id, a token naming A), 0 of A's entities
//    changed, 0 of A's events delivered to B;
//  - the change feed admits only a subscriber's own tenant's collections;
//  - read-only ACL: PermissionDenied on writes; a disabled principal is cut off after SIGHUP;
//  - a captured request resent: the original reply, no new effect;
//  - a secured server without its ZAP handler refuses to start (fails closed).
#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <thread>
#include <zmq.hpp>

#include "base/config.h"
#include "client/client.h"
#include "client/subscriber.h"
#include "security/curve_client.h"
#include "security/principals.h"
#include "shm/control_block.h"
#include "tests/support/pipeline.h"
#include "wire/aligned_buffer.h"
#include "wire/command_codec.h"

namespace cqrs {
namespace {

const std::string kOrdersToml =
    "[[collections]]\nname = \"orders\"\nindexes = [\"owner\"]\n"
    "aggregates = [{ name = \"by_owner\", group_by = \"owner\" }]\n";

// A pipeline config with security on (and nosync: these tests are not about durability).
testing::PipelineConfig SecureConfig() {
  testing::PipelineConfig config;
  config.durability = "nosync";
  config.security = true;
  return config;
}

std::unique_ptr<Client> Connect(const testing::Pipeline& p, const security::ClientCurve& curve,
                                std::string client_id = {}) {
  ClientOptions o = p.client_options(curve);
  o.client_id = std::move(client_id);
  o.deadline = std::chrono::milliseconds(10000);
  auto c = Client::Connect(o);
  REQUIRE(c.ok());
  return std::move(c).value();
}

// Sends `frame` on a fresh DEALER (CURVE per `curve`) and returns the reply, or "" if none came
// within `wait`.
std::string Exchange(const std::string& endpoint, const security::ClientCurve& curve,
                     std::span<const std::uint8_t> frame, std::chrono::milliseconds wait) {
  zmq::context_t context;
  zmq::socket_t s(context, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  security::SecureClient(s, curve);
  s.connect(endpoint);
  (void)s.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::dontwait);
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, wait);
  if (!(item.revents & ZMQ_POLLIN)) return {};
  zmq::message_t reply;
  (void)s.recv(reply);
  return reply.to_string();
}

wire::CommandReplyData ParseReply(const std::string& bytes) {
  wire::AlignedBuffer aligned;
  aligned.Assign(bytes.data(), bytes.size());
  wire::CommandReplyData reply;
  REQUIRE(wire::ParseCommandReply(aligned.span(), &reply).ok());
  return reply;
}

std::uint64_t Requests(const shm::ControlBlock& control, int slot) {
  return control.slot(slot).counters[shm::kRequests].load();
}

// The slot's request count once it has not moved for 300 ms.
std::uint64_t SettledRequests(const shm::ControlBlock& control, int slot) {
  std::uint64_t before = Requests(control, slot);
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const std::uint64_t now = Requests(control, slot);
    if (now == before) return now;
    before = now;
  }
}

std::string Owner(const wire::EntityData& e) {
  for (const auto& f : e.fields)
    if (f.name == "owner") return std::get<std::string>(f.value);
  return "?";
}

}  // namespace

TEST_CASE("Security on: only principals get in, each tenant sees only its own data",
          "[process][security]") {
  testing::TempDir dir;
  testing::PipelineConfig config = SecureConfig();
  config.extra_toml = kOrdersToml;
  testing::Pipeline p(dir, config);
  const auto alice = p.AddPrincipal("alice", "tenant_a", {"*"}, {"*"});
  const auto bob = p.AddPrincipal("bob", "tenant_b", {"*"}, {"*"});
  const auto auditor = p.AddPrincipal("auditor", "tenant_a", {"orders"}, {});
  const auto carol = p.AddPrincipal("carol", "tenant_a", {"orders"}, {"orders"});
  p.StartUp();
  auto attached = shm::ControlBlock::Attach(p.data_dir, config.cache_slots);
  REQUIRE(attached.ok());
  const shm::ControlBlock& control = attached.value();

  auto a = Connect(p, alice, "shared-client");
  for (int i = 0; i < 100; ++i)
    REQUIRE(a->Upsert("orders", fmt::format("k{:03d}", i), {{"owner", std::string("a")}}).ok());
  const std::uint64_t a_seq = a->Upsert("orders", "last", {{"owner", std::string("a")}}).seq;

  SECTION("unknown key, plaintext and a wrong server key get no reply and reach no server") {
    wire::CommandRequestEncoder encoder;
    CommandSpec put = Upsert("orders", "k000", {{"owner", std::string("x")}});
    auto frame = encoder.Encode("intruder", 1, "", {&put, 1});
    security::ClientCurve unknown;
    unknown.keys = security::GenerateKeyPair().value();
    unknown.server_public_key = p.server_keys.public_key;
    security::ClientCurve wrong_server = alice;
    wrong_server.server_public_key = security::GenerateKeyPair().value().public_key;
    // A server counts a batch's requests after replying to them: wait for still counters.
    const std::uint64_t writer_before = SettledRequests(control, shm::kWriterSlot);
    const std::uint64_t reader_before = SettledRequests(control, shm::kFirstReaderSlot);
    for (const auto* curve : {&unknown, &wrong_server}) {
      CHECK(Exchange(p.writer, *curve, frame, std::chrono::milliseconds(500)).empty());
      CHECK(Exchange(p.readers[0], *curve, frame, std::chrono::milliseconds(300)).empty());
      CHECK(Exchange(p.replay, *curve, frame, std::chrono::milliseconds(300)).empty());
    }
    CHECK(Exchange(p.writer, {}, frame, std::chrono::milliseconds(500)).empty());
    CHECK(Exchange(p.readers[0], {}, frame, std::chrono::milliseconds(300)).empty());
    CHECK(Requests(control, shm::kWriterSlot) == writer_before);
    CHECK(Requests(control, shm::kFirstReaderSlot) == reader_before);
    // The same frame from a principal is answered (the negative checks could not pass vacuously).
    CHECK(!Exchange(p.writer, alice, frame, std::chrono::milliseconds(5000)).empty());
    CHECK(testing::WaitFor([&] { return Requests(control, shm::kWriterSlot) == writer_before + 1; },
                           std::chrono::seconds(5)));
  }

  SECTION("tenant B cannot read, write, scan, find, aggregate or subscribe to tenant A's data") {
    // B's live feed, and B trying A's topics with a raw SUB.
    auto b_sub = Subscriber::Connect([&] {
      auto o = p.subscriber_options(bob, "tenant_b");
      o.collection = "orders";
      o.from_seq = 1;
      return o;
    }());
    REQUIRE(b_sub.ok());
    zmq::context_t context;
    zmq::socket_t spy(context, zmq::socket_type::sub);
    spy.set(zmq::sockopt::linger, 0);
    security::SecureClient(spy, bob);
    for (const char* topic : {"", "tenant_a/", "tenant_a/orders/", "tenant_a/orders/k000", "t",
                              "tenant_b", "tenant_b/../tenant_a/", "*", "tenant_a"})
      spy.set(zmq::sockopt::subscribe, topic);
    // Fuzzed prefixes: A's tenant mutated, random bytes, NULs, very long ones.
    std::mt19937_64 rng(8);
    for (int i = 0; i < 300; ++i) {
      std::string topic = i % 3 == 0 ? std::string("tenant_a/orders/") : std::string();
      const std::size_t n = rng() % (i % 10 == 0 ? 600 : 12);
      for (std::size_t j = 0; j < n; ++j) topic.push_back(static_cast<char>(rng() % 256));
      if (i % 3 == 1 && !topic.empty()) topic[0] = 't';
      spy.set(zmq::sockopt::subscribe, topic);
    }
    spy.connect(p.events);

    // B uses A's client id, A's keys and collection, and a token naming A's tenant.
    ClientOptions o = p.client_options(bob);
    o.client_id = "shared-client";
    o.token = "tenant=tenant_a";
    auto bc = Client::Connect(o);
    REQUIRE(bc.ok());
    Client& b = *bc.value();
    int b_writes = 0, reads = 0;
    for (int i = 0; i < 50; ++i, ++b_writes) {
      CommandResult r =
          b.Upsert("orders", fmt::format("k{:03d}", i), {{"owner", std::string("b")}});
      REQUIRE(r.ok());
      CHECK(r.versions.at(0) == 1);  // B's own entity, not a second version of A's
    }
    ReadOptions fresh;
    fresh.min_seq = a_seq;
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < 100; ++i, ++reads) {
        QueryResult g = b.Get("orders", fmt::format("k{:03d}", i), fresh);
        if (i < 50) {
          REQUIRE(g.ok());
          CHECK(Owner(g.entities.at(0)) == "b");
        } else {
          CHECK(g.status == Code::kNotFound);
        }
      }
      QueryResult scan = b.Scan({"orders", "", "", "", "", 1000}, fresh);
      REQUIRE(scan.ok());
      CHECK(scan.entities.size() == 50);
      for (const auto& e : scan.entities) CHECK(Owner(e) == "b");
      QueryResult find = b.Find({"orders", "owner", std::string("a"), {}, {}, "", 1000}, fresh);
      REQUIRE(find.ok());
      CHECK(find.entities.empty());
      QueryResult agg = b.Aggregate("orders", "by_owner", fresh);
      REQUIRE(agg.ok());
      REQUIRE(agg.groups.size() == 1);
      CHECK(std::get<std::string>(agg.groups[0].key) == "b");
      CHECK(agg.groups[0].count == 50);
      reads += 4;
    }
    // Deletes and conditional updates of A's keys only ever touch B's (or nothing).
    for (int i = 50; i < 100; ++i, ++b_writes) {
      CHECK(b.Delete("orders", fmt::format("k{:03d}", i)).status == Code::kNotFound);
      CHECK(
          b.Update("orders", fmt::format("k{:03d}", i), {{"owner", std::string("b")}}, 1).status ==
          Code::kNotFound);
    }

    // A's data is untouched, and A's client id sequence was not disturbed by B's use of it.
    const std::uint64_t last = a->Upsert("orders", "after", {{"owner", std::string("a")}}).seq;
    REQUIRE(last > 0);
    ReadOptions at_last;
    at_last.min_seq = last;
    QueryResult all = a->Scan({"orders", "", "", "", "", 1000}, at_last);
    REQUIRE(all.ok());
    CHECK(all.entities.size() == 102);
    for (const auto& e : all.entities) {
      CHECK(Owner(e) == "a");
      CHECK(e.version == 1);
    }
    QueryResult a_agg = a->Aggregate("orders", "by_owner", at_last);
    REQUIRE(a_agg.groups.size() == 1);
    CHECK(a_agg.groups[0].count == 102);

    // B's subscriber: B's 50 events (and nothing of A's); the spy: nothing but heartbeats.
    std::set<std::string> b_keys;
    int foreign = 0;
    testing::WaitFor(
        [&] {
          (void)b_sub.value()->Poll(std::chrono::milliseconds(50), [&](const fb::Event& e) {
            if (e.tenant()->string_view() != "tenant_b") ++foreign;
            b_keys.insert(e.key()->str());
          });
          return b_keys.size() >= 50;
        },
        std::chrono::seconds(20));
    CHECK(b_keys.size() == 50);
    CHECK(foreign == 0);
    int spied = 0, heartbeats = 0;
    for (;;) {
      zmq::message_t topic, body;
      if (!spy.recv(topic, zmq::recv_flags::dontwait)) break;
      (void)spy.recv(body);
      (topic.to_string() == "~hb" ? heartbeats : spied) += 1;
    }
    CHECK(spied == 0);
    INFO("B: " << b_writes << " writes, " << reads << " reads; spy got " << heartbeats
               << " heartbeats");
    CHECK(reads >= 2000);
  }

  SECTION("read-only ACL: PermissionDenied on writes; a disabled principal is cut off") {
    auto ro = Connect(p, auditor);
    CommandResult w = ro->Upsert("orders", "k000", {{"owner", std::string("z")}});
    CHECK(w.status == Code::kPermissionDenied);
    CHECK(w.message.find("auditor") != std::string::npos);
    ReadOptions after_a;  // the auditor has written nothing: ask for a snapshot with A's writes
    after_a.min_seq = a_seq;
    QueryResult k0 = ro->Get("orders", "k000", after_a);
    INFO(k0.message);
    REQUIRE(k0.ok());
    CHECK(Owner(k0.entities.at(0)) == "a");
    CHECK(ro->Get("customers", "c1", after_a).status == Code::kPermissionDenied);

    auto c = Connect(p, carol);
    REQUIRE(c->Upsert("orders", "carol", {{"owner", std::string("a")}}).ok());
    REQUIRE(c->Get("orders", "carol").ok());  // its reader connection is made
    auto c_sub = Subscriber::Connect([&] {
      auto o = p.subscriber_options(carol, "tenant_a");
      o.collection = "orders";
      return o;
    }());
    REQUIRE(c_sub.ok());
    auto a_sub = Subscriber::Connect([&] {
      auto o = p.subscriber_options(alice, "tenant_a");
      o.collection = "orders";
      return o;
    }());
    REQUIRE(a_sub.ok());
    // `cqrs principal` with the pipeline's config signals its running processes itself.
    const std::string said =
        testing::RunShell(fmt::format("{} principal disable carol --config {} --data {} 2>&1",
                                      testing::CliBinary(), p.config_path, p.data_dir));
    CHECK_THAT(said, Catch::Contains("reloading (SIGHUP): writer"));
    // Each process reloads when the signal reaches it: within seconds both the writer and the
    // readers refuse carol's next message on its open connections, and keep refusing.
    CommandResult refused;
    QueryResult denied;
    REQUIRE(testing::WaitFor(
        [&] {
          refused = c->Upsert("orders", "carol", {{"owner", std::string("a")}});
          denied = c->Get("orders", "k000");
          return refused.status == Code::kUnauthenticated &&
                 denied.status == Code::kUnauthenticated;
        },
        std::chrono::seconds(10)));
    CHECK(refused.message.find("disabled") != std::string::npos);
    for (int i = 0; i < 20; ++i) {
      CHECK(c->Upsert("orders", "carol", {{"owner", std::string("a")}}).status ==
            Code::kUnauthenticated);
      CHECK(c->Get("orders", "k000").status == Code::kUnauthenticated);
    }
    // A new connection of carol's is refused at the handshake: no reply at all.
    ClientOptions fresh_options = p.client_options(carol);
    fresh_options.deadline = std::chrono::milliseconds(1500);
    auto fresh = Client::Connect(fresh_options);
    REQUIRE(fresh.ok());
    CommandResult cut = fresh.value()->Upsert("orders", "carol", {{"owner", std::string("a")}});
    CHECK(cut.status == Code::kUnavailable);
    CHECK(cut.indeterminate);
    CHECK_THAT(cut.message, Catch::Contains("the server refused this client's key"));
    QueryResult cut_read = fresh.value()->Get("orders", "k000");
    CHECK(cut_read.status == Code::kUnavailable);
    CHECK_THAT(cut_read.message, Catch::Contains("the server refused this client's key"));
    // The feed was rebound: carol's subscriber gets nothing written after this point.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    (void)c_sub.value()->Poll(std::chrono::milliseconds(200), [](const fb::Event&) {});
    const std::uint64_t before = c_sub.value()->stats().delivered;
    REQUIRE(a->Upsert("orders", "after-disable", {{"owner", std::string("a")}}).ok());
    for (int i = 0; i < 10; ++i)
      (void)c_sub.value()->Poll(std::chrono::milliseconds(100), [](const fb::Event&) {});
    CHECK(c_sub.value()->stats().delivered == before);
    // Alice was not affected by the reload: her subscriber, cut by the rebind like everyone's,
    // reconnects (the endpoint is there again) and receives the new event.
    CHECK(a->Get("orders", "after-disable").ok());
    bool seen = false;
    for (int i = 0; i < 20 && !seen; ++i) {  // a write a second until one arrives live
      REQUIRE(a->Upsert("orders", fmt::format("alice-{}", i), {{"owner", std::string("a")}}).ok());
      for (int j = 0; j < 10 && !seen; ++j)
        (void)a_sub.value()->Poll(std::chrono::milliseconds(100), [&](const fb::Event& e) {
          seen = seen || e.key()->string_view().starts_with("alice-");
        });
    }
    CHECK(seen);

    // Enabled again by editing the file alone, then a SIGHUP to `cqrs up` (which passes it on):
    // a new connection of carol's is served.
    testing::RunShell(fmt::format("{} principal enable carol --file {}", testing::CliBinary(),
                                  p.principals_path()));
    p.up->Signal(SIGHUP);
    auto again = Connect(p, carol);
    CHECK(testing::WaitFor(
        [&] {
          return again->Upsert("orders", "carol-again", {{"owner", std::string("a")}}).ok();
        },
        std::chrono::seconds(15)));
  }

  SECTION("the CLI takes --key and --server-key, or CQRS_KEY and CQRS_SERVER_KEY") {
    const std::string keys = dir / "cli-keys";
    std::filesystem::create_directories(keys);
    REQUIRE(security::WriteKeyFiles(keys, "alice", alice.keys, false).ok());
    REQUIRE(security::WriteKeyFiles(keys, "server", p.server_keys, false).ok());
    const std::string auth =
        fmt::format("--key {}/alice.key --server-key {}/server.pub", keys, keys);
    testing::RunShell(fmt::format("{} put orders from_cli owner=a --config {} --data {} {}",
                                  testing::CliBinary(), p.config_path, p.data_dir, auth));
    const std::string got = testing::RunShell(fmt::format(
        "CQRS_KEY={0}/alice.key CQRS_SERVER_KEY='{1}' {2} get orders from_cli "
        "--config {3} --data {4}",
        keys, p.server_keys.public_key, testing::CliBinary(), p.config_path, p.data_dir));
    CHECK(got.find("\"owner\":\"a\"") != std::string::npos);
    // Without keys the CLI gets no connection: it gives up (exit 3, indeterminate).
    const std::string plain = testing::RunShell(
        fmt::format("{} get orders from_cli --config {} --data {} --timeout 1500; echo exit=$?",
                    testing::CliBinary(), p.config_path, p.data_dir));
    CHECK(plain.find("exit=0") == std::string::npos);
    // Half a configuration is refused by name.
    const std::string half = testing::RunShell(fmt::format(
        "{} get orders from_cli --config {} --data {} --key {}/alice.key 2>&1; echo exit=$?",
        testing::CliBinary(), p.config_path, p.data_dir, keys));
    CHECK(half.find("--server-key") != std::string::npos);
    CHECK(half.find("exit=2") != std::string::npos);
  }

  SECTION("a captured request resent: the original reply, no new effect") {
    wire::CommandRequestEncoder encoder;
    CommandSpec put = Upsert("orders", "replayed", {{"owner", std::string("a")}});
    auto bytes = encoder.Encode("capture", 1, "", {&put, 1});
    const std::vector<std::uint8_t> frame(bytes.begin(), bytes.end());
    const std::string first = Exchange(p.writer, alice, frame, std::chrono::milliseconds(5000));
    REQUIRE(!first.empty());
    wire::CommandReplyData r1 = ParseReply(first);
    REQUIRE(r1.status == Code::kOk);
    // The writer publishes its committed seq after replying: wait until it shows r1's.
    REQUIRE(testing::WaitFor([&] { return control.seqs().writer_committed_seq.load() >= r1.seq; },
                             std::chrono::seconds(5)));
    const std::uint64_t committed = control.seqs().writer_committed_seq.load();
    wire::CommandReplyData r2 =
        ParseReply(Exchange(p.writer, alice, frame, std::chrono::milliseconds(5000)));
    CHECK(r2.status == Code::kOk);
    CHECK(r2.seq == r1.seq);
    CHECK(r2.versions == r1.versions);
    CHECK(control.seqs().writer_committed_seq.load() == committed);
    // Resent by another tenant's principal it is that tenant's own first write, not A's again.
    wire::CommandReplyData r3 =
        ParseReply(Exchange(p.writer, bob, frame, std::chrono::milliseconds(5000)));
    CHECK(r3.status == Code::kOk);
    CHECK(r3.seq > r1.seq);
    CHECK(r3.versions == std::vector<std::uint64_t>{1});
  }
}

namespace {

// Rewrites the principals file with `change` applied to the principal named `name` (removed if
// `change` returns false), then has every server reload it.
void EditPrincipal(testing::Pipeline& p, const std::string& name,
                   const std::function<bool(security::Principal*)>& change) {
  auto current = security::Principals::Load(p.principals_path());
  REQUIRE(current.ok());
  security::Principals next;
  for (security::Principal q : current->all()) {
    if (q.name == name && !change(&q)) continue;
    REQUIRE(next.Add(q).ok());
  }
  REQUIRE(next.Save(p.principals_path()).ok());
  p.up->Signal(SIGHUP);
}

// After a reload, how long `client`'s open connections kept being served, and that every later
// write and read is refused Unauthenticated with `why` in the message.
void ExpectCutOff(Client& client, const std::string& why) {
  const auto reloaded = std::chrono::steady_clock::now();
  int served = 0;
  CommandResult w;
  QueryResult r;
  REQUIRE(testing::WaitFor(
      [&] {
        w = client.Upsert("orders", "cut", {{"owner", std::string("x")}});
        r = client.Get("orders", "k000");
        served += (w.ok() ? 1 : 0) + (r.status != Code::kUnauthenticated ? 1 : 0);
        return w.status == Code::kUnauthenticated && r.status == Code::kUnauthenticated &&
               w.message.find(why) != std::string::npos && r.message.find(why) != std::string::npos;
      },
      std::chrono::seconds(10)));
  const double cut_after_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - reloaded).count();
  INFO("cut off after " << cut_after_s << " s, " << served << " requests served meanwhile");
  CHECK(cut_after_s <= 2.0);
  for (int i = 0; i < 20; ++i) {
    CHECK(client.Upsert("orders", "cut", {{"owner", std::string("x")}}).status ==
          Code::kUnauthenticated);
    CHECK(client.Get("orders", "k000").status == Code::kUnauthenticated);
  }
}

}  // namespace

TEST_CASE("issue #15: a query parked on min_seq is judged again when it wakes",
          "[process][security]") {
  testing::TempDir dir;
  testing::PipelineConfig config = SecureConfig();
  config.readers = 1;
  testing::Pipeline p(dir, config);
  security::ClientCurve waiter = p.AddPrincipal("waiter", "acme", {"*"}, {"*"});
  p.StartUp();
  auto parked_client = Connect(p, waiter);
  auto probe_client = Connect(p, waiter);  // its connection is open before the reload too
  REQUIRE(parked_client->Upsert("orders", "k1", {{"owner", std::string("w")}}).ok());
  ReadOptions after_k1;  // another client's write: read at its seq, not at any snapshot
  after_k1.min_seq = parked_client->last_seq();
  REQUIRE(probe_client->Get("orders", "k1", after_k1).ok());
  auto control = shm::ControlBlock::Attach(p.data_dir, CacheConfig().slots);
  REQUIRE(control.ok());
  const auto projector = static_cast<pid_t>(control->slot(shm::kProjectorSlot).pid.load());
  REQUIRE(projector > 0);
  REQUIRE(kill(projector, SIGSTOP) == 0);  // what is written now is not applied
  CommandResult w = parked_client->Upsert("orders", "k2", {{"owner", std::string("w")}});
  REQUIRE(w.ok());
  QueryResult parked;
  std::thread waiting([&] {
    ReadOptions at;
    at.min_seq = w.seq;
    at.wait = std::chrono::milliseconds(20000);
    parked = parked_client->Get("orders", "k2", at);
  });
  struct Resume {  // a failed REQUIRE below must not leave the projector stopped or the thread
    pid_t projector;
    std::thread& waiting;
    ~Resume() {
      kill(projector, SIGCONT);
      if (waiting.joinable()) waiting.join();
    }
  } resume{projector, waiting};
  // Once the query waits (the reader counts it), the principal is disabled and the reader has
  // reloaded (the probe's open connection is refused).
  REQUIRE(testing::WaitFor(
      [&] { return control->slot(shm::kFirstReaderSlot).counters[shm::kWaited].load() > 0; },
      std::chrono::seconds(10)));
  testing::RunShell(fmt::format("{} principal disable waiter --config {} --data {} 2>&1",
                                testing::CliBinary(), p.config_path, p.data_dir));
  ReadOptions now;
  now.min_seq = 0;
  REQUIRE(testing::WaitFor(
      [&] { return probe_client->Get("orders", "k1", now).status == Code::kUnauthenticated; },
      std::chrono::seconds(10)));
  REQUIRE(kill(projector, SIGCONT) == 0);
  waiting.join();
  INFO(parked.message);
  CHECK(parked.status == Code::kUnauthenticated);
  CHECK(parked.entities.empty());
}

TEST_CASE("issue #15: a rotated key or a reused name cuts the connections made before",
          "[process][security]") {
  testing::TempDir dir;
  testing::Pipeline p(dir, SecureConfig());
  security::ClientCurve old_key = p.AddPrincipal("rot", "acme", {"*"}, {"*"});
  security::ClientCurve reused = p.AddPrincipal("reuse", "acme", {"*"}, {"*"});
  p.StartUp();
  auto rot = Connect(p, old_key);
  auto reuse = Connect(p, reused);
  REQUIRE(rot->Upsert("orders", "k000", {{"owner", std::string("rot")}}).ok());
  REQUIRE(rot->Get("orders", "k000").ok());
  REQUIRE(reuse->Upsert("orders", "r1", {{"owner", std::string("reuse")}}).ok());

  SECTION("the key replaced (a leaked key rotated): the old key's connection is cut") {
    security::ClientCurve new_key = old_key;
    new_key.keys = security::GenerateKeyPair().value();
    EditPrincipal(p, "rot", [&](security::Principal* q) {
      q->public_key = new_key.keys.public_key;
      return true;
    });
    ExpectCutOff(*rot, "has another key or tenant since this connection was made");
    // The new key is served, in the same tenant.
    auto fresh = Connect(p, new_key);
    REQUIRE(testing::WaitFor([&] { return fresh->Get("orders", "k000").ok(); },
                             std::chrono::seconds(10)));
  }
  SECTION("the name removed and added again for another tenant with the same key") {
    EditPrincipal(p, "reuse", [](security::Principal*) { return false; });
    ExpectCutOff(*reuse, "is not in the principals file");
    security::Principal again{"reuse", reused.keys.public_key, "other", {"*"}, {"*"}, false};
    auto current = security::Principals::Load(p.principals_path());
    REQUIRE(current.ok());
    REQUIRE(current->Add(again).ok());
    REQUIRE(current->Save(p.principals_path()).ok());
    p.up->Signal(SIGHUP);
    // The connection made for tenant acme never acts in tenant "other".
    ExpectCutOff(*reuse, "has another key or tenant since this connection was made");
    auto fresh = Connect(p, reused);
    QueryResult r;
    REQUIRE(testing::WaitFor(
        [&] {
          r = fresh->Get("orders", "r1");
          return r.status == Code::kNotFound;  // acme's r1 is not tenant other's
        },
        std::chrono::seconds(10)));
  }
}

TEST_CASE("A storm of SIGHUPs under load: every process reloads, none dies, nothing is lost",
          "[process][security]") {
  testing::TempDir dir;
  testing::PipelineConfig config = SecureConfig();
  testing::Pipeline p(dir, config);  // its destructor fails the test if a process restarted
  const auto alice = p.AddPrincipal("alice", "tenant_a", {"*"}, {"*"});
  p.StartUp();
  std::atomic<bool> done{false};
  int signals = 0;
  std::thread hup([&] {
    while (!done.load()) {
      p.up->Signal(SIGHUP);
      ++signals;
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });
  auto a = Connect(p, alice);
  int ok = 0;
  std::uint64_t last = 0;
  for (int i = 0; i < 1500; ++i) {
    CommandResult r = a->Upsert("orders", fmt::format("k{}", i % 100), {{"n", std::int64_t{i}}});
    ok += r.ok() ? 1 : 0;
    last = std::max(last, r.seq);
    if (i % 10 == 0) CHECK(a->Get("orders", fmt::format("k{}", i % 100)).ok());
  }
  done = true;
  hup.join();
  CHECK(ok == 1500);
  CHECK(last == 1500);
  INFO(signals << " SIGHUPs");
  CHECK(signals > 50);
}

TEST_CASE("A connection that never completes its handshake is dropped", "[process][security]") {
  testing::TempDir dir;
  testing::PipelineConfig config;
  config.security = true;
  config.security_toml = "handshake_timeout_ms = 300\n";
  testing::Pipeline p(dir, config);
  auto writer = p.StartProcess("cqrs-writer");
  testing::Pipeline::WaitAnswering(p.writer, p.probe);
  // A raw connection to the writer's ipc socket that sends half a ZMTP greeting, then nothing.
  const std::string path = p.writer.substr(std::string("ipc://").size());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::copy(path.begin(), path.end(), addr.sun_path);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const char greeting[] = {'\xff', 0, 0, 0, 0, 0, 0, 0, 1, 0x7f};
  REQUIRE(write(fd, greeting, sizeof greeting) == static_cast<ssize_t>(sizeof greeting));
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto start = std::chrono::steady_clock::now();
  char buf[512];
  ssize_t n = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0) {  // the server's greeting, then EOF
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  close(fd);
  CHECK(n == 0);  // closed by the server, not our 10 s timeout (-1)
  CHECK(waited < std::chrono::seconds(5));
  writer->Signal(SIGTERM);
  CHECK(writer->Wait(std::chrono::seconds(10)) == 0);
}

TEST_CASE("A secured server without its ZAP handler refuses to start", "[process][security]") {
  testing::TempDir dir;
  testing::PipelineConfig config;
  config.security = true;
  testing::Pipeline p(dir, config);
  p.expect_restarts = true;  // the log holds the refusals on purpose
  auto writer = p.StartProcess("cqrs-writer", {}, {"CQRS_FAULTS=no_zap_handler=1"});
  CHECK(writer->Wait(std::chrono::seconds(20)) == 1 << 8);  // exit 1
  // With its handler the writer starts and serves; the projector without one does not.
  writer = p.StartProcess("cqrs-writer");
  testing::Pipeline::WaitAnswering(p.writer, p.probe);
  auto projector = p.StartProcess("cqrs-projector", {}, {"CQRS_FAULTS=no_zap_handler=1"});
  CHECK(projector->Wait(std::chrono::seconds(20)) == 1 << 8);  // exit 1
  writer->Signal(SIGTERM);
  CHECK(writer->Wait(std::chrono::seconds(10)) == 0);
  const std::string log = testing::ReadFile(p.log_path);
  CHECK(log.find("security self-test failed") != std::string::npos);
  CHECK(log.find("is the ZAP handler running?") != std::string::npos);

  // A server key file that is not there stops a server at once, naming the file.
  const std::string bad_config = dir / "bad.toml";
  std::ofstream(bad_config) << "[security]\nserver_key = \"" << (dir / "missing.key") << "\"\n";
  testing::ChildProcess bad({testing::WriterBinary(), "--config", bad_config, "--data",
                             dir / "other", "--endpoint", "ipc://" + (dir / "other.sock")},
                            p.log_path);
  CHECK(bad.Wait(std::chrono::seconds(10)) == 1 << 8);
  CHECK(testing::ReadFile(p.log_path).find(dir / "missing.key") != std::string::npos);
}

}  // namespace cqrs
