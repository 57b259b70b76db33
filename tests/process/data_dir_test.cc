// What a pipeline owns on its host (issue #15, item 7): one process per role on a data
// directory, files and shared memory only its user can read, and a shared-memory segment that
// lives exactly as long as the processes using it.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "base/config.h"
#include "client/client.h"
#include "client/local_reader.h"
#include "shm/control_block.h"
#include "tests/support/pipeline.h"

namespace cqrs {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Starts `argv` alone and waits for it to exit: its wait status, and its log.
std::pair<int, std::string> RunAlone(const testing::TempDir& dir, std::vector<std::string> argv,
                                     const std::string& name) {
  const std::string log = dir / (name + ".log");
  testing::ChildProcess child(std::move(argv), log);
  const int status = child.Wait(std::chrono::seconds(20));
  return {status, testing::ReadFile(log)};
}

}  // namespace

TEST_CASE("issue #15: a second writer, projector, reader or cqrs up on one data dir refuses to run",
          "[process][data_dir]") {
  testing::TempDir dir;
  testing::Pipeline p(dir);
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  CommandResult w = client.value()->Execute(Upsert("orders", "o1", {{"n", std::int64_t{1}}}));
  REQUIRE(w.ok());
  auto control = shm::ControlBlock::Attach(p.data_dir, CacheConfig().slots);
  REQUIRE(control.ok());
  // (A reader may answer from the store a moment before the projector publishes the seq.)
  REQUIRE(testing::WaitFor([&] { return control->seqs().projector_applied_seq.load() >= w.seq; },
                           std::chrono::seconds(10)));
  const std::uint64_t applied = control->seqs().projector_applied_seq.load();

  // The same config: with ipc:// endpoints a second bind would even succeed and steal the path.
  const std::vector<std::string> flags = p.common_flags();
  struct Role {
    std::string name, lock;
    std::vector<std::string> argv;
  };
  std::vector<Role> roles = {
      {"writer", "writer", {testing::WriterBinary()}},
      {"projector", "projector", {testing::ProjectorBinary()}},
      {"reader", "reader-1", {testing::ReaderBinary(), "--index", "1"}},
      {"up", "supervisor", {testing::CliBinary(), "up", "--quiet"}},
  };
  for (Role& r : roles) {
    INFO(r.name);
    r.argv.insert(r.argv.end(), flags.begin(), flags.end());
    auto [status, log] = RunAlone(dir, r.argv, "second-" + r.name);
    INFO(log);
    REQUIRE(status != -1);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    const std::string holder = Trim(testing::ReadFile(p.data_dir + "/" + r.lock + ".lock"));
    REQUIRE(!holder.empty());
    CHECK_THAT(log, Catch::Contains(fmt::format("another {} is running on {} (pid {}", r.lock,
                                                p.data_dir, holder)));
  }
  // The first pipeline noticed nothing: same segment, applied seq not moved back, still serving.
  CHECK(control->StillNamed());
  CHECK(control->seqs().projector_applied_seq.load() >= applied);
  CommandResult w2 = client.value()->Execute(Upsert("orders", "o2", {{"n", std::int64_t{2}}}));
  REQUIRE(w2.ok());
  QueryResult r = client.value()->Get("orders", "o2");
  REQUIRE(r.ok());
  CHECK(r.seq >= w2.seq);
}

