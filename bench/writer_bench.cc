// Writer micro benchmarks: the group-commit core without sockets. What each measures:
//   BM_Writer_BatchApply/<requests>/<sync>  one batch of single-Upsert requests (100-byte
//       values, each with a client_id, so entities + events + remembered replies are all
//       written) decoded, applied and committed in ONE LMDB transaction. items/s is requests
//       committed per second: how far group commit amortizes the commit (and, with sync=1,
//       the fsync) over a batch. Batch sizes 1, 100 and 10,000 as in issue #4. <random>=0:
//       keys in order (neighbours share B-tree leaves); 1: uniform over 1M keys, so each
//       request dirties its own leaf page (what `cqrs load` and bench/compare do).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "store/write_store.h"
#include "wire/aligned_buffer.h"
#include "wire/command_codec.h"
#include "writer/batch_committer.h"

namespace cqrs::writer {
namespace {

void BM_Writer_BatchApply(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const bool sync = state.range(1) != 0;
  const bool random = state.range(2) != 0;
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> key_dist(0, 999'999);
  char tmpl[] = "/tmp/cqrs-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    store::WriteStoreOptions o;
    o.dir = dir + "/write";
    o.durability = sync ? Durability::kSync : Durability::kNoSync;
    o.map_size = 1ull << 30;
    o.max_map_size = 64ull << 30;
    auto store = store::WriteStore::Open(o);
    if (!store.ok()) {
      state.SkipWithError(store.status().message().c_str());
      return;
    }
    store::StateStoreOptions so;
    so.dir = o.dir + "/state";
    so.map_size = o.map_size;
    so.max_map_size = o.max_map_size;
    auto entity_state = store::StateStore::Open(so, store.value()->store_id());
    if (!entity_state.ok()) {
      state.SkipWithError(entity_state.status().message().c_str());
      return;
    }
    OpenAuthorizer auth;
    BatchCommitter committer(*store.value(), *entity_state.value(), Limits(), auth);
    wire::CommandRequestEncoder encoder;
    std::vector<wire::AlignedBuffer> buffers(batch);
    std::vector<BatchItem> items(batch);
    std::vector<BatchItem*> ptrs;
    for (auto& i : items) ptrs.push_back(&i);
    std::uint64_t request_id = 0;
    CommandSpec spec = Upsert("bench", "", {{"v", std::string(100, 'x')}});
    for (auto _ : state) {
      state.PauseTiming();
      for (std::size_t i = 0; i < batch; ++i) {
        ++request_id;
        spec.key = "k" + std::to_string(random ? key_dist(rng) : request_id % 1'000'000);
        auto bytes = encoder.Encode("bench-client", request_id, "", {&spec, 1});
        buffers[i].Assign(bytes.data(), bytes.size());
        items[i].frame = buffers[i].span();
      }
      state.ResumeTiming();
      committer.Commit(ptrs);
      committer.CommitState();  // the state transaction, as the writer does after its replies
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Writer_BatchApply)
    ->ArgNames({"requests", "sync", "random"})
    ->Args({1, 0, 0})
    ->Args({100, 0, 0})
    ->Args({10000, 0, 0})
    ->Args({1, 1, 0})
    ->Args({100, 1, 0})
    ->Args({10000, 1, 0})
    ->Args({100, 1, 1})
    ->Args({1000, 1, 1})
    ->Args({10000, 1, 1})
    ->UseRealTime()  // an fsync waits without using CPU
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cqrs::writer
