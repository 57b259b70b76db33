// The client's coalescing (issue #18) against a ROUTER socket in the test that plays the reader
// or the writer: what the client submits between two polls leaves in QueryBatch or CommandBatch
// frames (bounded by max_query_batch, max_command_batch), one alone as a plain frame, and
// answers in batch or single frames complete each on its own.
#include <catch2/catch.hpp>
#include <zmq.hpp>

#include "client/client.h"
#include "tests/support/test_support.h"
#include "wire/aligned_buffer.h"
#include "wire/batch_codec.h"
#include "wire/command_codec.h"
#include "wire/protocol.h"
#include "wire/query_codec.h"

namespace cqrs {
namespace {

// A QueryReply frame answering `request_id` with `status` and one entity named by `key`.
std::vector<std::uint8_t> Answer(std::uint64_t request_id, Code status, const std::string& key) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<fb::Entity>> entities;
  if (status == Code::kOk)
    entities.push_back(
        fb::CreateEntity(fbb, fbb.CreateString("orders"), fbb.CreateString(key), 1, 7));
  auto reply =
      fb::CreateQueryReply(fbb, request_id, wire::ToWire(status), 0, 7, fbb.CreateVector(entities));
  fbb.Finish(reply, wire::kQueryReplyId);
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

struct Received {
  bool batch = false;
  std::vector<std::uint64_t> ids;
  std::vector<std::string> keys;
};

// One message from the client: its routing id, and the queries in it.
Received Take(zmq::socket_t& router, zmq::message_t* identity) {
  REQUIRE(router.recv(*identity));
  REQUIRE(identity->more());
  zmq::message_t body;
  REQUIRE(router.recv(body));
  wire::AlignedBuffer aligned;
  aligned.Assign(body.data(), body.size());
  Received r;
  auto one = [&r](std::span<const std::uint8_t> frame) {
    wire::DecodedQueryRequest d = wire::DecodeQueryRequest(frame, wire::QueryLimits());
    REQUIRE(d.status.ok());
    r.ids.push_back(d.request_id);
    r.keys.emplace_back(d.request->query_as_Get()->key()->string_view());
  };
  r.batch = wire::IsBatch(wire::BatchKind::kQueries, aligned.span());
  if (r.batch) {
    REQUIRE(wire::ForEachNestedFrame(aligned.span(), wire::BatchKind::kQueries, 1u << 20, 256, one)
                .ok());
  } else {
    one(aligned.span());
  }
  return r;
}

void Send(zmq::socket_t& router, zmq::message_t& identity, std::span<const std::uint8_t> body) {
  zmq::message_t id;
  id.copy(identity);
  REQUIRE(router.send(id, zmq::send_flags::sndmore));
  REQUIRE(router.send(zmq::buffer(body.data(), body.size())));
}

}  // namespace

TEST_CASE("issue #18: the client sends the queries queued between polls as QueryBatch frames",
          "[client][batch]") {
  testing::TempDir dir;
  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::rcvtimeo, 5000);
  const std::string endpoint = "ipc://" + (dir / "reader.sock");
  router.bind(endpoint);
  const std::uint32_t max_batch = GENERATE(64u, 4u);
  ClientOptions options;
  options.writer_endpoint = "ipc://" + (dir / "no-writer.sock");
  options.reader_endpoints = {endpoint};
  options.max_query_batch = max_batch;
  auto client = Client::Connect(options, &context);
  REQUIRE(client.ok());

