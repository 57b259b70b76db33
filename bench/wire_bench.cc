// Wire micro benchmarks. What each measures and why it matters:
//   BM_CommandRequest_Encode   client-side encoding of a request (the client's per-request CPU)
//   BM_CommandRequest_Decode   aligned copy + identifier + Verifier + semantic checks: the work
//                              the writer does on every frame before touching the store
//   BM_CommandReply_Build      the writer's per-request reply
//   BM_CommandReply_Parse      the client's aligned copy + verify + read of a reply
//   BM_QueryRequest_Encode     the client's encoding of a Get (the reader side and the
//                              client's reply parse are in bench_read_side)
// Args: commands per request (each with 4 fields, one a 100-byte string).
#include <benchmark/benchmark.h>

#include "wire/aligned_buffer.h"
#include "wire/command_codec.h"
#include "wire/query_codec.h"

namespace cqrs {
namespace {

std::vector<CommandSpec> Commands(std::int64_t n) {
  std::vector<CommandSpec> out;
  for (std::int64_t i = 0; i < n; ++i)
    out.push_back(Upsert("orders", "key-" + std::to_string(i),
                         {{"status", std::string("open")},
                          {"amount", 12.5},
                          {"customer", std::int64_t{42}},
                          {"note", std::string(100, 'x')}}));
  return out;
}

void BM_CommandRequest_Encode(benchmark::State& state) {
  auto commands = Commands(state.range(0));
  wire::CommandRequestEncoder encoder;
  std::uint64_t id = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto out = encoder.Encode("bench-client", ++id, "", commands);
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_CommandRequest_Encode)->Arg(1)->Arg(10)->Arg(100);

void BM_CommandRequest_Decode(benchmark::State& state) {
  auto commands = Commands(state.range(0));
  wire::CommandRequestEncoder encoder;
  auto encoded = encoder.Encode("bench-client", 1, "", commands);
  // Misaligned by 3 as a ZeroMQ frame often is: the benchmark includes the aligned copy.
  std::vector<std::uint8_t> frame(encoded.size() + 3);
  std::copy(encoded.begin(), encoded.end(), frame.begin() + 3);
  wire::AlignedBuffer buffer;
  wire::CommandDecoder decoder{Limits()};
  for (auto _ : state) {
    buffer.Assign(frame.data() + 3, encoded.size());
    auto d = decoder.Decode(buffer.span());
    if (!d.status.ok()) state.SkipWithError(d.status.message().c_str());
    benchmark::DoNotOptimize(d.request);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(encoded.size()));
}
BENCHMARK(BM_CommandRequest_Decode)->Arg(1)->Arg(10)->Arg(100);

void BM_CommandReply_Build(benchmark::State& state) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<std::uint64_t> versions(static_cast<std::size_t>(state.range(0)), 3);
  for (auto _ : state) {
    wire::BuildCommandReply(fbb, 7, Code::kOk, {}, -1, 123456, versions);
    benchmark::DoNotOptimize(fbb.GetBufferPointer());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_CommandReply_Build)->Arg(1)->Arg(100);

void BM_CommandReply_Parse(benchmark::State& state) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<std::uint64_t> versions(static_cast<std::size_t>(state.range(0)), 3);
  wire::BuildCommandReply(fbb, 7, Code::kOk, {}, -1, 123456, versions);
  std::vector<std::uint8_t> frame(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  wire::AlignedBuffer aligned;
  wire::CommandReplyData reply;
  for (auto _ : state) {
    aligned.Assign(frame.data(), frame.size());  // as the client copies each frame
    if (!wire::ParseCommandReply(aligned.span(), &reply).ok()) state.SkipWithError("parse");
    benchmark::DoNotOptimize(reply.seq);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_CommandReply_Parse)->Arg(1)->Arg(100);

void BM_QueryRequest_Encode(benchmark::State& state) {
  wire::QueryRequestEncoder encoder;
  wire::GetQuery get{"orders", "k0000012345"};
  std::uint64_t id = 0;
  for (auto _ : state) {
    auto out = encoder.Encode(++id, "", 77, 0, get);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_QueryRequest_Encode);

}  // namespace
}  // namespace cqrs
