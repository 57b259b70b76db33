// cqrs-writer as a real process on real ZeroMQ sockets, driven by the C++ client, raw DEALER and
// REQ sockets, and the cqrs CLI.
#include "tests/support/writer_process.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <zmq.hpp>

#include "client/client.h"
#include "store/write_store.h"
#include "store/write_store_format.h"
#include "tests/support/replies.h"
#include "wire/aligned_buffer.h"
#include "wire/batch_codec.h"
#include "wire/command_codec.h"
#include "wire/event_codec.h"
#include "wire/protocol.h"
#include "wire/value_codec.h"

namespace cqrs {
namespace {

using testing::TempDir;
using testing::WriterProcess;

std::unique_ptr<Client> Connect(const std::string& endpoint, std::string client_id = "") {
  ClientOptions o;
  o.writer_endpoint = endpoint;
  o.client_id = std::move(client_id);
  o.deadline = std::chrono::milliseconds(20000);
  auto c = Client::Connect(o);
  REQUIRE(c.ok());
  return std::move(c).value();
}

// A raw socket that sends frames and reads one reply with a deadline.
class RawPeer {
 public:
  RawPeer(const std::string& endpoint, zmq::socket_type type = zmq::socket_type::dealer)
      : socket_(context_, type) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }
  void Send(std::vector<std::vector<std::uint8_t>> frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      zmq::message_t m(frames[i].data(), frames[i].size());
      socket_.send(m, i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  // The frames of the next reply, or none within the timeout.
  std::vector<std::vector<std::uint8_t>> Receive(int timeout_ms = 5000) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
    std::vector<std::vector<std::uint8_t>> frames;
    if (!(item.revents & ZMQ_POLLIN)) return frames;
    zmq::message_t m;
    do {
      (void)socket_.recv(m);
      frames.emplace_back(m.data<std::uint8_t>(), m.data<std::uint8_t>() + m.size());
    } while (m.more());
    return frames;
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

std::vector<std::uint8_t> Encode(const std::vector<CommandSpec>& commands,
                                 const std::string& client_id, std::uint64_t request_id) {
  wire::CommandRequestEncoder encoder;
  auto bytes = encoder.Encode(client_id, request_id, "", commands);
  return {bytes.begin(), bytes.end()};
}

}  // namespace

TEST_CASE("cqrs-writer applies each op for the C++ client with the statuses clients rely on",
          "[process][writer]") {
  TempDir dir;
  WriterProcess writer(dir);
  auto client = Connect(writer.endpoint);
  auto created =
      client->Create("orders", "o1", {{"status", std::string("open")}, {"amount", 10.5}});
  REQUIRE(created.status == Code::kOk);
  CHECK(created.versions == std::vector<std::uint64_t>{1});
  CHECK(client->last_seq() == created.seq);
  CHECK(client->Create("orders", "o1", {}).status == Code::kAlreadyExists);
  CHECK(client->Update("orders", "o1", {{"status", std::string("paid")}}, 5).status ==
        Code::kVersionConflict);
  auto updated = client->Update("orders", "o1", {{"status", std::string("paid")}}, 1);
  REQUIRE(updated.status == Code::kOk);
  CHECK(updated.versions == std::vector<std::uint64_t>{2});
  CHECK(client->Update("orders", "nope", {}).status == Code::kNotFound);
  CHECK(client->Upsert("orders", "o2", {{"n", std::int64_t{1}}}).ok());
  // Atomic rollback: the second command fails, so the first is not applied.
  std::vector<CommandSpec> txn = {Create("orders", "o3", {}), Create("orders", "o1", {})};
  auto failed = client->Execute(txn);
  CHECK(failed.status == Code::kAlreadyExists);
  CHECK(failed.failed_index == 1);
  CHECK(client->Create("orders", "o3", {}).ok());  // o3 was not created by the failed request
  auto removed = client->Delete("orders", "o1");
  REQUIRE(removed.ok());
  CHECK(removed.versions == std::vector<std::uint64_t>{0});
  CHECK(client->Delete("orders", "o1").status == Code::kNotFound);
  auto bad = client->Upsert("Orders", "x", {});
  CHECK(bad.status == Code::kInvalidArgument);
  CHECK_THAT(bad.message, Catch::Contains("commands[0].collection 'Orders'"));
  CHECK(client->Upsert("orders", "after_bad", {}).ok());  // the session continues
}

TEST_CASE("A pipelined client gets every reply, seqs rising with request ids",
          "[process][writer][pipeline]") {
  TempDir dir;
  WriterProcess writer(dir);
  ClientOptions o;
  o.writer_endpoint = writer.endpoint;
  o.window = 128;
  auto connected = Client::Connect(o);
  REQUIRE(connected.ok());
  Client& client = *connected.value();
  const int n = 5000;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> acks;  // request id, seq
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    CommandSpec put = Upsert("load", "k" + std::to_string(i % 500), {{"i", std::int64_t{i}}});
    client.Submit({&put, 1}, [&](const CommandResult& r) {
      if (r.ok()) {
        acks.emplace_back(r.request_id, r.seq);
      } else {
        ++failures;
      }
    });
  }
  client.Flush();
  CHECK(failures == 0);
  REQUIRE(acks.size() == static_cast<std::size_t>(n));
  std::sort(acks.begin(), acks.end());
  for (std::size_t i = 1; i < acks.size(); ++i) {
    CHECK(acks[i].first == acks[i - 1].first + 1);
    CHECK(acks[i].second == acks[i - 1].second + 1);  // one event each, gap-free
  }
  CHECK(client.last_seq() == acks.back().second);
}

TEST_CASE("Garbage frames get InvalidArgument with request_id 0 and the writer keeps serving",
          "[process][writer][bad_input]") {
  TempDir dir;
  WriterProcess writer(dir);
  RawPeer peer(writer.endpoint);
  std::mt19937 rng(1);
  std::vector<std::vector<std::uint8_t>> garbage = {
      {},                                      // empty
      {1, 2, 3},                               // too short
      std::vector<std::uint8_t>(64, 0xff),     // unverifiable
      {8, 0, 0, 0, 'C', 'Q', 'Q', '1', 0, 0},  // another root type's identifier
  };
  for (int i = 0; i < 20; ++i) {
    std::vector<std::uint8_t> random(1 + rng() % 500);
    for (auto& b : random) b = static_cast<std::uint8_t>(rng());
    garbage.push_back(random);
  }
  auto valid = Encode({Upsert("orders", "k", {})}, "", 1);
  auto truncated =
      std::vector<std::uint8_t>(valid.begin(), valid.begin() + static_cast<long>(valid.size() / 2));
  garbage.push_back(truncated);
  for (const auto& frame : garbage) {
    peer.Send({frame});
    auto reply = peer.Receive();
    REQUIRE(reply.size() == 1);
    auto r = testing::ParseCommandReply(reply[0]);
    CHECK(r.status == Code::kInvalidArgument);
    CHECK(r.request_id == 0);
    CHECK(r.failed_index == -1);
  }
  // Extra frames: everything before the last is envelope, echoed back unchanged.
  peer.Send({{'x', 'y'}, valid});
  auto echoed = peer.Receive();
  REQUIRE(echoed.size() == 2);
  CHECK(echoed[0] == std::vector<std::uint8_t>{'x', 'y'});
  CHECK(testing::ParseCommandReply(echoed[1]).status == Code::kOk);
  // Over kMaxFrames frames: refused, still answered.
  std::vector<std::vector<std::uint8_t>> many(20, std::vector<std::uint8_t>{'f'});
  many.push_back(valid);
  peer.Send(many);
  auto refused = peer.Receive();
  REQUIRE_FALSE(refused.empty());
  auto too_many = testing::ParseCommandReply(refused.back());
  CHECK(too_many.status == Code::kInvalidArgument);
  CHECK_THAT(too_many.message, Catch::Contains("more than 16 frames"));
  auto client = Connect(writer.endpoint);
  CHECK(client->Upsert("orders", "still_serving", {}).ok());
}

TEST_CASE("Requests too large: refused below ZMQ_MAXMSGSIZE, sender cut off above it",
          "[process][writer][bad_input]") {
  TempDir dir;
  std::ofstream(dir / "small.toml") << "[limits]\nmax_request_bytes = 1000\n";
  WriterProcess writer(dir, {"--config", dir / "small.toml"});
  RawPeer peer(writer.endpoint);
  peer.Send({Encode({Upsert("orders", "k", {{"s", std::string(800, 'x')}})}, "", 1)});
  auto ok = peer.Receive();
  REQUIRE(ok.size() == 1);
  CHECK(testing::ParseCommandReply(ok[0]).status == Code::kOk);
  peer.Send({Encode({Upsert("orders", "k", {{"s", std::string(2000, 'x')}})}, "", 2)});
  auto refused = peer.Receive();
  REQUIRE(refused.size() == 1);
  auto r = testing::ParseCommandReply(refused[0]);
  CHECK(r.status == Code::kInvalidArgument);
  CHECK_THAT(r.message, Catch::Contains("over max_request_bytes 1000"));

  RawPeer big(writer.endpoint);
  big.Send({std::vector<std::uint8_t>((1 << 20) + (64 << 10) + 100, 0x41)});
  CHECK(big.Receive(500).empty());  // over writer.max_message_bytes: disconnected by libzmq
  auto client = Connect(writer.endpoint);
  CHECK(client->Upsert("orders", "still_serving", {}).ok());
}

TEST_CASE("With the default limits a request just over max_request_bytes is answered",
          "[process][writer][bad_input]") {
  TempDir dir;
  WriterProcess writer(dir);
  RawPeer peer(writer.endpoint);
  peer.Send({Encode({Upsert("orders", "k", {{"s", std::string(1 << 20, 'x')}})}, "", 1)});
  auto refused = peer.Receive();
  REQUIRE(refused.size() == 1);
  auto r = testing::ParseCommandReply(refused[0]);
  CHECK(r.status == Code::kInvalidArgument);
  CHECK_THAT(r.message, Catch::Contains("over max_request_bytes 1048576"));
}

TEST_CASE("A REQ client (empty delimiter frame) gets its reply", "[process][writer]") {
  TempDir dir;
  WriterProcess writer(dir);
  RawPeer req(writer.endpoint, zmq::socket_type::req);
  req.Send({Encode({Create("orders", "r1", {{"n", std::int64_t{1}}})}, "req-client", 1)});
  auto reply = req.Receive();
  REQUIRE(reply.size() == 1);  // REQ strips the delimiter
  auto r = testing::ParseCommandReply(reply[0]);
  CHECK(r.status == Code::kOk);
  CHECK(r.request_id == 1);
}

TEST_CASE("Over the socket, a duplicate gets the stored reply and a gap gets OutOfOrder",
          "[process][writer][idempotency]") {
  TempDir dir;
  WriterProcess writer(dir);
  RawPeer peer(writer.endpoint);
  auto first = Encode({Create("orders", "d1", {})}, "dup-client", 41);
  peer.Send({first});
  auto a = peer.Receive();
  peer.Send({first});
  auto b = peer.Receive();
  REQUIRE(a.size() == 1);
  CHECK(a == b);
  peer.Send({Encode({Create("orders", "d2", {})}, "dup-client", 43)});
  auto gap = testing::ParseCommandReply(peer.Receive()[0]);
  CHECK(gap.status == Code::kOutOfOrder);
  CHECK_THAT(gap.message, Catch::Contains("expected 42"));
}

TEST_CASE(
    "A Client reusing ids the writer has seen gets the remembered replies; a gap is a "
    "definite OutOfOrder",
    "[process][writer][idempotency]") {
  TempDir dir;
  WriterProcess writer(dir);
  ClientOptions o;
  o.writer_endpoint = writer.endpoint;
  o.client_id = "fixed-id";
  std::uint64_t first_seq = 0;
  {
    auto first = Client::Connect(o);
    REQUIRE(first.ok());
    auto r = first.value()->Create("orders", "once", {});
    REQUIRE(r.ok());
    first_seq = r.seq;
  }
  {
    // A restarted process with the same client_id and ids: the original reply, no new effect.
    auto again = Client::Connect(o);
    REQUIRE(again.ok());
    auto r = again.value()->Create("orders", "once", {});
    CHECK(r.ok());
    CHECK(r.seq == first_seq);
  }
  o.first_request_id = 5;  // the writer expects 2
  auto ahead = Client::Connect(o);
  REQUIRE(ahead.ok());
  auto r = ahead.value()->Create("orders", "other", {});
  CHECK(r.status == Code::kOutOfOrder);
  CHECK_FALSE(r.indeterminate);
  CHECK_THAT(r.message, Catch::Contains("expected 2"));
}

TEST_CASE("SIGTERM stops the writer cleanly and acknowledged writes survive the restart",
          "[process][writer]") {
  TempDir dir;
  WriterProcess writer(dir);
  {
    auto client = Connect(writer.endpoint);
    REQUIRE(client->Create("orders", "persisted", {{"n", std::int64_t{1}}}).ok());
  }
  writer.process->Signal(SIGTERM);
  int status = writer.process->Wait(std::chrono::seconds(10));
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  writer.Start();
  auto client = Connect(writer.endpoint);
  CHECK(client->Create("orders", "persisted", {}).status == Code::kAlreadyExists);
}

TEST_CASE("cqrs-writer binds tcp://127.0.0.1:* and reports the port it got", "[process][writer]") {
  TempDir dir;
  WriterProcess writer(dir, {"--durability", "nosync"}, "tcp://127.0.0.1:*");
  std::string endpoint = writer.endpoint;
  REQUIRE(endpoint.rfind("tcp://127.0.0.1:", 0) == 0);
  CHECK(endpoint != "tcp://127.0.0.1:*");
  auto client = Connect(endpoint);
  CHECK(client->Upsert("orders", "tcp", {}).ok());
}

TEST_CASE("cqrs-writer refuses a bad config with a message naming the key", "[process][writer]") {
  TempDir dir;
  std::ofstream(dir / "bad.toml") << "[writer]\nbatch_max_requests = 0\n";
  testing::ChildProcess p(
      {testing::WriterBinary(), "--data", dir / "data", "--config", dir / "bad.toml"}, dir / "log");
  int status = p.Wait(std::chrono::seconds(10));
  REQUIRE(status != -1);
  CHECK(WEXITSTATUS(status) == 2);
  CHECK_THAT(testing::ReadFile(dir / "log"), Catch::Contains("writer.batch_max_requests"));
}

TEST_CASE("The cqrs CLI prints one line of JSON and exits by outcome", "[process][cli]") {
  TempDir dir;
  WriterProcess writer(dir);
  std::string w = " --no-wait --writer " + writer.endpoint;
  auto [code, out] = testing::RunCli("put orders o1 status=open n=5 x=1.5 b=true" + w);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::StartsWith("{\"status\":\"Ok\""));
  CHECK_THAT(out, Catch::Contains("\"versions\":[1]"));
  std::tie(code, out) = testing::RunCli("create orders o1 a=1" + w);
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains("\"status\":\"AlreadyExists\""));
  std::tie(code, out) = testing::RunCli("update orders o1 --unset status --expect-version 1" + w);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("\"versions\":[2]"));
  std::tie(code, out) = testing::RunCli("del orders o1" + w);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("\"versions\":[0]"));
  std::tie(code, out) = testing::RunCli("put orders o2 9bad=1" + w);
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("field name '9bad'"));
  std::tie(code, out) = testing::RunCli(
      "put orders o3 a=1 --no-wait --timeout 300 --writer ipc://" + (dir / "nobody.sock"));
  CHECK(code == 3);
  CHECK_THAT(out, Catch::Contains("\"indeterminate\":true"));
  std::tie(code, out) = testing::RunCli("--help");
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("load"));
}

