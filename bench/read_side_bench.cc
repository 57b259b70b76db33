// Read-side micro benchmarks, on real LMDB stores in a temp dir. What each measures:
//   BM_Projector_Apply/<events>/<keys>  one read-store transaction applying <events> Upsert
//       events (100-byte values) to entities + the collection log + the checkpoint, committed
//       without fsync (the default, see docs/OPERATIONS.md); keys uniform over <keys>.
//       items/s is events applied per second: the projector's (and a rebuild's) ceiling.
//   BM_Reader_Get            one decoded Get answered from a snapshot of a 100,000-entity store
//                            (B-tree lookup + reply encoding), a random key each time
//   BM_Reader_Scan/<limit>   one Scan page of <limit> entities from a random start key
//   BM_Client_QueryReply_Parse/<limit>  the client's aligned copy + verify + decode of a reply
//                            with <limit> entities (1: a Get's)
#include <benchmark/benchmark.h>

#include <filesystem>
#include <functional>
#include <random>

#include "projector/event_applier.h"
#include "reader/query_executor.h"
#include "store/read_store.h"
#include "tests/support/events.h"
#include "wire/query_codec.h"

namespace cqrs {
namespace {

std::string KeyOf(std::uint64_t n) {
  char buf[24];
  int len = std::snprintf(buf, sizeof buf, "k%010llu", static_cast<unsigned long long>(n));
  return std::string(buf, static_cast<std::size_t>(len));
}

class TempStore {
 public:
  TempStore() {
    char tmpl[] = "/tmp/cqrs-bench-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store::ReadStoreOptions o;
    o.dir = dir_ + "/read";
    o.map_size = 4ull << 30;
    store_ = std::move(store::ReadStore::Open(o)).value();
  }
  ~TempStore() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  store::ReadStore& store() { return *store_; }

  // Applies `events` in one transaction with the checkpoint, as the projector does.
  Status Apply(projector::EventApplier& applier, const std::vector<wire::AlignedBuffer>& events) {
    auto txn = store::Txn::BeginWrite(store_->env());
    if (!txn.ok()) return txn.status();
    CQRS_RETURN_IF_ERROR(applier.Begin(txn.value()));
    for (const auto& e : events)
      CQRS_RETURN_IF_ERROR(applier.Apply(txn.value(), testing::AsEvent(e)));
    CQRS_RETURN_IF_ERROR(applier.End(txn.value()));
    return txn->Commit();
  }

 private:
  std::string dir_;
  std::unique_ptr<store::ReadStore> store_;
};

// Upserts of 100-byte values with seqs from `first_seq` on and keys drawn by `next_key`.
template <typename NextKey>
void BuildEvents(std::vector<wire::AlignedBuffer>& events, std::uint64_t first_seq,
                 NextKey next_key) {
  for (std::size_t i = 0; i < events.size(); ++i)
    events[i] = testing::MakeEvent(first_seq + i, fb::Op::Upsert, "bench", KeyOf(next_key()), 1,
                                   {{"v", std::string(100, 'x')}});
}

void BM_Projector_Apply(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const auto keys = static_cast<std::uint64_t>(state.range(1));
  TempStore t;
  projector::EventApplier applier(t.store());
  std::vector<wire::AlignedBuffer> events(batch);
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> dist(0, keys - 1);
  std::uint64_t seq = 1;
  for (auto _ : state) {
    state.PauseTiming();  // building the events is the writer's work, not the projector's
    BuildEvents(events, seq, [&] { return dist(rng); });
    state.ResumeTiming();
    if (Status s = t.Apply(applier, events); !s.ok()) {
      state.SkipWithError(s.message().c_str());
      return;
    }
    seq += batch;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(BM_Projector_Apply)
    ->ArgNames({"events", "keys"})
    ->Args({100, 1'000'000})
    ->Args({10000, 1'000'000})
    ->Unit(benchmark::kMicrosecond);

constexpr std::uint64_t kReaderKeys = 100'000;

// A store of kReaderKeys entities, filled once for the reader benchmarks.
TempStore& FilledStore() {
  static TempStore* t = [] {
    auto* s = new TempStore;
    projector::EventApplier applier(s->store());
    std::vector<wire::AlignedBuffer> events(10'000);
    std::uint64_t next = 0;
    for (std::uint64_t seq = 1; seq <= kReaderKeys; seq += events.size()) {
      BuildEvents(events, seq, [&] { return next++; });
      if (!s->Apply(applier, events).ok()) std::abort();
    }
    return s;
  }();
  return *t;
}

void RunQueries(benchmark::State& state,
                const std::function<wire::QuerySpec(std::uint64_t)>& make) {
  TempStore& t = FilledStore();
  reader::QueryExecutor executor(t.store(), ReaderConfig());
  wire::QueryRequestEncoder encoder;
  std::mt19937_64 rng(2);
  std::uniform_int_distribution<std::uint64_t> dist(0, kReaderKeys - 1);
  // Pre-encode a ring of requests: encoding is the client's work.
  std::vector<wire::AlignedBuffer> requests(1024);
  for (auto& r : requests) {
    auto bytes = encoder.Encode(1, "", 0, 0, make(dist(rng)));
    r.Assign(bytes.data(), bytes.size());
  }
  auto snapshot = store::Txn::BeginRead(t.store().env());
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const auto& r = requests[i++ % requests.size()];
    auto decoded = wire::DecodeQueryRequest(r.span(), wire::QueryLimits());
    Code code;
    auto reply =
        executor.Execute(snapshot.value(), 1, *decoded.request, cqrs::kDefaultTenant, &code);
    bytes += reply.size();
    benchmark::DoNotOptimize(reply.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void BM_Reader_Get(benchmark::State& state) {
  RunQueries(state, [](std::uint64_t k) { return wire::GetQuery{"bench", KeyOf(k)}; });
}
BENCHMARK(BM_Reader_Get);

void BM_Reader_Scan(benchmark::State& state) {
  const auto limit = static_cast<std::uint32_t>(state.range(0));
  RunQueries(state, [limit](std::uint64_t k) {
    return wire::ScanQuery{"bench", "", KeyOf(k), "", "", limit};
  });
}
BENCHMARK(BM_Reader_Scan)->Arg(10)->Arg(100);

void BM_Client_QueryReply_Parse(benchmark::State& state) {
  TempStore& t = FilledStore();
  reader::QueryExecutor executor(t.store(), ReaderConfig());
  wire::QueryRequestEncoder encoder;
  auto bytes = encoder.Encode(
      1, "", 0, 0,
      wire::ScanQuery{"bench", "", KeyOf(500), "", "", static_cast<std::uint32_t>(state.range(0))});
  wire::AlignedBuffer request;
  request.Assign(bytes.data(), bytes.size());
  auto decoded = wire::DecodeQueryRequest(request.span(), wire::QueryLimits());
  auto snapshot = store::Txn::BeginRead(t.store().env());
  Code code;
  auto reply = executor.Execute(snapshot.value(), 1, *decoded.request, cqrs::kDefaultTenant, &code);
  std::vector<std::uint8_t> frame(reply.begin(), reply.end());
  wire::AlignedBuffer aligned;
  wire::QueryReplyData parsed;
  for (auto _ : state) {
    aligned.Assign(frame.data(), frame.size());
    if (!wire::ParseQueryReply(aligned.span(), &parsed).ok()) state.SkipWithError("parse");
    benchmark::DoNotOptimize(parsed.entities.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Client_QueryReply_Parse)->Arg(1)->Arg(100);

}  // namespace
}  // namespace cqrs
