#include "shm/control_block.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "base/fault.h"
#include "tests/support/test_support.h"

namespace cqrs::shm {

TEST_CASE("ControlBlock is created once per data dir and shared by every attacher",
          "[shm][control]") {
  testing::TempDir dir;
  ControlBlock::Remove(dir.path());
  auto a = ControlBlock::Attach(dir.path(), 64);
  REQUIRE(a.ok());
  CHECK(a->layout().header.creator_pid == static_cast<std::uint64_t>(getpid()));
  a->seqs().writer_committed_seq.store(41);
  a->Claim(kWriterSlot);
  auto b = ControlBlock::Attach(dir.path(), 64);
  REQUIRE(b.ok());
  CHECK(b->seqs().writer_committed_seq.load() == 41);
  CHECK(b->slot(kWriterSlot).pid.load() == static_cast<std::uint64_t>(getpid()));
  // Another process sees and writes the same words.
  pid_t child = fork();
  if (child == 0) {
    auto c = ControlBlock::Attach(dir.path(), 64);
    if (!c.ok() || c->seqs().writer_committed_seq.load() != 41) _exit(1);
    c->seqs().projector_applied_seq.store(40);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(a->seqs().projector_applied_seq.load() == 40);
  CHECK(ControlBlock::SegmentName(dir.path()) == ControlBlock::SegmentName(dir.path() + "/."));
  ControlBlock::Remove(dir.path());
}

TEST_CASE("A segment left half-made is replaced, not trusted", "[shm][control]") {
  namespace bip = boost::interprocess;
  testing::TempDir dir;
  const std::string name = ControlBlock::SegmentName(dir.path());
  ControlBlock::Remove(dir.path());
  {
    // A creator that died before writing the magic: zeroes of the right size.
    bip::shared_memory_object stale(bip::create_only, name.c_str(), bip::read_write);
    stale.truncate(sizeof(ControlBlockLayout) + 64 * kCacheSlotBytes);
    bip::mapped_region region(stale, bip::read_write);
    static_cast<ControlBlockLayout*>(region.get_address())->seqs.writer_committed_seq.store(99);
  }
  auto attached = ControlBlock::Attach(dir.path(), 64);
  REQUIRE(attached.ok());
  CHECK(attached->layout().header.magic.load() == kControlBlockMagic);
  CHECK(attached->seqs().writer_committed_seq.load() == 0);  // laid out anew
  ControlBlock::Remove(dir.path());
}

}  // namespace cqrs::shm

namespace cqrs::shm {

TEST_CASE("Processes attaching at once to a fresh data dir all share one segment",
          "[shm][control]") {
  testing::TempDir dir;
  ControlBlock::Remove(dir.path());
  int go[2];
  REQUIRE(pipe(go) == 0);
  std::vector<pid_t> children;
  for (int i = 0; i < 8; ++i) {
    pid_t child = fork();
    if (child == 0) {
      char c;
      if (read(go[0], &c, 1) != 1) _exit(3);  // all start together
      auto attached = ControlBlock::Attach(dir.path(), 64);
      if (!attached.ok()) _exit(2);
      attached->seqs().rebuild_requests.fetch_add(1);
      _exit(0);
    }
    children.push_back(child);
  }
  REQUIRE(write(go[1], "gogogogo", 8) == 8);
  for (pid_t child : children) {
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto attached = ControlBlock::Attach(dir.path(), 64);
  REQUIRE(attached.ok());
  CHECK(attached->seqs().rebuild_requests.load() == 8);  // no child was on a segment of its own
  CHECK_THAT(ControlBlock::SegmentName(dir.path()),
             Catch::Matches("cqrs-[0-9a-f]{16}-v" + std::to_string(kControlBlockVersion)));
  ControlBlock::Remove(dir.path());
}

TEST_CASE("issue #15: an attacher whose segment was removed or replaced sees it is orphaned",
          "[shm][control]") {
  testing::TempDir dir;
  ControlBlock::Remove(dir.path());
  auto slow = ControlBlock::Attach(dir.path(), 0);
  REQUIRE(slow.ok());
  CHECK(slow->StillNamed());
  CHECK_NOTHROW(slow->ExitIfOrphaned());
  // Another process judged its creator dead and laid out a new segment under the same name.
  ControlBlock::Remove(dir.path());
  auto fresh = ControlBlock::Attach(dir.path(), 0);
  REQUIRE(fresh.ok());
  CHECK(fresh->layout().header.generation != slow->layout().header.generation);
  // Looked at again at most 100 ms after the last look.
  CHECK(testing::WaitFor([&] { return !slow->StillNamed(); }, std::chrono::milliseconds(300)));
  CHECK_THROWS_WITH(slow->ExitIfOrphaned(), Catch::Contains("no longer names"));
  CHECK(fresh->StillNamed());
  // An orphan never removes the live segment on its way out.
  CHECK_FALSE(slow->RemoveIfUnused());
  CHECK(ControlBlock::Exists(dir.path()));
  ControlBlock::Remove(dir.path());
}

TEST_CASE("issue #15: a creator slow to lay the segment out is never replaced under itself",
          "[shm][control]") {
  testing::TempDir dir;
  ControlBlock::Remove(dir.path());
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  pid_t child = fork();
  if (child == 0) {
    // The slow creator: 1 s between laying the segment out and publishing it.
    setenv("CQRS_FAULTS", "shm_slow_layout=1", 1);
    if (!fault::ArmFromEnvironment().ok()) _exit(2);
    auto slow = ControlBlock::Attach(dir.path(), 0);
    if (!slow.ok()) _exit(3);
    const std::uint64_t generation = slow->layout().header.generation;
    (void)!write(pipe_fds[1], &generation, sizeof generation);
    // It must be on the segment everyone sees, not on an orphan.
    _exit(slow->StillNamed() ? 0 : 4);
  }
  // Another process attaches while the first is still at it (its draft segment exists), and
  // waits for nothing.
  const std::string draft_prefix = ControlBlock::SegmentName(dir.path()) + ".new.";
  REQUIRE(testing::WaitFor(
      [&] {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec))
          if (e.path().filename().string().starts_with(draft_prefix)) return true;
        return false;
      },
      std::chrono::seconds(10)));
  const auto started = std::chrono::steady_clock::now();
  auto other = ControlBlock::Attach(dir.path(), 0);
  REQUIRE(other.ok());
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(500));
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::uint64_t child_generation = 0;
  REQUIRE(read(pipe_fds[0], &child_generation, sizeof child_generation) == sizeof child_generation);
  CHECK(child_generation == other->layout().header.generation);  // one segment for both
  CHECK(other->StillNamed());
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  ControlBlock::Remove(dir.path());
}

