// `cqrs rebuild` and read-model changes through real processes: the pipeline keeps answering
// while the projector builds a fresh read store and switches to it; the rebuilt store answers
// as the old one did; a changed declaration in the config rebuilds on restart.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "client/client.h"
#include "client/local_reader.h"
#include "tests/support/pipeline.h"

namespace cqrs {
namespace {

using testing::Pipeline;
using testing::PipelineConfig;
using testing::TempDir;

std::unique_ptr<Client> Connect(const Pipeline& p) {
  auto c = Client::Connect(p.client_options());
  REQUIRE(c.ok());
  return std::move(c).value();
}

CommandSpec RandomOrder(std::mt19937_64& rng) {
  static const char* kStatus[] = {"open", "paid", "void"};
  std::string key = fmt::format("o{:04d}", rng() % 3000);
  if (rng() % 10 == 0) return Upsert("orders", key, {{"status", std::monostate()}});  // unset
  return Upsert("orders", key,
                {{"status", std::string(kStatus[rng() % 3])},
                 {"customer", fmt::format("c{}", rng() % 20)},
                 {"amount", static_cast<double>(rng() % 1000) / 4}});
}

// What the read models answer now: every Find page of two predicates and both aggregates.
std::string Answers(const Pipeline& p) {
  std::string flags = fmt::format("--config {} --data {}", p.config_path, p.data_dir);
  std::string out;
  for (const char* q : {"find orders status=open --all", "find orders amount=10..100 --all",
                        "agg orders by_customer", "agg orders by_status"})
    out += testing::RunShell(fmt::format("{} {} {}", testing::CliBinary(), q, flags));
  return out;
}

std::size_t OldStores(const std::string& data_dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(data_dir))
    n += e.path().filename().string().starts_with("read.old.") ? 1u : 0u;
  return n;
}

}  // namespace