  // Ten queries queued: nothing leaves before the poll, then ceil(10 / max_batch) frames.
  constexpr int kQueries = 10;
  std::vector<QueryResult> results(kQueries);
  int done = 0;
  ReadOptions any;
  any.min_seq = 0;
  for (int i = 0; i < kQueries; ++i)
    client.value()->SubmitQuery(wire::GetQuery{"orders", "k" + std::to_string(i)}, any,
                                [&results, &done, i](const QueryResult& r) {
                                  results[static_cast<std::size_t>(i)] = r;
                                  ++done;
                                });
  zmq::message_t probe;
  CHECK_FALSE(router.recv(probe, zmq::recv_flags::dontwait));  // queued, not sent
  (void)client.value()->Poll(std::chrono::milliseconds(0));
  std::vector<Received> frames;
  zmq::message_t identity;
  std::size_t queries = 0;
  while (queries < kQueries) {
    frames.push_back(Take(router, &identity));
    queries += frames.back().ids.size();
  }
  const std::size_t expected_frames = (kQueries + max_batch - 1) / max_batch;
  REQUIRE(frames.size() == expected_frames);
  std::vector<std::string> keys;
  std::vector<std::uint64_t> ids;
  for (const Received& f : frames) {
    CHECK(f.batch == (f.ids.size() > 1));
    CHECK(f.ids.size() <= max_batch);
    keys.insert(keys.end(), f.keys.begin(), f.keys.end());
    ids.insert(ids.end(), f.ids.begin(), f.ids.end());
  }
  for (int i = 0; i < kQueries; ++i)
    CHECK(keys[static_cast<std::size_t>(i)] == "k" + std::to_string(i));

  // Answers: the first nine in one QueryBatchReply (out of order), the last in a frame of its
  // own, as a reader answers a query that waited.
  wire::NestedFrameBuilder batch;
  batch.Begin();
  for (int i = kQueries - 2; i >= 0; --i) {
    const auto k = static_cast<std::size_t>(i);
    batch.Add(Answer(ids[k], i == 3 ? Code::kNotFound : Code::kOk, keys[k]));
  }
  Send(router, identity, batch.Finish(wire::BatchKind::kQueryReplies));
  Send(router, identity, Answer(ids[kQueries - 1], Code::kOk, keys[kQueries - 1]));
  for (int spins = 0; done < kQueries && spins < 100; ++spins)
    (void)client.value()->Poll(std::chrono::milliseconds(50));
  REQUIRE(done == kQueries);
  for (int i = 0; i < kQueries; ++i) {
    const QueryResult& r = results[static_cast<std::size_t>(i)];
    INFO("query " << i);
    CHECK(r.request_id == ids[static_cast<std::size_t>(i)]);
    if (i == 3) {
      CHECK(r.status == Code::kNotFound);
      continue;
    }
    CHECK(r.status == Code::kOk);
    REQUIRE(r.entities.size() == 1);
    CHECK(r.entities[0].key == "k" + std::to_string(i));
  }

  // One query alone goes as a plain QueryRequest.
  bool single_done = false;
  client.value()->SubmitQuery(wire::GetQuery{"orders", "alone"}, any,
                              [&single_done](const QueryResult&) { single_done = true; });
  (void)client.value()->Poll(std::chrono::milliseconds(0));
  Received alone = Take(router, &identity);
  CHECK_FALSE(alone.batch);
  REQUIRE(alone.keys == std::vector<std::string>{"alone"});
  Send(router, identity, Answer(alone.ids[0], Code::kOk, "alone"));
  for (int spins = 0; !single_done && spins < 100; ++spins)
    (void)client.value()->Poll(std::chrono::milliseconds(50));
  CHECK(single_done);

  // One zmq::poll over many clients (cqrs load): only a socket with something in flight is
  // listed, and ServeReady finds the reader's socket wherever PollItems put it.
  zmq::pollitem_t items[Client::kMaxPollItems];
  CHECK(client.value()->PollItems(items) == 0);  // nothing in flight: nothing to wait for
  bool polled_done = false;
  client.value()->SubmitQuery(
      wire::GetQuery{"orders", "polled"}, any,
      [&polled_done](const QueryResult& r) { polled_done = r.status == Code::kOk; });
  std::size_t count = client.value()->PollItems(items);  // sends it, then lists the reader only
  REQUIRE(count == 1);
  Received polled = Take(router, &identity);
  Send(router, identity, Answer(polled.ids[0], Code::kOk, "polled"));
  for (int spins = 0; !polled_done && spins < 100; ++spins) {
    zmq::poll(items, count, std::chrono::milliseconds(50));
    client.value()->ServeReady(items, count);
    count = client.value()->PollItems(items);
  }
  CHECK(polled_done);
  CHECK(count == 0);
}

