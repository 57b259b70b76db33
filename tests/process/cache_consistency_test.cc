// Readers and LocalReader answering Gets from the shared-memory hot cache while the projector
// applies a stream of updates to a few hot keys: every answer, checked against the event log
// afterwards, is the key's state at the seq the reply reports (the key's last event at or before
// it), never older. And LocalReader's API: fields, Scan, NotFound, min_seq waits.
#include <fmt/format.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <thread>

#include "base/config.h"
#include "client/client.h"
#include "client/local_reader.h"
#include "shm/control_block.h"
#include "store/key_format.h"
#include "store/write_store.h"
#include "tests/support/log_events.h"
#include "tests/support/pipeline.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"
#include "wire/value_codec.h"

namespace cqrs {
namespace {

struct Answer {
  std::string key;
  std::uint64_t reply_seq, entity_seq;
};

// key → the seqs of its events, ascending, from the write store's log.
std::map<std::string, std::vector<std::uint64_t>> EventSeqs(const std::string& data_dir) {
  std::map<std::string, std::vector<std::uint64_t>> seqs;
  testing::ForEachLogEvent(data_dir, [&](const fb::Event& e) {
    seqs[std::string(wire::AsView(e.key()))].push_back(e.seq());
  });
  return seqs;
}

std::uint64_t ReaderCounter(const std::string& data_dir, int counter) {
  auto control = shm::ControlBlock::Attach(data_dir, CacheConfig().slots);
  REQUIRE(control.ok());
  std::uint64_t n = 0;
  for (int i = shm::kFirstReaderSlot; i < shm::kMaxSlots; ++i)
    n += control->slot(i).counters[counter].load();
  return n;
}

constexpr int kHotKeys = 8;

// Upserts to kHotKeys keys of "hot", one after another, until stopped (then joined).
class HotKeyWriter {
 public:
  explicit HotKeyWriter(const testing::Pipeline& p)
      : thread_([this, options = p.client_options()] {
          auto client = Client::Connect(options);
          REQUIRE(client.ok());
          for (std::int64_t n = 0; !stop_.load(); ++n)
            REQUIRE(client.value()
                        ->Execute(Upsert("hot", fmt::format("k{}", n % kHotKeys),
                                         {{"n", n}, {"pad", std::string(40, 'p')}}))
                        .ok());
        }) {}
  ~HotKeyWriter() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Each answer is the key's last event at or before the reply's seq, per the write store's log.
void CheckAgainstLog(const std::string& data_dir, const std::vector<Answer>& answers) {
  const auto seqs = EventSeqs(data_dir);
  for (const Answer& a : answers) {
    INFO(a.key << " answered at seq " << a.reply_seq << " with the entity at seq " << a.entity_seq);
    const std::vector<std::uint64_t>& events = seqs.at(a.key);
    auto after = std::upper_bound(events.begin(), events.end(), a.reply_seq);
    REQUIRE(after != events.begin());
    CHECK(*(after - 1) == a.entity_seq);
  }
}

}  // namespace

// One read core (#17): the same stream of Gets, under the same writes, through a reader process
// and through a LocalReader; every answer of both is checked against the log at its own seq.
TEST_CASE("Gets from a reader process and a LocalReader are each the key's state at their seq",
          "[process][cache]") {
  testing::TempDir dir;
  testing::PipelineConfig config;
  config.durability = "nosync";
  testing::Pipeline p(dir, config);
  p.StartUp();
  std::atomic<bool> stop{false};
  HotKeyWriter writer(p);
  std::vector<std::vector<Answer>> answers(3);  // two reader-process clients, one LocalReader
  std::atomic<std::uint64_t> local_hits{0};
  std::vector<std::thread> readers;
  for (std::size_t t = 0; t < 2; ++t)
    readers.emplace_back([&, t] {
      auto client = Client::Connect(p.client_options());
      REQUIRE(client.ok());
      std::mt19937_64 rng(t + 1);
      ReadOptions any;
      any.min_seq = 0;
      while (!stop.load()) {
        const std::string key = fmt::format("k{}", rng() % kHotKeys);
        QueryResult q = client.value()->Get("hot", key, any);
        if (q.status == Code::kNotFound) continue;  // not written yet
        REQUIRE(q.ok());
        REQUIRE(q.entities.size() == 1);
        answers[t].push_back({key, q.seq, q.entities[0].seq});
      }
    });
  readers.emplace_back([&] {
    LocalReaderOptions o;
    o.data_dir = p.data_dir;
    auto local = LocalReader::Open(o);
    REQUIRE(local.ok());
    std::mt19937_64 rng(1);  // the first client's stream of keys
    while (!stop.load()) {
      const std::string key = fmt::format("k{}", rng() % kHotKeys);
      LocalEntity e;
      std::uint64_t seq = 0;
      Status s = local.value()->Get("hot", key, LocalReadOptions(), &e, &seq);
      if (s.code() == Code::kNotFound) continue;
      REQUIRE(s.ok());
      local_hits += e.from_cache ? 1 : 0;
      answers[2].push_back({key, seq, e.seq});
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  writer.Stop();
  for (auto& r : readers) r.join();
  std::vector<Answer> all;
  for (const auto& list : answers) all.insert(all.end(), list.begin(), list.end());
  CheckAgainstLog(p.data_dir, all);
  const std::size_t checked = answers[0].size() + answers[1].size();
  CHECK(checked > 1000);
  CHECK(answers[2].size() > 1000);
  const std::uint64_t hits = ReaderCounter(p.data_dir, shm::kCacheHits);
  INFO("cache hits " << hits << ", misses " << ReaderCounter(p.data_dir, shm::kCacheMisses)
                     << "; LocalReader " << local_hits.load() << " hits of " << answers[2].size());
  CHECK(hits > checked / 10);  // the cache did answer a good share
  CHECK(local_hits.load() > 0);
}

// The read-hot cache (#18): keys written long ago (their slots since taken by later writes) are
// filled by the projector from the readers' reported misses, while some of them are being
// rewritten, so a fill races with write-through. Every answer is the log's state at its seq.
TEST_CASE("Keys readers miss are filled into the cache, each answer the log's state at its seq",
          "[process][cache]") {
  testing::TempDir dir;
  testing::PipelineConfig config;
  config.durability = "nosync";
  config.cache_slots = 256;
  testing::Pipeline p(dir, config);
  p.StartUp();
  constexpr int kCold = 4000, kRead = 100, kRewritten = 8;
  {
    auto client = Client::Connect(p.client_options());
    REQUIRE(client.ok());
    std::vector<CommandSpec> commands;
    for (int i = 0; i < kCold; ++i) {
      commands.push_back(Upsert("cold", fmt::format("c{}", i), {{"n", std::int64_t{i}}}));
      if (commands.size() == 1000) {
        REQUIRE(client.value()->Execute(commands).ok());
        commands.clear();
      }
    }
  }
  const std::uint64_t hits_before = ReaderCounter(p.data_dir, shm::kCacheHits);
  std::atomic<bool> stop{false};
  std::thread writer([&, options = p.client_options()] {
    auto client = Client::Connect(options);
    REQUIRE(client.ok());
    for (std::int64_t n = 0; !stop.load(); ++n)
      REQUIRE(client.value()
                  ->Execute(Upsert("cold", fmt::format("c{}", n % kRewritten), {{"n", -n}}))
                  .ok());
  });
  std::vector<std::vector<Answer>> answers(2);
  std::vector<std::thread> readers;
  for (std::size_t t = 0; t < answers.size(); ++t)
    readers.emplace_back([&, t] {
      auto client = Client::Connect(p.client_options());
      REQUIRE(client.ok());
      std::mt19937_64 rng(t + 7);
      ReadOptions any;
      any.min_seq = 0;
      while (!stop.load()) {
        const std::string key = fmt::format("c{}", rng() % kRead);  // the first written
        QueryResult q = client.value()->Get("cold", key, any);
        REQUIRE(q.ok());
        REQUIRE(q.entities.size() == 1);
        answers[t].push_back({key, q.seq, q.entities[0].seq});
      }
    });
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  writer.join();
  for (auto& r : readers) r.join();
  std::vector<Answer> all;
  for (const auto& list : answers) all.insert(all.end(), list.begin(), list.end());
  CheckAgainstLog(p.data_dir, all);
  auto control = shm::ControlBlock::Attach(p.data_dir, config.cache_slots);
  REQUIRE(control.ok());
  const std::uint64_t fills = control->slot(shm::kProjectorSlot).counters[shm::kCacheFills].load();
  const std::uint64_t hits = ReaderCounter(p.data_dir, shm::kCacheHits) - hits_before;
  INFO("fills " << fills << ", hits " << hits << " of " << all.size() << " Gets");
  CHECK(all.size() > 1000);
  CHECK(fills >= kRead - kRewritten);  // each key read was filled at least once
  CHECK(hits > all.size() / 2);        // and then answered from the cache
}

TEST_CASE("LocalReader answers from the cache or a snapshot, each at the seq it reports",
          "[process][cache][local_reader]") {
  testing::TempDir dir;
  testing::PipelineConfig config;
  config.durability = "nosync";
  testing::Pipeline p(dir, config);
  p.StartUp();
  auto connected = Client::Connect(p.client_options());
  REQUIRE(connected.ok());
  Client& client = *connected.value();
  CommandResult first = client.Execute(Upsert("things", "a", {{"n", std::int64_t{1}}}));
  REQUIRE(first.ok());
  REQUIRE(client.Execute(Upsert("things", "b", {{"s", std::string("x")}})).ok());
  REQUIRE(client.Execute(Delete("things", "b")).ok());
  CommandResult last = client.Execute(Upsert("things", "c", {{"d", 2.5}}));
  REQUIRE(last.ok());

  LocalReaderOptions o;
  o.data_dir = p.data_dir;
  auto opened = LocalReader::Open(o);
  REQUIRE(opened.ok());
  LocalReader& local = *opened.value();
  LocalReadOptions at;
  at.min_seq = last.seq;
  LocalEntity e;
  std::uint64_t seq = 0;
  REQUIRE(local.Get("things", "a", at, &e, &seq).ok());
  CHECK(seq >= last.seq);
  CHECK(e.key == "a");
  CHECK(e.version == 1);
  CHECK(e.seq == first.seq);
  CHECK(e.from_cache);  // written a moment ago
  auto fields = e.fields();
  FieldView f;
  REQUIRE(fields.Next(&f));
  CHECK(f.name == "n");
  CHECK(f.value.i == 1);
  CHECK(local.Get("things", "b", at, &e, &seq).code() == Code::kNotFound);  // deleted
  CHECK(local.Get("nothing", "a", at, &e, &seq).code() == Code::kNotFound);
  std::vector<LocalEntity> page;
  REQUIRE(local.Scan("things", "", 10, at, &page, &seq).ok());
  REQUIRE(page.size() == 2);
  CHECK(page[0].key == "a");
  CHECK(page[1].key == "c");
  REQUIRE(local.Scan("things", "b", 1, at, &page, &seq).ok());
  REQUIRE(page.size() == 1);
  CHECK(page[0].key == "c");
  LocalReadOptions future;
  future.min_seq = last.seq + 1000;
  future.wait = std::chrono::milliseconds(50);
  Status late = local.Get("things", "a", future, &e, &seq);
  CHECK(late.code() == Code::kDeadlineExceeded);
  CHECK_THAT(late.message(), Catch::Contains("min_seq"));
  local.Release();

  // Hot keys under a stream of writes, through the cache and through LMDB alternately.
  HotKeyWriter writer(p);
  LocalReaderOptions no_cache = o;
  no_cache.use_cache = false;
  auto direct = LocalReader::Open(no_cache);
  REQUIRE(direct.ok());
  std::vector<Answer> answers;
  std::uint64_t hits = 0, previous = 0;
  std::mt19937_64 rng(5);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  LocalReadOptions any;
  while (std::chrono::steady_clock::now() < end) {
    const std::string key = fmt::format("k{}", rng() % kHotKeys);
    LocalReader& r = rng() % 2 ? local : *direct.value();
    Status s = r.Get("hot", key, any, &e, &seq);
    if (s.code() == Code::kNotFound) continue;
    REQUIRE(s.ok());
    if (&r == &local) {
      CHECK(seq >= previous);  // one LocalReader's seqs never go back
      previous = seq;
    }
    hits += e.from_cache ? 1 : 0;
    answers.push_back({key, seq, e.seq});
  }
  writer.Stop();
  CheckAgainstLog(p.data_dir, answers);
  CHECK(answers.size() > 1000);
  CHECK(hits > 0);
}

TEST_CASE("A segment left by killed processes is taken over on restart, cache repaired",
          "[process][cache]") {
  testing::TempDir dir;
  testing::PipelineConfig config;
  config.durability = "nosync";
  testing::Pipeline p(dir, config);
  p.expect_restarts = true;  // children may die before `cqrs up` does
  p.StartUp();
  std::uint64_t last = 0;
  {
    auto client = Client::Connect(p.client_options());
    REQUIRE(client.ok());
    for (int i = 0; i < 200; ++i) {
      CommandResult r = client.value()->Execute(Upsert("hot", fmt::format("k{}", i % 10), {}));
      REQUIRE(r.ok());
      last = r.seq;
    }
  }
  auto before = shm::ControlBlock::Attach(p.data_dir, CacheConfig().slots);
  REQUIRE(before.ok());
  const std::uint64_t generation = before->layout().header.generation;
  // Everything killed at once, one cache slot left mid-write as a killed projector would.
  // ([a]: the pattern must not match the shell running pkill.)
  testing::RunShell(fmt::format("pkill -KILL -f -- '--dat[a] {}'", p.data_dir));
  REQUIRE(testing::WaitFor([&] { return !p.up->running(); }, std::chrono::seconds(10)));
  before->cache().Put(
      [] {
        shm::CacheKey k;
        k.Set("default", "hot", "k1");
        return k;
      }(),
      "stale", 1);
  // (A Put leaves the slot even: make one odd by hand.)
  REQUIRE(before->cache().CountMidWrite() == 0);
  auto* slots = reinterpret_cast<shm::CacheSlot*>(reinterpret_cast<char*>(&before->layout()) +
                                                  before->layout().header.cache_offset);
  slots[0].seq.fetch_add(1);
  REQUIRE(before->cache().CountMidWrite() == 1);

  p.StartUp();  // a new `cqrs up` on the same data dir and segment
  CHECK(before->layout().header.generation == generation);  // attached, not recreated
  CHECK(before->cache().CountMidWrite() == 0);              // the projector repaired it
  const std::string stats =
      testing::RunShell(fmt::format("{} stats --config {} --data {} --json --interval 0.2",
                                    testing::CliBinary(), p.config_path, p.data_dir));
  INFO(stats);
  CHECK_THAT(stats, Catch::Contains("\"role\":\"writer\""));
  CHECK(stats.find("\"alive\":false") == std::string::npos);  // every slot's process is the new one
  LocalReaderOptions o;
  o.data_dir = p.data_dir;
  auto local = LocalReader::Open(o);
  REQUIRE(local.ok());
  LocalReadOptions at;
  at.min_seq = last;
  LocalEntity e;
  std::uint64_t seq = 0;
  REQUIRE(local.value()->Get("hot", "k1", at, &e, &seq).ok());
  CHECK(e.record != "stale");  // the slot written by hand was cleared
}

}  // namespace cqrs