TEST_CASE("cqrs rebuild switches to a fresh read store while queries keep answering",
          "[process][rebuild]") {
  TempDir dir;
  PipelineConfig config;
  config.durability = "nosync";
  config.extra_toml = testing::ReadFile(std::string(CQRS_SOURCE_DIR) + "/examples/orders.toml");
  Pipeline p(dir, config);
  p.StartUp();
  std::mt19937_64 rng(7);
  {
    auto c = Connect(p);
    for (int i = 0; i < 60000; ++i) {
      CommandSpec order = RandomOrder(rng);
      c->Submit({&order, 1}, [](const CommandResult& r) { REQUIRE(r.ok()); });
    }
    c->Flush();
  }

  // During the rebuild: one client keeps writing, others keep reading with a min_seq that is
  // the highest seq any answer has shown so far.
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> writes{0}, reads{0}, read_errors{0}, went_back{0}, highest{0};
  std::thread writer([&] {
    auto c = Connect(p);
    std::mt19937_64 wrng(8);
    while (!stop) {
      CommandSpec order = RandomOrder(wrng);
      if (c->Execute(order).ok()) writes.fetch_add(1);
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&, t] {
      auto c = Connect(p);
      for (int i = 0; !stop; ++i) {
        ReadOptions at;
        at.min_seq = highest.load();
        QueryResult q =
            i % 3 == 0   ? c->Get("orders", fmt::format("o{:04d}", (i * 7 + t) % 3000), at)
            : i % 3 == 1 ? c->Find({"orders", "status", std::string("open"), {}, {}, "", 20}, at)
                         : c->Aggregate("orders", "by_customer", at);
        if (!q.ok() && q.status != Code::kNotFound) {
          read_errors.fetch_add(1);
          UNSCOPED_INFO(CodeName(q.status) << ": " << q.message);
        }
        if (q.seq < *at.min_seq) went_back.fetch_add(1);
        std::uint64_t seen = highest.load();
        while (q.seq > seen && !highest.compare_exchange_weak(seen, q.seq)) {
        }
        reads.fetch_add(1);
      }
    });
  struct JoinAll {  // a failed REQUIRE below must not leave joinable threads (std::terminate)
    std::atomic<bool>& stop;
    std::thread& writer;
    std::vector<std::thread>& readers;
    ~JoinAll() {
      stop = true;
      if (writer.joinable()) writer.join();
      for (auto& t : readers)
        if (t.joinable()) t.join();
    }
  } join_all{stop, writer, readers};
  const std::string flags = fmt::format("--config {} --data {}", p.config_path, p.data_dir);
  // The load runs before the rebuild starts (whatever the scheduler does), and goes on after
  // the switch for a while, so both stores answer some of it.
  REQUIRE(testing::WaitFor([&] { return writes.load() > 0 && reads.load() > 20; },
                           std::chrono::seconds(30)));
  std::string rebuilt = testing::RunShell(
      fmt::format("{} rebuild {} --timeout 120 2>&1", testing::CliBinary(), flags), p.log_path);
  CHECK_THAT(rebuilt, Catch::Contains("\"status\":\"Ok\",\"generation\":1"));
  const std::uint64_t writes_at_switch = writes.load(), reads_at_switch = reads.load();
  CHECK(testing::WaitFor(
      [&] { return writes.load() > writes_at_switch && reads.load() > reads_at_switch + 200; },
      std::chrono::seconds(30)));
  stop = true;
  writer.join();
  for (auto& t : readers) t.join();
  INFO(writes << " writes and " << reads << " reads during the rebuild");
  CHECK(writes > 0);
  CHECK(reads > 0);
  CHECK(read_errors == 0);
  CHECK(went_back == 0);

  // The old store goes once no reader uses it; the rebuilt one answers as a second rebuild does
  // (no writes in between), and dumps equal to a store built offline from the log.
  CHECK(testing::WaitFor([&] { return OldStores(p.data_dir) == 0; }, std::chrono::seconds(10)));
  const std::string before = Answers(p);
  CHECK_THAT(before, Catch::Contains("\"key\":\"o"));
  CHECK_THAT(
      testing::RunShell(
          fmt::format("{} rebuild {} --timeout 120 2>&1", testing::CliBinary(), flags), p.log_path),
      Catch::Contains("\"generation\":2"));
  CHECK(Answers(p) == before);
  std::string offline = dir / "offline";
  testing::RunShell(fmt::format("{} {} --once --read-dir {} 2>/dev/null",
                                testing::ProjectorBinary(), flags, offline));
  CHECK(testing::RunShell(fmt::format("{} dump {}", testing::CliBinary(), flags)) ==
        testing::RunShell(
            fmt::format("{} dump {} --read-dir {}", testing::CliBinary(), flags, offline)));
}

TEST_CASE("A read model added to the config is built on restart while the old store serves",
          "[process][rebuild]") {
  TempDir dir;
  PipelineConfig config;
  config.durability = "nosync";
  config.extra_toml = "[[collections]]\nname = \"orders\"\nindexes = [\"status\"]\n";
  auto p = std::make_unique<Pipeline>(dir, config);
  p->StartUp();
  {
    auto c = Connect(*p);
    std::mt19937_64 rng(9);
    for (int i = 0; i < 5000; ++i) {
      CommandSpec order = RandomOrder(rng);
      c->Submit({&order, 1}, [](const CommandResult& r) { REQUIRE(r.ok()); });
    }
    c->Flush();
    QueryResult none = c->Aggregate("orders", "by_status");
    CHECK(none.status == Code::kInvalidArgument);  // not declared yet
  }
  p.reset();  // stops the pipeline
  config.extra_toml = testing::ReadFile(std::string(CQRS_SOURCE_DIR) + "/examples/orders.toml");
  p = std::make_unique<Pipeline>(dir, config);  // same dir: same data, the new config
  p->StartUp();
  auto c = Connect(*p);
  QueryResult groups;
  CHECK(testing::WaitFor(
      [&] {
        groups = c->Aggregate("orders", "by_status");
        return groups.ok();  // Unavailable while the rebuild runs
      },
      std::chrono::seconds(60)));
  CHECK(groups.groups.size() == 3);
  std::uint64_t total = 0;
  for (const auto& g : groups.groups) total += g.count;
  CHECK(total > 1000);
  CHECK_THAT(testing::ReadFile(p->log_path),
             Catch::Contains("rebuilding it while serving from it"));
}

}  // namespace cqrs

