// Writes the seed corpora of the fuzz targets: valid messages of every kind, so the fuzzer starts
// from inputs that pass the verifier and reach the semantic checks.
//   fuzz_make_seeds DIR     writes DIR/{command,query,event,replay}/seed-NN
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "wire/batch_codec.h"
#include "wire/command_codec.h"
#include "wire/event_codec.h"
#include "wire/log_segment.h"
#include "wire/protocol.h"
#include "wire/query_codec.h"
#include "wire/value_codec.h"

namespace {

using namespace cqrs;

void Write(const std::filesystem::path& dir, int n, std::span<const std::uint8_t> bytes) {
  std::filesystem::create_directories(dir);
  char name[32];
  std::snprintf(name, sizeof name, "seed-%02d", n);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

std::vector<FieldSpec> Fields() {
  return {{"amount", 12.5}, {"b", Bytes{std::string("\x00\xff", 2)}}, {"n", std::int64_t{-3}},
          {"ok", true},     {"status", std::string("open")},          {"gone", Value()}};
}

flatbuffers::DetachedBuffer Event(std::uint64_t seq, fb::Op op) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<fb::Field>> fields;
  if (op != fb::Op::Delete)
    for (const FieldSpec& f : Fields()) {
      if (std::holds_alternative<std::monostate>(f.value)) continue;
      auto name = fbb.CreateString(f.name);
      auto [type, value] = wire::CreateValue(fbb, wire::ToView(f.value));
      fields.push_back(fb::CreateField(fbb, name, type, value));
    }
  auto vec = fields.empty() ? 0 : fbb.CreateVector(fields);
  fbb.Finish(
      fb::CreateEvent(fbb, seq, seq, 1'700'000'000'000'000'000ull, fbb.CreateString("default"),
                      fbb.CreateString("orders"), fbb.CreateString("o1"), op, seq, vec,
                      fbb.CreateString("client-1"), 7, wire::kEventFormat),
      wire::kEventId);
  return fbb.Release();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  wire::CommandRequestEncoder commands;
  const std::vector<std::vector<CommandSpec>> requests = {
      {Create("orders", "o1", Fields())},
      {Update("orders", "o1", {{"status", std::string("paid")}, {"gone", Value()}}, 1)},
      {Upsert("orders", "o2", {{"n", std::int64_t{1}}})},
      {Delete("orders", "o1")},
      {Create("orders", "a", {}), Upsert("people", "b", Fields()), Delete("orders", "c")},
  };
  int n = 0;
  for (const auto& r : requests) Write(dir / "command", n++, commands.Encode("client-1", 1, "", r));
  Write(dir / "command", n++, commands.Encode("", 0, "token", requests[0]));
  {  // a CommandBatch of them
    wire::NestedFrameBuilder batch;
    batch.Begin();
    std::uint64_t id = 1;
    for (const auto& r : requests) batch.Add(commands.Encode("client-1", id++, "", r));
    Write(dir / "command", n++, batch.Finish(wire::BatchKind::kCommands));
  }

  wire::QueryRequestEncoder queries;
  const std::vector<wire::QuerySpec> specs = {
      wire::GetQuery{"orders", "o1"},
      wire::ScanQuery{"orders", "a", "z", "", "", 10},
      wire::FindQuery{"orders", "status", std::string("open"), {}, {}, "", 5},
      wire::FindQuery{"orders", "amount", {}, std::int64_t{1}, 20.5, "", 0},
      wire::AggregateQuery{"orders", "by_customer"},
  };
  n = 0;
  for (const auto& q : specs) Write(dir / "query", n++, queries.Encode(1, "", 5, 100, q));
  // A QueryBatch of them, and a QueryBatchReply nesting the same frames (its nested frames are
  // then refused as replies: the path is what the seed is for).
  for (bool reply : {false, true}) {
    wire::NestedFrameBuilder batch;
    batch.Begin();
    std::uint64_t id = 1;
    for (const auto& q : specs) batch.Add(queries.Encode(id++, "", 5, 100, q));
    Write(dir / "query", n++,
          batch.Finish(reply ? wire::BatchKind::kQueryReplies : wire::BatchKind::kQueries));
  }

  n = 0;
  for (fb::Op op : {fb::Op::Create, fb::Op::Update, fb::Op::Upsert, fb::Op::Delete}) {
    auto e = Event(static_cast<std::uint64_t>(n + 1), op);
    Write(dir / "event", n++, {e.data(), e.size()});
  }
  // A LogSegment of events 1..4, as cqrs-mirror publishes it.
  wire::LogSegmentBuilder segment;
  segment.Begin();
  for (std::uint64_t seq = 1; seq <= 4; ++seq) {
    auto e = Event(seq, seq == 4 ? fb::Op::Delete : fb::Op::Upsert);
    segment.Add({e.data(), e.size()});
  }
  Write(dir / "event", n++, segment.Finish("0123456789abcdef0123456789abcdef", 1, 4));

  wire::ReplayRequestEncoder replay;
  Write(dir / "replay", 0, replay.Encode(1, 100, ""));
  Write(dir / "replay", 1, replay.Encode(42, 10, "orders"));
  wire::EventBatchBuilder batch;
  batch.Begin();
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    auto e = Event(seq, seq == 3 ? fb::Op::Delete : fb::Op::Upsert);
    batch.Add(*flatbuffers::GetRoot<fb::Event>(e.data()));
  }
  Write(dir / "replay", 2, batch.Finish(Code::kOk, {}, 3));
  batch.Begin();
  Write(dir / "replay", 3, batch.Finish(Code::kInvalidArgument, "replay.from_seq is 0", 9));
  return 0;
}
