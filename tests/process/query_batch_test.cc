// QueryBatch frames against a real reader (issue #18): every query of a batch is answered on its
// own, in order, with its own request id and status; a query waiting for its min_seq comes later
// in a frame of its own without holding up the others; answers past reader.max_reply_bytes are
// split over several QueryBatchReply frames.
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <zmq.hpp>

#include "client/client.h"
#include "shm/control_block.h"
#include "tests/support/pipeline.h"
#include "tests/support/writer_process.h"
#include "wire/aligned_buffer.h"
#include "wire/batch_codec.h"
#include "wire/query_codec.h"

namespace cqrs {
namespace {

std::vector<std::uint8_t> Query(std::uint64_t id, const wire::QuerySpec& q,
                                std::uint64_t min_seq = 0, std::uint32_t timeout_ms = 0) {
  wire::QueryRequestEncoder encoder;
  auto bytes = encoder.Encode(id, "", min_seq, timeout_ms, q);
  return {bytes.begin(), bytes.end()};
}

void SendBatch(zmq::socket_t& socket, const std::vector<std::vector<std::uint8_t>>& queries) {
  wire::NestedFrameBuilder batch;
  batch.Begin();
  for (const auto& q : queries) batch.Add(q);
  auto frame = batch.Finish(wire::BatchKind::kQueries);
  REQUIRE(socket.send(zmq::buffer(frame.data(), frame.size())));
}

// The answers in one reply frame: a QueryBatchReply's, or a single QueryReply.
std::vector<wire::QueryReplyData> Receive(zmq::socket_t& socket, bool* batched,
                                          std::size_t* bytes = nullptr) {
  zmq::message_t frame;
  REQUIRE(socket.recv(frame));
  if (bytes) *bytes = frame.size();
  wire::AlignedBuffer aligned;
  aligned.Assign(frame.data(), frame.size());
  std::vector<wire::QueryReplyData> out;
  *batched = wire::IsBatch(wire::BatchKind::kQueryReplies, aligned.span());
  if (!*batched) {
    REQUIRE(wire::ParseQueryReply(aligned.span(), &out.emplace_back()).ok());
    return out;
  }
  Status s =
      wire::ForEachNestedFrame(aligned.span(), wire::BatchKind::kQueryReplies, 64u << 20, 100000,
                               [&](std::span<const std::uint8_t> nested) {
                                 REQUIRE(wire::ParseQueryReply(nested, &out.emplace_back()).ok());
                               });
  REQUIRE(s.ok());
  return out;
}

// One reader, nosync: these tests are about the reader's answers, not durability.
testing::PipelineConfig OneReader(std::string reader_toml = {}) {
  testing::PipelineConfig config;
  config.durability = "nosync";
  config.readers = 1;
  config.reader_toml = std::move(reader_toml);
  return config;
}

}  // namespace

TEST_CASE("issue #18: a QueryBatch answers each query on its own, a waiting one later by itself",
          "[process][reader][batch]") {
  testing::TempDir dir;
  testing::Pipeline p(dir, OneReader());
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  REQUIRE(client.value()->Execute(Upsert("orders", "o1", {{"n", std::int64_t{1}}})).ok());
  REQUIRE(client.value()->Get("orders", "o1").ok());
  auto control = shm::ControlBlock::Attach(p.data_dir, CacheConfig().slots);
  REQUIRE(control.ok());
  const auto projector = static_cast<pid_t>(control->slot(shm::kProjectorSlot).pid.load());
  REQUIRE(projector > 0);
  // The projector stopped: the next write is committed, not applied.
  REQUIRE(kill(projector, SIGSTOP) == 0);
  CommandResult w = client.value()->Execute(Upsert("orders", "o2", {{"n", std::int64_t{2}}}));
  REQUIRE(w.ok());

  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::rcvtimeo, 10000);
  dealer.connect(p.readers[0]);
  const std::vector<std::uint8_t> garbage = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  SendBatch(dealer, {Query(1, wire::GetQuery{"orders", "o1"}), garbage,
                     Query(3, wire::GetQuery{"orders", "nobody"}),
                     Query(4, wire::GetQuery{"orders", "o2"}, w.seq, 10000),
                     Query(5, wire::ScanQuery{"orders", "", "", "", "", 5000}),
                     Query(6, wire::GetQuery{"Not A Collection", "k"})});
  bool batched = false;
  auto ready = Receive(dealer, &batched);
  CHECK(batched);
  REQUIRE(ready.size() == 5);  // all but the waiting one, in order
  CHECK(ready[0].request_id == 1);
  CHECK(ready[0].status == Code::kOk);
  REQUIRE(ready[0].entities.size() == 1);
  CHECK(ready[0].entities[0].key == "o1");
  CHECK(ready[1].request_id == 0);
  CHECK(ready[1].status == Code::kInvalidArgument);
  CHECK(ready[2].request_id == 3);
  CHECK(ready[2].status == Code::kNotFound);
  CHECK(ready[3].request_id == 5);
  CHECK(ready[3].status == Code::kInvalidArgument);
  CHECK_THAT(ready[3].message, Catch::Contains("max_scan_limit"));
  CHECK(ready[4].request_id == 6);
  CHECK(ready[4].status == Code::kInvalidArgument);
  for (const auto& r : ready) CHECK(r.seq < w.seq);  // answered from the applied snapshot

