// The hot cache's seqlock across processes (docs/DEPENDENCY_FACTS.md fact 9): a writer process
// killed with -9 at random 40 times, mostly in the middle of a slot, while two reader processes
// check every record they accept; then a restarted writer repairs every slot it left odd.
#include <signal.h>

#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "shm/control_block.h"
#include "tests/support/test_support.h"

namespace cqrs {

TEST_CASE("Readers accept no torn cache record while the writer is killed -9 40 times",
          "[process][cache]") {
  testing::TempDir dir;
  shm::ControlBlock::Remove(dir.path());
  const std::string log = dir / "torture.log";
  auto attached = shm::ControlBlock::Attach(dir.path(), 64);
  REQUIRE(attached.ok());
  const shm::ControlBlock& control = attached.value();
  std::vector<std::unique_ptr<testing::ChildProcess>> readers;
  for (int r = 0; r < 2; ++r)
    readers.push_back(std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{CQRS_CACHE_TORTURE_BINARY, "reader", dir.path(), "8"},
        dir / ("reader" + std::to_string(r) + ".log")));
  std::mt19937_64 rng(27);
  int odd_after_kill = 0;
  for (int kill = 0; kill < 40; ++kill) {
    testing::ChildProcess writer({CQRS_CACHE_TORTURE_BINARY, "writer", dir.path()}, log);
    REQUIRE(
        testing::WaitFor([&] { return testing::ReadFile(log).find("ready") != std::string::npos; },
                         std::chrono::seconds(10)));
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 100));
    writer.Signal(SIGKILL);
    REQUIRE(writer.Wait(std::chrono::seconds(10)) != -1);
    odd_after_kill += static_cast<int>(control.cache().CountMidWrite());
    std::remove(log.c_str());
  }
  for (std::size_t r = 0; r < readers.size(); ++r) {
    const int status = readers[r]->Wait(std::chrono::seconds(60));
    const std::string out = testing::ReadFile(dir / ("reader" + std::to_string(r) + ".log"));
    INFO(out);
    CHECK(status == 0);  // exit 0: torn=0
    CHECK(out.find("torn=0") != std::string::npos);
    CHECK(out.find("hits=0 ") == std::string::npos);
  }
  // A killed writer leaves a slot odd about once a kill while it writes nonstop; a restarted one
  // repairs them all before anything else.
  INFO("slots left odd over the 40 kills: " << odd_after_kill);
  CHECK(odd_after_kill > 0);  // the kills did land inside writes
  testing::ChildProcess repair({CQRS_CACHE_TORTURE_BINARY, "writer", dir.path(), "0"}, log);
  CHECK(repair.Wait(std::chrono::seconds(10)) == 0);
  CHECK(control.cache().CountMidWrite() == 0);
  shm::ControlBlock::Remove(dir.path());
}

}  // namespace cqrs