TEST_CASE("issue #15: the last process to stop removes the segment, never one still used",
          "[shm][control]") {
  testing::TempDir dir;
  ControlBlock::Remove(dir.path());
  auto a = ControlBlock::Attach(dir.path(), 0);
  REQUIRE(a.ok());
  a->Claim(kWriterSlot);
  // A live process in another slot keeps it.
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  if (child == 0) {
    auto c = ControlBlock::Attach(dir.path(), 0);
    if (!c.ok()) _exit(1);
    c->Claim(kFirstReaderSlot);
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char x;
  REQUIRE(read(ready[0], &x, 1) == 1);
  CHECK_FALSE(a->RemoveIfUnused());
  CHECK(ControlBlock::Exists(dir.path()));
  // Once it is gone (here killed; its pid stays in its slot), the segment goes.
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(a->RemoveIfUnused());
  CHECK_FALSE(ControlBlock::Exists(dir.path()));
  CHECK(a->seqs().writer_committed_seq.load() == 0);  // the mapping itself stays usable
  close(ready[0]);
  close(ready[1]);
}

TEST_CASE("Latency buckets double from 1 µs and end in one for everything slower",
          "[shm][control]") {
  CHECK(LatencyBucket(0) == 0);
  CHECK(LatencyBucket(1'999) == 0);  // 1 µs
  CHECK(LatencyBucket(2'000) == 1);  // [2, 4) µs
  CHECK(LatencyBucket(3'999) == 1);
  CHECK(LatencyBucket(4'000) == 2);
  CHECK(LatencyBucket(1'000'000) == 9);  // 1 ms: [512, 1024) µs
  CHECK(LatencyBucket(60'000'000'000ull) == kLatencyBuckets - 1);
}

}  // namespace cqrs::shm