namespace {

// A write store of format 1, as builds before 2026-12 wrote it: one environment at
// <data>/write; three events of client "old-client" (ids 1..3), its head and replies keyed by
// tenant namespace. Returns the stored reply to id 3.
std::vector<std::uint8_t> WriteFormat1Store(const std::string& data_dir) {
  std::filesystem::create_directories(data_dir + "/write");
  store::EnvOptions eo;
  eo.dir = data_dir + "/write";
  eo.map_size = 16 << 20;
  eo.max_dbs = 8;
  auto env = store::LmdbEnv::Open(eo);
  REQUIRE(env.ok());
  auto txn = store::Txn::BeginWrite(env.value());
  REQUIRE(txn.ok());
  std::map<std::string, store::Dbi> dbs;
  for (const char* name : {"meta", "names", "counters", "entities", "events", "requests"})
    dbs[name] = txn->OpenDbi(name, 0, true).value();
  REQUIRE(txn->Put(dbs["meta"], "format", store::U32Value(1).view()).ok());
  REQUIRE(txn->Put(dbs["meta"], "store_id", std::string(16, '\x5a')).ok());
  REQUIRE(txn->Put(dbs["meta"], "last_seq", store::U64Value(3).view()).ok());
  REQUIRE(txn->Put(dbs["meta"], "next_ns", store::U32Value(3).view()).ok());
  REQUIRE(
      txn->Put(dbs["names"], store::NameKey("default", "").view(), store::U32Value(1).view()).ok());
  REQUIRE(
      txn->Put(dbs["names"], store::NameKey("default", "orders").view(), store::U32Value(2).view())
          .ok());
  REQUIRE(txn->Put(dbs["counters"], store::NamespaceCounterKey(2).view(), store::U64Value(3).view())
              .ok());
  struct E {
    const char* key;
    fb::Op op;
    std::uint64_t version;
    std::int64_t n;
  };
  const E events[] = {
      {"o1", fb::Op::Create, 1, 1}, {"o1", fb::Op::Update, 2, 2}, {"o2", fb::Op::Create, 1, 3}};
  std::vector<std::uint8_t> reply3;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    const E& e = events[seq - 1];
    flatbuffers::FlatBufferBuilder fbb;
    auto name = fbb.CreateString("n");
    auto [type, value] = wire::CreateValue(fbb, ValueView::Int(e.n));
    std::vector<flatbuffers::Offset<fb::Field>> fields{fb::CreateField(fbb, name, type, value)};
    // No format field: format 1 events had none.
    fbb.Finish(fb::CreateEvent(fbb, seq, seq, 1, fbb.CreateString("default"),
                               fbb.CreateString("orders"), fbb.CreateString(e.key), e.op, e.version,
                               fbb.CreateVector(fields), fbb.CreateString("old-client"), seq),
               wire::kEventId);
    REQUIRE(txn->Put(dbs["events"], store::SeqKey(seq).view(),
                     std::string_view(reinterpret_cast<const char*>(fbb.GetBufferPointer()),
                                      fbb.GetSize()))
                .ok());
    flatbuffers::FlatBufferBuilder reply;
    const std::uint64_t version = e.version;
    wire::BuildCommandReply(reply, seq, Code::kOk, "", -1, seq, {&version, 1});
    store::KeyBuffer entry;
    entry.U32(1).U8(10).Bytes("old-client").U64(seq);
    REQUIRE(txn->Put(dbs["requests"], entry.view(),
                     std::string_view(reinterpret_cast<const char*>(reply.GetBufferPointer()),
                                      reply.GetSize()))
                .ok());
    if (seq == 3)
      reply3.assign(reply.GetBufferPointer(), reply.GetBufferPointer() + reply.GetSize());
  }
  store::KeyBuffer head;
  head.U32(1).U8(10).Bytes("old-client");
  REQUIRE(txn->Put(dbs["requests"], head.view(), store::U64Value(3).view()).ok());
  REQUIRE(txn->Commit().ok());
  return reply3;
}

}  // namespace