TEST_CASE("issue #15: data files and shared memory are readable by the pipeline's user only",
          "[process][data_dir]") {
  testing::TempDir dir;
  testing::PipelineConfig config;
  config.extra_toml = "[[collections]]\nname = \"orders\"\nindexes = [\"status\"]\n";
  testing::Pipeline p(dir, config);
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  REQUIRE(client.value()->Execute(Upsert("orders", "o1", {{"status", std::string("x")}})).ok());
  REQUIRE(client.value()->Get("orders", "o1").ok());

  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(p.data_dir)) {
    struct stat st {};
    REQUIRE(lstat(entry.path().c_str(), &st) == 0);
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;  // ipc sockets: see OPERATIONS
    INFO(entry.path() << " mode " << fmt::format("{:o}", st.st_mode & 0777));
    CHECK((st.st_mode & 077) == 0);
    ++files;
  }
  CHECK(files >= 6);  // write and read stores (data, lock), the locks
  struct stat st {};
  const std::string shm = "/dev/shm/" + shm::ControlBlock::SegmentName(p.data_dir);
  REQUIRE(stat(shm.c_str(), &st) == 0);
  INFO(shm << " mode " << fmt::format("{:o}", st.st_mode & 0777));
  CHECK((st.st_mode & 077) == 0);
  struct stat data {};
  REQUIRE(stat(p.data_dir.c_str(), &data) == 0);
  CHECK((data.st_mode & 077) == 0);
}

TEST_CASE("issue #15: a clean stop removes the shared memory, and a replaced segment is followed",
          "[process][data_dir]") {
  testing::TempDir dir;
  testing::Pipeline p(dir);
  p.StartUp();
  REQUIRE(shm::ControlBlock::Exists(p.data_dir));
  {
    auto client = Client::Connect(p.client_options());
    REQUIRE(client.ok());
    REQUIRE(client.value()->Execute(Upsert("orders", "o1", {})).ok());
  }
  p.up->Signal(SIGTERM);
  REQUIRE(p.up->Wait(std::chrono::seconds(15)) != -1);
  CHECK_FALSE(shm::ControlBlock::Exists(p.data_dir));  // by the last child, or by cqrs up

  // Started again: a new segment. A LocalReader attaches to it; then the segment is taken away
  // under the running pipeline (as a creator judged dead would have it replaced).
  p.StartUp();
  p.expect_restarts = true;  // each server exits when it finds itself orphaned
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  CommandResult w = client.value()->Execute(Upsert("orders", "o2", {}));
  REQUIRE(w.ok());
  LocalReaderOptions o;
  o.data_dir = p.data_dir;
  auto local = LocalReader::Open(o);
  REQUIRE(local.ok());
  auto before = shm::ControlBlock::Attach(p.data_dir, CacheConfig().slots);
  REQUIRE(before.ok());
  const std::uint64_t generation = before->layout().header.generation;
  shm::ControlBlock::Remove(p.data_dir);

  // Every server notices within its heartbeat, exits, and `cqrs up` restarts it on a new
  // segment; the pipeline answers again and the new segment carries the applied seq.
  std::unique_ptr<shm::ControlBlock> after;
  REQUIRE(testing::WaitFor(
      [&] {
        if (!shm::ControlBlock::Exists(p.data_dir)) return false;
        auto a = shm::ControlBlock::Attach(p.data_dir, CacheConfig().slots);
        if (!a.ok() || a->layout().header.generation == generation) return false;
        after = std::make_unique<shm::ControlBlock>(std::move(a).value());
        return after->slot(shm::kWriterSlot).pid.load() != 0 &&
               after->slot(shm::kProjectorSlot).pid.load() != 0;
      },
      std::chrono::seconds(20)));
  CHECK_FALSE(before->StillNamed());
  p.WaitAllAnswering();
  CommandResult w2;
  REQUIRE(testing::WaitFor(
      [&] {
        w2 = client.value()->Execute(Upsert("orders", "o3", {}));
        return w2.ok();
      },
      std::chrono::seconds(10)));
  const std::string log = testing::ReadFile(p.log_path);
  CHECK_THAT(log, Catch::Contains("no longer names this process's segment"));
  // The LocalReader follows too: it reads o3 at w2's seq (on the orphan it would wait forever).
  LocalReadOptions at;
  at.min_seq = w2.seq;
  at.wait = std::chrono::milliseconds(5000);
  LocalEntity e;
  std::uint64_t seq = 0;
  Status s = local.value()->Get("orders", "o3", at, &e, &seq);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(seq >= w2.seq);
}

}  // namespace cqrs
