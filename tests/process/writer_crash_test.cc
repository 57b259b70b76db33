// kill -9 of the writer under pipelined load: nothing acknowledged is lost, nothing applies
// twice, and retries of indeterminate requests with the same id get one consistent reply.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>
#include <zmq.hpp>

#include "client/client.h"
#include "store/key_format.h"
#include "store/write_store.h"
#include "tests/support/writer_process.h"
#include "wire/aligned_buffer.h"
#include "wire/command_codec.h"
#include "wire/protocol.h"

namespace cqrs {
namespace {

using testing::TempDir;
using testing::WriterProcess;

struct EventKey {
  std::string client_id;
  std::uint64_t request_id;
  auto operator<=>(const EventKey&) const = default;
};

// Reads every event of a stopped writer's store: (client_id, request_id) → count, and keys.
void ReadEvents(const std::string& data_dir, std::map<EventKey, int>* by_request,
                std::map<std::string, int>* by_key, std::uint64_t* last_seq) {
  store::WriteStoreOptions o;
  o.dir = data_dir + "/write";
  o.read_only = true;
  auto opened = store::WriteStore::Open(o);
  REQUIRE(opened.ok());
  auto& s = *opened.value();
  auto txn = store::Txn::BeginRead(s.env());
  REQUIRE(txn.ok());
  *last_seq = s.LastSeq(txn.value()).value();
  auto cursor = store::Cursor::Open(txn.value(), s.dbs().events);
  std::string_view k, v;
  std::uint64_t expected_seq = 1;
  for (Status st = cursor->Get(MDB_FIRST, &k, &v); st.ok(); st = cursor->Get(MDB_NEXT, &k, &v)) {
    REQUIRE(store::DecodeSeqKey(k) == expected_seq++);  // gap-free
    wire::AlignedBuffer b;
    b.Assign(v.data(), v.size());
    const auto* e = flatbuffers::GetRoot<fb::Event>(b.data());
    (*by_request)[{e->client_id() ? e->client_id()->str() : "", e->request_id()}]++;
    (*by_key)[e->key()->str()]++;
  }
}

}  // namespace

TEST_CASE(
    "kill -9 of the writer under pipelined load loses nothing acknowledged and applies "
    "nothing twice",
    "[process][writer][crash]") {
  TempDir dir;
  WriterProcess writer(dir);
  ClientOptions o;
  o.writer_endpoint = writer.endpoint;
  o.client_id = "crash-client";
  o.window = 64;
  o.attempt_timeout = std::chrono::milliseconds(300);  // resend soon after a kill
  auto connected = Client::Connect(o);
  REQUIRE(connected.ok());
  Client& client = *connected.value();

  const int n = 4000;
  std::atomic<int> acked{0};
  std::vector<CommandResult> results(n + 1);
  std::thread killer([&] {
    for (int kill = 0; kill < 4; ++kill) {
      int target = (kill + 1) * n / 5;
      testing::WaitFor([&] { return acked.load() >= target; }, std::chrono::seconds(60));
      writer.Restart(SIGKILL);  // kill -9 mid-stream, then start again on the same data
    }
  });
  for (int i = 1; i <= n; ++i) {
    CommandSpec create = Create("crash", "k" + std::to_string(i), {{"i", std::int64_t{i}}});
    client.Submit({&create, 1}, [&, i](const CommandResult& r) {
      results[static_cast<std::size_t>(i)] = r;
      acked.fetch_add(1);
    });
  }
  client.Flush();
  killer.join();

  // Every request ended with a definite Ok: a Create applied twice would say AlreadyExists.
  std::uint64_t prev_seq = 0;
  for (int i = 1; i <= n; ++i) {
    const CommandResult& r = results[static_cast<std::size_t>(i)];
    INFO("request " << i << ": " << r.ToJson());
    REQUIRE(r.status == Code::kOk);
    CHECK(r.request_id == static_cast<std::uint64_t>(i));
    CHECK(r.seq > prev_seq);  // per client, seqs rise with request ids
    prev_seq = r.seq;
  }
  CHECK(client.stats().reconnects >= 1);

  // Through the writer: every acknowledged key exists.
  ClientOptions checker_options;
  checker_options.writer_endpoint = writer.endpoint;
  auto checker = Client::Connect(checker_options);
  REQUIRE(checker.ok());
  for (int i = 1; i <= n; i += 97)
    CHECK(checker.value()->Create("crash", "k" + std::to_string(i), {}).status ==
          Code::kAlreadyExists);

  // In the store: one event per request id, one per key, seqs gap-free.
  writer.process->Signal(SIGTERM);
  REQUIRE(writer.process->Wait(std::chrono::seconds(10)) != -1);
  std::map<EventKey, int> by_request;
  std::map<std::string, int> by_key;
  std::uint64_t last_seq = 0;
  ReadEvents(writer.data_dir, &by_request, &by_key, &last_seq);
  CHECK(last_seq == static_cast<std::uint64_t>(n));
  for (int i = 1; i <= n; ++i) {
    CHECK(by_request[{"crash-client", static_cast<std::uint64_t>(i)}] == 1);
    CHECK(by_key["k" + std::to_string(i)] == 1);
  }
}

TEST_CASE("A request whose writer died before replying gets one consistent reply on retry",
          "[process][writer][crash]") {
  TempDir dir;
  WriterProcess writer(dir);
  zmq::context_t context;
  wire::CommandRequestEncoder encoder;
  for (int round = 0; round < 10; ++round) {
    CommandSpec c = Create("window", "k" + std::to_string(round), {});
    auto bytes = encoder.Encode("ack-window", static_cast<std::uint64_t>(round + 1), "", {&c, 1});
    {
      zmq::socket_t s(context, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.connect(writer.endpoint);
      s.send(zmq::buffer(bytes.data(), bytes.size()));
      // Kill at once: the request may be committed but not answered, or not received at all.
      writer.Restart(SIGKILL);
    }
    std::vector<std::vector<std::uint8_t>> replies;
    for (int attempt = 0; attempt < 2; ++attempt) {
      zmq::socket_t s(context, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.connect(writer.endpoint);
      s.send(zmq::buffer(bytes.data(), bytes.size()));
      zmq::message_t m;
      zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::seconds(10));
      REQUIRE((item.revents & ZMQ_POLLIN));
      (void)s.recv(m);
      replies.emplace_back(m.data<std::uint8_t>(), m.data<std::uint8_t>() + m.size());
    }
    CHECK(replies[0] == replies[1]);
    wire::AlignedBuffer b;
    b.Assign(replies[0].data(), replies[0].size());
    wire::CommandReplyData r;
    REQUIRE(wire::ParseCommandReply(b.span(), &r).ok());
    CHECK(r.status == Code::kOk);
    CHECK(r.versions == std::vector<std::uint64_t>{1});
  }
}

}  // namespace cqrs