  // The projector goes on: the waiting query is answered in a frame of its own.
  REQUIRE(kill(projector, SIGCONT) == 0);
  auto later = Receive(dealer, &batched);
  CHECK_FALSE(batched);
  REQUIRE(later.size() == 1);
  CHECK(later[0].request_id == 4);
  CHECK(later[0].status == Code::kOk);
  CHECK(later[0].seq >= w.seq);
  REQUIRE(later[0].entities.size() == 1);
  CHECK(later[0].entities[0].key == "o2");

  // Refused as a whole, by name: an empty batch, one over reader.batch_max_queries.
  SendBatch(dealer, {});
  auto empty = Receive(dealer, &batched);
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].status == Code::kInvalidArgument);
  CHECK_THAT(empty[0].message, Catch::Contains("queries is empty"));
  std::vector<std::vector<std::uint8_t>> many(257, Query(7, wire::GetQuery{"orders", "o1"}));
  SendBatch(dealer, many);
  auto over = Receive(dealer, &batched);
  REQUIRE(over.size() == 1);
  CHECK(over[0].status == Code::kInvalidArgument);
  CHECK_THAT(over[0].message, Catch::Contains("257 frames, over the batch bound 256"));
}

TEST_CASE("issue #18: a QueryBatch's answers past reader.max_reply_bytes go in several frames",
          "[process][reader][batch]") {
  constexpr std::size_t kMaxReplyBytes = 64u << 10;
  testing::TempDir dir;
  testing::Pipeline p(dir, OneReader(fmt::format("max_reply_bytes = {}\n", kMaxReplyBytes)));
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  CommandResult w{};
  for (int i = 0; i < 10; ++i)
    w = client.value()->Execute(Upsert("docs", fmt::format("d{}", i),
                                       {{"body", std::string(30000, static_cast<char>('a' + i))}}));
  REQUIRE(w.ok());
  REQUIRE(client.value()->Get("docs", "d9").ok());  // at w.seq: no query of the batch waits
  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::rcvtimeo, 10000);
  dealer.connect(p.readers[0]);
  std::vector<std::vector<std::uint8_t>> queries;
  for (int i = 0; i < 10; ++i)
    queries.push_back(Query(100 + static_cast<std::uint64_t>(i),
                            wire::GetQuery{"docs", fmt::format("d{}", i)}, w.seq, 5000));
  SendBatch(dealer, queries);
  std::vector<wire::QueryReplyData> answers;
  int frames = 0;
  while (answers.size() < queries.size()) {
    bool batched = false;
    std::size_t bytes = 0;
    auto got = Receive(dealer, &batched, &bytes);
    CHECK(batched);
    CHECK(bytes <= kMaxReplyBytes);
    ++frames;
    answers.insert(answers.end(), got.begin(), got.end());
  }
  CHECK(frames >= 5);  // two 30 KB answers at most in 64 KiB
  REQUIRE(answers.size() == queries.size());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    CHECK(answers[i].request_id == 100 + i);
    CHECK(answers[i].status == Code::kOk);
    REQUIRE(answers[i].entities.size() == 1);
    CHECK(answers[i].entities[0].key == fmt::format("d{}", i));
  }
}

TEST_CASE("issue #18: Client::MultiGet and cqrs get with several keys answer each key in order",
          "[process][reader][batch]") {
  testing::TempDir dir;
  testing::Pipeline p(dir, OneReader());
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  for (int i = 0; i < 100; ++i)
    REQUIRE(client.value()
                ->Execute(Upsert("orders", fmt::format("o{}", i), {{"n", std::int64_t{i}}}))
                .ok());
  std::vector<std::string> keys;
  for (int i = 99; i >= 0; --i) keys.push_back(fmt::format("o{}", i));
  keys.insert(keys.begin() + 50, "nobody");
  auto results = client.value()->MultiGet("orders", keys);
  REQUIRE(results.size() == keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    INFO(keys[i]);
    if (keys[i] == "nobody") {
      CHECK(results[i].status == Code::kNotFound);
      continue;
    }
    REQUIRE(results[i].ok());
    REQUIRE(results[i].entities.size() == 1);
    CHECK(results[i].entities[0].key == keys[i]);
  }
  const std::string flags = fmt::format(" --config {} --data {}", p.config_path, p.data_dir);
  auto [code, out] = testing::RunCli("get orders o7 nobody o3" + flags);
  CHECK(code == 1);  // the first key not Ok decides: NotFound
  INFO(out);
  auto first = out.find("\"key\":\"o7\"");
  auto second = out.find("nobody");
  auto third = out.find("\"key\":\"o3\"");
  CHECK(first != std::string::npos);
  CHECK(second != std::string::npos);
  CHECK(third != std::string::npos);
  CHECK((first < second && second < third));
  CHECK(std::count(out.begin(), out.end(), '\n') == 3);
}

}  // namespace cqrs