TEST_CASE(
    "issue #16: a format-1 write store is refused with how to migrate, and cqrs migrate "
    "carries its events and idempotency records over",
    "[process][writer][migrate]") {
  TempDir dir;
  const std::string data = dir / "data";
  const std::vector<std::uint8_t> reply3 = WriteFormat1Store(data);
  {
    testing::ChildProcess p({testing::WriterBinary(), "--data", data}, dir / "refused.log");
    int status = p.Wait(std::chrono::seconds(10));
    REQUIRE(status != -1);
    CHECK(WEXITSTATUS(status) != 0);
    CHECK_THAT(testing::ReadFile(dir / "refused.log"),
               Catch::Contains("is write store format 1") &&
                   Catch::Contains("cqrs migrate --data " + data));
  }
  auto [code, out] = testing::RunCli("migrate --data " + data);
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Catch::Contains("migrated 3 events, 1 clients with 3 remembered replies"));
  CHECK(std::filesystem::exists(data + "/write.format1/data.mdb"));
  auto [again, again_out] = testing::RunCli("migrate --data " + data);
  CHECK(again == 1);
  CHECK_THAT(again_out, Catch::Contains("holds no format-1 write store"));
  {
    // Every event now carries event format 1, and the store id is the old one.
    store::WriteStoreOptions o;
    o.dir = data + "/write";
    o.read_only = true;
    auto log = store::WriteStore::Open(o);
    REQUIRE(log.ok());
    CHECK(log.value()->store_id() == "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
    auto txn = store::Txn::BeginRead(log.value()->env());
    auto cursor = store::Cursor::Open(txn.value(), log.value()->dbs().events);
    std::string_view k, v;
    int events = 0;
    for (Status st = cursor->Get(MDB_FIRST, &k, &v); st.ok(); st = cursor->Get(MDB_NEXT, &k, &v)) {
      wire::AlignedBuffer b;
      b.Assign(v.data(), v.size());
      const fb::Event* e = nullptr;
      CHECK(wire::VerifyEvent(b.span(), &e).ok());
      ++events;
    }
    CHECK(events == 3);
  }
  WriterProcess writer(dir);
  RawPeer peer(writer.endpoint);
  // The old client's retry of id 3 is answered from its migrated record, byte for byte...
  peer.Send({{}, Encode({Update("orders", "o2", {{"n", std::int64_t{9}}})}, "old-client", 3)});
  auto dup = peer.Receive();
  REQUIRE(dup.size() == 2);
  CHECK(dup[1] == reply3);
  // ...its next id applies, on the entity state the writer rebuilt from the migrated log.
  peer.Send({{}, Encode({Update("orders", "o1", {{"n", std::int64_t{4}}})}, "old-client", 4)});
  auto next = peer.Receive();
  REQUIRE(next.size() == 2);
  auto r = testing::ParseCommandReply(next[1]);
  CHECK(r.status == Code::kOk);
  CHECK(r.seq == 4);
  CHECK(r.versions == std::vector<std::uint64_t>{3});
}

