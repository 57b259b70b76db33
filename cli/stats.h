// `cqrs stats`: what the shared-memory control block says about a data dir's pipeline, read
// without locks: seqs and lag, each process's liveness, rates and reply latency, and the hot
// cache's hit ratio. Rates come from two samples.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "shm/control_block.h"

namespace cqrs::cli {

struct ProcessSample {
  int slot = 0;
  std::string role;  // writer, projector, supervisor, reader N
  std::uint64_t pid = 0;
  bool alive = false;  // the pid exists and its heartbeat is under 2 s old
  std::uint64_t heartbeat_age_ms = 0;
  std::array<std::uint64_t, shm::kCounters> counters{};
  std::array<std::uint64_t, shm::kLatencyBuckets> latency{};
};

struct StatsSample {
  std::uint64_t taken_ns = 0;  // monotonic
  std::uint64_t generation = 0;
  std::uint32_t cache_slots = 0;
  std::uint32_t cache_mid_write = 0;
  std::uint64_t committed = 0, applied = 0, read_generation = 0, lag_ns = 0;
  std::uint64_t rebuild_target = 0, rebuild_applied = 0;
  std::uint64_t mirrored = 0;            // the mirror's published seq (0: no mirror has run)
  std::uint64_t pg_applied = 0;          // cqrs-pgsink's checkpoint (0: no sink has run)
  std::uint64_t pg_rejected = 0;         // values it parked in cqrs_rejected
  std::vector<ProcessSample> processes;  // slots ever used
};

StatsSample TakeSample(const shm::ControlBlock& control);

// The report of `now` with rates over (then, now]; `then` may be empty (taken_ns 0): no rates.
std::string RenderStatsText(const StatsSample& then, const StatsSample& now,
                            const std::string& segment);
std::string RenderStatsJson(const StatsSample& then, const StatsSample& now,
                            const std::string& segment);

// What a process's main counter counts ("requests", "events", "restarts", "queries"), and
// which counter that is, by control-block slot.
const char* RateName(int slot);
int RateCounter(int slot);
// `counter` of `p` per second over (then, now]; 0 without an earlier sample of it.
double Rate(const StatsSample& then, const StatsSample& now, const ProcessSample& p, int counter);
// `counter` summed over the processes.
std::uint64_t Sum(const StatsSample& s, int counter);
// Hits / (hits + misses) as a percentage; -1 without lookups. Ratio: "12.3 %", or "-".
double HitRatio(std::uint64_t hits, std::uint64_t misses);
std::string Ratio(double percent);

// The latency below which `fraction` of the replies in `buckets` took (the upper edge of that
// bucket, in µs); 0 without replies.
std::uint64_t LatencyPercentileUs(const std::array<std::uint64_t, shm::kLatencyBuckets>& buckets,
                                  double fraction);

}  // namespace cqrs::cli
