// LocalReader against the other ways to read one entity, in one run on one live pipeline:
//   LocalGet/cache_hit     LocalReader::Get of a key the hot cache holds
//   LocalGet/cache_miss    LocalReader::Get of a key it does not (probe, then an LMDB snapshot)
//   LocalGet/no_cache      LocalReader::Get with use_cache = false (LMDB snapshot only)
//   BareLmdbGet            renew a read txn, one mdb_get, reset: the least an LMDB read costs
//   ZmqGet                 Client::Get through a reader process (DEALER round trip over ipc)
// Setup: `cqrs up` (next to this binary's build, writer nosync, [cache] slots 16384) in a temp
// dir; 60,000 keys are written, then 1,000 of them (one in 60) again: those are in the cache,
// the others were evicted (cache_miss reads 1,000 of those).
#include <benchmark/benchmark.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "client/local_reader.h"
#include "store/key_format.h"

extern char** environ;

namespace {

using namespace cqrs;

constexpr int kHot = 1000, kCold = 60000;

struct Setup {
  std::string dir, data, config;
  pid_t up = -1;
  std::vector<std::string> hot, cold;  // cold: keys LocalReader finds only in LMDB
  ClientOptions client;
};
Setup* setup = nullptr;

std::string Key(const char* prefix, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%06d", prefix, i);
  return buf;
}

bool Start(Setup& s) {
  char tmpl[] = "/tmp/cqrs-bench-local-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return false;
  s.dir = tmpl;
  s.data = s.dir + "/data";
  s.config = s.dir + "/cqrs.toml";
  s.client.writer_endpoint = "ipc://" + s.dir + "/writer.sock";
  s.client.reader_endpoints = {"ipc://" + s.dir + "/reader0.sock"};
  std::ofstream(s.config) << "log_level = \"warn\"\n[writer]\nendpoint = \""
                          << s.client.writer_endpoint << "\"\ndurability = \"nosync\"\n"
                          << "[projector]\nevents_endpoint = \"ipc://" << s.dir
                          << "/events.sock\"\nreplay_endpoint = \"ipc://" << s.dir
                          << "/replay.sock\"\n[reader]\nendpoints = [\""
                          << s.client.reader_endpoints[0] << "\"]\n[cache]\nslots = 16384\n";
  const std::string cqrs = std::string(CQRS_BIN_DIR) + "/cqrs";
  std::vector<std::string> args = {cqrs, "up", "--quiet", "--config", s.config, "--data", s.data};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawn(&s.up, cqrs.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return false;
  auto client = Client::Connect(s.client);
  if (!client.ok()) return false;
  // The writer answers once it is up; retries cover the start. 100 upserts per request.
  std::uint64_t last = 0;
  std::vector<CommandSpec> batch;
  auto put = [&](const std::string& key) {
    batch.push_back(Upsert("bench", key, {{"n", std::int64_t{7}}, {"v", std::string(100, 'x')}}));
    if (batch.size() < 100) return true;
    CommandResult r = client.value()->Execute(batch);
    batch.clear();
    last = r.seq;
    return r.ok();
  };
  for (int i = 0; i < kCold; ++i)
    if (!put(Key("c", i))) return false;
  // The hot keys are written again last: one in 60, spread over the key space as hot keys
  // usually are (so the B-tree leaves they live in are spread too, not 40 adjacent pages).
  for (int i = 0; i < kHot; ++i) {
    if (!put(Key("c", i * (kCold / kHot)))) return false;
    s.hot.push_back(Key("c", i * (kCold / kHot)));
  }
  if (!batch.empty()) return false;  // kCold and kHot are multiples of 100
  LocalReaderOptions o;
  o.data_dir = s.data;
  std::unique_ptr<LocalReader> local;
  for (int tries = 0; tries < 100 && !local; ++tries) {
    auto opened = LocalReader::Open(o);
    if (opened.ok())
      local = std::move(opened).value();
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!local) return false;
  LocalReadOptions at;
  at.min_seq = last;
  at.wait = std::chrono::seconds(30);
  LocalEntity e;
  std::uint64_t seq = 0;
  for (int i = 0; i < kCold && s.cold.size() < kHot; ++i)
    if (local->Get("bench", Key("c", i), at, &e, &seq).ok() && !e.from_cache)
      s.cold.push_back(Key("c", i));
  int hits = 0;
  for (const auto& k : s.hot) hits += local->Get("bench", k, at, &e, &seq).ok() && e.from_cache;
  std::fprintf(stderr, "setup: %d/%d hot keys cached, %zu cold keys not\n", hits, kHot,
               s.cold.size());
  return hits > kHot * 9 / 10 && s.cold.size() == kHot;
}

void Stop(Setup& s) {
  if (s.up > 0) {
    kill(s.up, SIGTERM);
    waitpid(s.up, nullptr, 0);
  }
  shm::ControlBlock::Remove(s.data);
  std::error_code ec;
  std::filesystem::remove_all(s.dir, ec);
}

void LocalGet(benchmark::State& state, const std::vector<std::string>& keys, bool use_cache,
              bool want_cached) {
  LocalReaderOptions o;
  o.data_dir = setup->data;
  o.use_cache = use_cache;
  auto local = LocalReader::Open(o);
  if (!local.ok()) return state.SkipWithError(local.status().ToString().c_str());
  LocalReadOptions any;
  LocalEntity e;
  std::uint64_t seq = 0;
  std::size_t i = 0, wrong = 0;
  for (auto _ : state) {
    Status s = local.value()->Get("bench", keys[i++ % keys.size()], any, &e, &seq);
    wrong += !s.ok() || e.from_cache != want_cached;
    benchmark::DoNotOptimize(e.record.data());
  }
  if (wrong > 0) state.SkipWithError("an answer did not come from where it should");
}

void BM_LocalGet_CacheHit(benchmark::State& state) { LocalGet(state, setup->hot, true, true); }
void BM_LocalGet_CacheMiss(benchmark::State& state) { LocalGet(state, setup->cold, true, false); }
void BM_LocalGet_NoCache(benchmark::State& state) { LocalGet(state, setup->hot, false, false); }

void BM_BareLmdbGet(benchmark::State& state) {
  store::ReadStoreOptions o;
  o.dir = setup->data + "/read";
  o.read_only = true;
  auto store = store::ReadStore::Open(o);
  if (!store.ok()) return state.SkipWithError(store.status().ToString().c_str());
  store::Txn txn;
  if (!store::RenewSnapshot(store.value()->env(), &txn).ok()) return state.SkipWithError("txn");
  std::uint32_t ns = 0;
  if (!store.value()->namespaces().Lookup(txn, "default", "bench", &ns).ok())
    return state.SkipWithError("namespace");
  txn.Reset();
  std::vector<store::KeyBuffer> keys;
  for (const auto& k : setup->hot) keys.push_back(store::EntityKey(ns, k));
  std::size_t i = 0, missing = 0;
  for (auto _ : state) {
    (void)txn.Renew();
    std::string_view v;
    missing += !txn.Get(store.value()->dbs().entities, keys[i++ % keys.size()].view(), &v).ok();
    benchmark::DoNotOptimize(v.data());
    txn.Reset();
  }
  if (missing > 0) state.SkipWithError("a key was missing");
}

void BM_ZmqGet(benchmark::State& state) {
  auto client = Client::Connect(setup->client);
  if (!client.ok()) return state.SkipWithError(client.status().ToString().c_str());
  ReadOptions any;
  any.min_seq = 0;
  std::size_t i = 0, failed = 0;
  for (auto _ : state) {
    QueryResult q = client.value()->Get("bench", setup->hot[i++ % setup->hot.size()], any);
    failed += !q.ok();
  }
  if (failed > 0) state.SkipWithError("a Get failed");
}

BENCHMARK(BM_LocalGet_CacheHit);
BENCHMARK(BM_LocalGet_CacheMiss);
BENCHMARK(BM_LocalGet_NoCache);
BENCHMARK(BM_BareLmdbGet);
BENCHMARK(BM_ZmqGet);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Setup s;
  setup = &s;
  const bool ready = Start(s);
  if (ready) benchmark::RunSpecifiedBenchmarks();
  Stop(s);
  benchmark::Shutdown();
  if (!ready) std::fprintf(stderr, "bench_local_reader: setup failed\n");
  return ready ? 0 : 1;
}