TEST_CASE("issue #15: cqrs::Client keeps its goodput against a writer that sheds overload",
          "[process][writer][overload]") {
  // The run: 16 clients × 256 in flight against batches of 64 with shedding on went to
  // 0 ops/s (every refusal resent the whole window, and everything behind it came back
  // OutOfOrder, for ever).
  TempDir dir;
  std::ofstream(dir / "shed.toml") << "[writer]\nshed_overload = true\nbatch_max_requests = 64\n";
  WriterProcess writer(dir, {"--config", dir / "shed.toml"});
  auto [code, out] = testing::RunCli(
      "load --writer " + writer.endpoint +
      " --mix put=1 --clients 16 --pipeline 256 --requests 60000 --warmup 0 --json");
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Catch::Contains("\"ok\":60000,\"failed\":0,\"indeterminate\":0"));
  // And the writer did shed: the clients got ResourceExhausted and backed off.
  auto [stats_code, stats] = testing::RunCli("stats --data " + writer.data_dir + " --json");
  INFO(stats);
  CHECK(stats_code == 0);
}

namespace {

std::vector<std::uint8_t> CommandBatch(const std::vector<std::vector<std::uint8_t>>& requests) {
  wire::NestedFrameBuilder batch;
  batch.Begin();
  for (const auto& r : requests) batch.Add(r);
  auto frame = batch.Finish(wire::BatchKind::kCommands);
  return {frame.begin(), frame.end()};
}

// The CommandReplies of one CommandBatchReply frame, in order.
std::vector<wire::CommandReplyData> BatchReplies(const std::vector<std::uint8_t>& frame) {
  wire::AlignedBuffer aligned;
  aligned.Assign(frame.data(), frame.size());
  REQUIRE(wire::IsBatch(wire::BatchKind::kCommandReplies, aligned.span()));
  std::vector<wire::CommandReplyData> out;
  REQUIRE(wire::ForEachNestedFrame(
              aligned.span(), wire::BatchKind::kCommandReplies, 1u << 24, 1u << 16,
              [&out](std::span<const std::uint8_t> nested) {
                out.push_back(testing::ParseCommandReply({nested.begin(), nested.end()}));
              })
              .ok());
  return out;
}

}  // namespace