namespace cqrs {

// issue #15, item 1: the projector killed at each step of the switch to a rebuilt store. The
// rebuild is the one a changed read-model declaration starts, so the restarted projector (the
// new store has the declared models) starts none and never bumps the generation itself: the
// readers and a LocalReader must find the live store on their own, and no answer may be older
// than the min_seq it was given.
TEST_CASE(
    "issue #15: a projector killed inside the rebuild switch leaves every reader on the live "
    "store",
    "[process][rebuild]") {
  const std::string point = GENERATE("switch_after_exchange", "switch_before_generation");
  INFO(point);
  TempDir dir;
  PipelineConfig config;
  config.durability = "nosync";
  config.readers = 1;
  Pipeline p(dir, config);
  p.expect_restarts = true;  // the projector is killed on purpose
  auto writer = p.StartProcess("cqrs-writer");
  auto projector = p.StartProcess("cqrs-projector");
  auto reader = p.StartProcess("cqrs-reader", {"--index", "0"});
  p.WaitAllAnswering();
  auto client = Connect(p);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) REQUIRE(client->Execute(RandomOrder(rng)).ok());
  CommandResult before = client->Execute(Upsert("orders", "before", {}));
  REQUIRE(before.ok());
  REQUIRE(client->Get("orders", "before").ok());
  LocalReaderOptions lo;
  lo.data_dir = p.data_dir;
  auto local = LocalReader::Open(lo);
  REQUIRE(local.ok());
  LocalEntity e;
  std::uint64_t seq = 0;
  LocalReadOptions at_before;
  at_before.min_seq = before.seq;
  REQUIRE(local.value()->Get("orders", "before", at_before, &e, &seq).ok());
  local.value()->Release();

  // A read model declared: the projector rebuilds while serving, and dies at `point`.
  projector->Signal(SIGTERM);
  REQUIRE(projector->Wait(std::chrono::seconds(15)) != -1);
  // (The projector alone reads the new declaration: the reader stays as it is, following.)
  const std::string models_config = dir / "models.toml";
  std::filesystem::copy_file(p.config_path, models_config);
  std::ofstream(models_config, std::ios::app)
      << "[[collections]]\nname = \"orders\"\nindexes = [\"status\"]\n";
  const std::vector<std::string> argv = {testing::ProjectorBinary(), "--config", models_config,
                                         "--data", p.data_dir};
  projector = std::make_unique<testing::ChildProcess>(
      argv, p.log_path, std::vector<std::string>{"CQRS_FAULTS=" + point + "=1"});
  const int status = projector->Wait(std::chrono::seconds(60));
  REQUIRE(status != -1);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  // Restarted: it serves the new store and starts no rebuild.
  projector = std::make_unique<testing::ChildProcess>(argv, p.log_path);
  p.WaitAnswering(p.replay);
  CommandResult after = client->Execute(Upsert("orders", "after", {}));
  REQUIRE(after.ok());
  ReadOptions at_after;
  at_after.min_seq = after.seq;
  at_after.wait = std::chrono::milliseconds(5000);
  QueryResult got = client->Get("orders", "after", at_after);
  INFO(got.message);
  REQUIRE(got.ok());  // only the new store ever reaches after.seq
  CHECK(got.seq >= after.seq);
  LocalReadOptions at;
  at.min_seq = after.seq;
  at.wait = std::chrono::milliseconds(5000);
  Status s = local.value()->Get("orders", "after", at, &e, &seq);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(seq >= after.seq);
  local.value()->Release();
  // The old store goes once no reader holds it (the projector removes it on its reader check).
  CHECK(testing::WaitFor(
      [&] {
        std::size_t old = OldStores(p.data_dir);
        old += std::filesystem::exists(p.data_dir + "/read.rebuild") ? 1u : 0u;
        return old == 0;
      },
      std::chrono::seconds(20)));
}

}  // namespace cqrs
