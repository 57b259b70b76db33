#include "cli/stats.h"

#include <unistd.h>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "tests/support/test_support.h"

namespace cqrs::cli {

TEST_CASE("Latency percentiles come from the doubling buckets' upper edges", "[cli][stats]") {
  std::array<std::uint64_t, shm::kLatencyBuckets> b{};
  CHECK(LatencyPercentileUs(b, 0.5) == 0);
  b[0] = 50;  // < 2 µs
  b[3] = 49;  // [8, 16) µs
  b[9] = 1;   // [512, 1024) µs
  CHECK(LatencyPercentileUs(b, 0.5) == 16);
  CHECK(LatencyPercentileUs(b, 0.4) == 2);
  CHECK(LatencyPercentileUs(b, 0.99) == 1024);
}

TEST_CASE("cqrs stats reports seqs, lag, liveness, rates and the cache hit ratio", "[cli][stats]") {
  testing::TempDir dir;
  shm::ControlBlock::Remove(dir.path());
  auto control = shm::ControlBlock::Attach(dir.path(), 64);
  REQUIRE(control.ok());
  shm::ControlBlock& c = control.value();
  c.seqs().writer_committed_seq.store(10);
  c.seqs().projector_applied_seq.store(7);
  c.seqs().projector_lag_ns.store(250'000);
  c.Claim(shm::kWriterSlot);
  c.Claim(shm::kFirstReaderSlot + 1);
  c.slot(shm::kProjectorSlot).pid.store(999'999'999);  // a pid that does not exist
  c.slot(shm::kProjectorSlot).heartbeat_ns.store(WallNs() - 10'000'000'000ull);
  shm::ProcessSlot& reader = c.slot(shm::kFirstReaderSlot + 1);
  reader.counters[shm::kCacheHits].store(3);
  reader.counters[shm::kCacheMisses].store(1);
  reader.latency[4].store(10);
  const StatsSample then = TakeSample(c);
  reader.counters[shm::kRequests].fetch_add(500);
  c.slot(shm::kWriterSlot).counters[shm::kRequests].fetch_add(40);
  c.slot(shm::kWriterSlot).counters[shm::kBatches].fetch_add(4);
  reader.counters[shm::kCacheHits].fetch_add(1);
  reader.counters[shm::kCacheMisses].fetch_add(3);
  reader.counters[shm::kCacheReportsDropped].store(2);
  c.slot(shm::kProjectorSlot).counters[shm::kCacheFills].store(6);
  usleep(20'000);
  const StatsSample now = TakeSample(c);
  REQUIRE(now.processes.size() == 3);

  const std::string text = RenderStatsText(then, now, "cqrs-test");
  INFO(text);
  CHECK_THAT(text, Catch::Contains("committed 10  applied 7  behind 3 events"));
  CHECK_THAT(text, Catch::Contains("250 µs after its commit"));
  CHECK_THAT(text, Catch::Contains("reader 1"));
  CHECK_THAT(text, Catch::Contains("NO"));  // the projector: no such pid, stale heartbeat
  CHECK_THAT(text, Catch::Contains("50.0 % (since start)"));    // 4 of 8
  CHECK_THAT(text, Catch::Contains("25.0 % (this interval)"));  // 1 of 4
  CHECK_THAT(text, Catch::Contains("64 slots"));
  CHECK_THAT(text, Catch::Contains("6 filled from misses  2 reports dropped"));
  CHECK_THAT(text, Catch::Contains("of 10.0 requests on average"));  // 40 in 4 batches

  const std::string json = RenderStatsJson(then, now, "cqrs-test");
  INFO(json);
  CHECK_THAT(json, Catch::Contains("\"behind_events\":3"));
  CHECK_THAT(json, Catch::Contains("\"role\":\"projector\",\"pid\":999999999,\"alive\":false"));
  CHECK_THAT(json, Catch::Contains("\"role\":\"reader 1\""));
  CHECK_THAT(json, Catch::Contains("\"total\":500"));
  CHECK_THAT(json, Catch::Contains("\"latency_us_p50\":32"));
  CHECK_THAT(json, Catch::Contains("\"hits\":4,\"misses\":4,\"hit_ratio\":0.5000,"
                                   "\"fills\":6,\"reports_dropped\":2"));
  shm::ControlBlock::Remove(dir.path());
}

}  // namespace cqrs::cli