TEST_CASE("issue #18: a CommandBatch applies and answers each request on its own, once",
          "[process][writer][batch]") {
  TempDir dir;
  WriterProcess writer(dir);
  RawPeer peer(writer.endpoint);
  const std::vector<std::uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const auto batch = CommandBatch({
      Encode({Create("orders", "b1", {{"n", std::int64_t{1}}})}, "batcher", 1), garbage,
      Encode({Create("orders", "b1", {})}, "batcher", 2),  // AlreadyExists, remembered
      Encode({Upsert("orders", "b2", {})}, "batcher", 3),
      Encode({Upsert("orders", "b3", {})}, "batcher", 5),  // 4 is missing: OutOfOrder
      Encode({Upsert("orders", "b4", {})}, "", 0),         // no client id: not sequenced
  });
  peer.Send({batch});
  auto reply = peer.Receive();
  REQUIRE(reply.size() == 1);
  auto replies = BatchReplies(reply[0]);
  REQUIRE(replies.size() == 6);
  CHECK(replies[0].request_id == 1);
  CHECK(replies[0].status == Code::kOk);
  CHECK(replies[1].request_id == 0);
  CHECK(replies[1].status == Code::kInvalidArgument);
  CHECK(replies[2].request_id == 2);
  CHECK(replies[2].status == Code::kAlreadyExists);
  CHECK(replies[3].request_id == 3);
  CHECK(replies[3].status == Code::kOk);
  CHECK(replies[3].seq > replies[0].seq);
  CHECK(replies[4].status == Code::kOutOfOrder);
  CHECK(replies[4].expected_request_id == 4);
  CHECK(replies[5].status == Code::kOk);

  // The same batch again: every sequenced request is a duplicate answered as before, nothing is
  // applied twice (b4, without a client id, is applied again: a new version).
  peer.Send({batch});
  auto again_frame = peer.Receive();
  REQUIRE(again_frame.size() == 1);
  auto again = BatchReplies(again_frame[0]);
  REQUIRE(again.size() == 6);
  CHECK(again[0].status == Code::kOk);
  CHECK(again[0].seq == replies[0].seq);
  CHECK(again[2].status == Code::kAlreadyExists);
  CHECK(again[3].seq == replies[3].seq);
  CHECK(again[5].seq > replies[5].seq);

  // Refused as a whole, by name, with one CommandReply: an empty batch, one over the bound.
  peer.Send({CommandBatch({})});
  auto empty = peer.Receive();
  REQUIRE(empty.size() == 1);
  auto refused = testing::ParseCommandReply(empty[0]);
  CHECK(refused.status == Code::kInvalidArgument);
  CHECK_THAT(refused.message, Catch::Contains("requests is empty"));
  std::vector<std::vector<std::uint8_t>> many(1025, Encode({Upsert("orders", "x", {})}, "", 0));
  peer.Send({CommandBatch(many)});
  auto over = peer.Receive();
  REQUIRE(over.size() == 1);
  CHECK_THAT(testing::ParseCommandReply(over[0]).message,
             Catch::Contains("1025 frames, over the batch bound 1024"));

  // The C++ client batches its pipelined requests; each still gets its own outcome.
  auto client = Connect(writer.endpoint, "pipelined");
  std::vector<CommandResult> results(200);
  for (int i = 0; i < 200; ++i)
    client->Submit(
        std::vector<CommandSpec>{Upsert("orders", fmt::format("p{}", i), {})},
        [&results, i](const CommandResult& r) { results[static_cast<std::size_t>(i)] = r; });
  client->Flush();
  for (int i = 0; i < 200; ++i) {
    INFO(i);
    CHECK(results[static_cast<std::size_t>(i)].status == Code::kOk);
    if (i > 0)
      CHECK(results[static_cast<std::size_t>(i)].seq >
            results[static_cast<std::size_t>(i - 1)].seq);
  }
  CHECK(client->stats().sent == 200);
}

}  // namespace cqrs