TEST_CASE("issue #18: the client sends the requests queued between polls as CommandBatch frames",
          "[client][batch]") {
  testing::TempDir dir;
  zmq::context_t context;
  zmq::socket_t writer(context, zmq::socket_type::router);
  writer.set(zmq::sockopt::linger, 0);
  writer.set(zmq::sockopt::rcvtimeo, 5000);
  const std::string endpoint = "ipc://" + (dir / "writer.sock");
  writer.bind(endpoint);
  ClientOptions options;
  options.writer_endpoint = endpoint;
  options.reader_endpoints = {};
  options.client_id = "batcher";
  options.max_command_batch = 4;
  auto client = Client::Connect(options, &context);
  REQUIRE(client.ok());

  std::vector<CommandResult> results;
  auto submit = [&](int n) {
    for (int i = 0; i < n; ++i)
      client.value()->Submit(std::vector<CommandSpec>{Upsert("orders", "k", {})},
                             [&results](const CommandResult& r) { results.push_back(r); });
  };
  // Answers every request of the next frame Ok (seq = request id), in the frame's shape; returns
  // how many requests it held and whether it was a batch.
  wire::CommandReplyData reply;
  auto answer = [&](bool* batch) {
    zmq::message_t identity, body;
    REQUIRE(writer.recv(identity));
    REQUIRE(writer.recv(body));
    wire::AlignedBuffer aligned;
    aligned.Assign(body.data(), body.size());
    std::vector<std::uint64_t> ids;
    wire::CommandDecoder decoder{Limits()};
    auto one = [&](std::span<const std::uint8_t> frame) {
      auto d = decoder.Decode(frame);
      REQUIRE(d.status.ok());
      ids.push_back(d.request_id);
    };
    *batch = wire::IsBatch(wire::BatchKind::kCommands, aligned.span());
    if (*batch) {
      REQUIRE(
          wire::ForEachNestedFrame(aligned.span(), wire::BatchKind::kCommands, 1u << 20, 1024, one)
              .ok());
    } else {
      one(aligned.span());
    }
    flatbuffers::FlatBufferBuilder fbb;
    wire::NestedFrameBuilder replies;
    replies.Begin();
    for (std::uint64_t id : ids) {
      wire::BuildCommandReply(fbb, id, Code::kOk, {}, -1, id, {});
      replies.Add({fbb.GetBufferPointer(), fbb.GetSize()});
    }
    Send(writer, identity,
         *batch ? replies.Finish(wire::BatchKind::kCommandReplies)
                : std::span<const std::uint8_t>(fbb.GetBufferPointer(), fbb.GetSize()));
    return ids.size();
  };
  auto serve = [&](std::size_t want) {
    for (int spins = 0; results.size() < want && spins < 100; ++spins)
      (void)client.value()->Poll(std::chrono::milliseconds(20));
  };

  // A new session's first request goes alone (the congestion window starts at 1).
  submit(1);
  (void)client.value()->Poll(std::chrono::milliseconds(0));
  bool batch = true;
  CHECK(answer(&batch) == 1);
  CHECK_FALSE(batch);
  serve(1);
  REQUIRE(results.size() == 1);
  // The window grows by one per Ok: 2 then 3 leave together, then 4 (max_command_batch) twice.
  std::size_t expected = 1;
  for (std::size_t window : {2u, 3u, 4u, 4u}) {
    submit(static_cast<int>(window));
    (void)client.value()->Poll(std::chrono::milliseconds(0));
    CHECK(answer(&batch) == window);
    CHECK(batch);
    expected += window;
    serve(expected);
    REQUIRE(results.size() == expected);
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    CHECK(results[i].status == Code::kOk);
    CHECK(results[i].seq == i + 1);
  }
}

}  // namespace cqrs
