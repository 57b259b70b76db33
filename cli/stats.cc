// Sampling the control block and rendering `cqrs stats`.
#include "cli/stats.h"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>

#include "base/clock.h"
#include "base/json.h"

namespace cqrs::cli {
namespace {

constexpr std::uint64_t kStaleMs = 2000;

std::string Role(int slot) {
  switch (slot) {
    case shm::kWriterSlot:
      return "writer";
    case shm::kProjectorSlot:
      return "projector";
    case shm::kSupervisorSlot:
      return "supervisor";
    case shm::kMirrorSlot:
      return "nats";  // cqrs-mirror on the primary, cqrs-replica on a replica host
    case shm::kPgSinkSlot:
      return "postgresql";
    default:
      return slot >= shm::kFirstReaderSlot ? fmt::format("reader {}", slot - shm::kFirstReaderSlot)
                                           : fmt::format("slot {}", slot);
  }
}

}  // namespace

const char* RateName(int slot) {
  if (slot == shm::kWriterSlot) return "requests";
  if (slot == shm::kProjectorSlot || slot == shm::kMirrorSlot || slot == shm::kPgSinkSlot)
    return "events";
  if (slot == shm::kSupervisorSlot) return "restarts";
  return "queries";
}
int RateCounter(int slot) {
  if (slot == shm::kProjectorSlot || slot == shm::kPgSinkSlot) return shm::kEventsApplied;
  if (slot == shm::kSupervisorSlot) return shm::kRestarts;
  if (slot == shm::kMirrorSlot) return shm::kEventsPublished;
  return shm::kRequests;
}

double Rate(const StatsSample& then, const StatsSample& now, const ProcessSample& p, int counter) {
  if (then.taken_ns == 0 || now.taken_ns <= then.taken_ns) return 0;
  for (const ProcessSample& q : then.processes)
    if (q.slot == p.slot) {
      const std::uint64_t a = q.counters[static_cast<std::size_t>(counter)];
      const std::uint64_t b = p.counters[static_cast<std::size_t>(counter)];
      return b >= a ? static_cast<double>(b - a) /
                          (static_cast<double>(now.taken_ns - then.taken_ns) / 1e9)
                    : 0;
    }
  return 0;
}

std::uint64_t Sum(const StatsSample& s, int counter) {
  std::uint64_t n = 0;
  for (const ProcessSample& p : s.processes) n += p.counters[static_cast<std::size_t>(counter)];
  return n;
}

double HitRatio(std::uint64_t hits, std::uint64_t misses) {
  return hits + misses == 0
             ? -1
             : 100.0 * static_cast<double>(hits) / static_cast<double>(hits + misses);
}

std::string Ratio(double percent) {
  return percent < 0 ? std::string("-") : fmt::format("{:.1f} %", percent);
}

std::uint64_t LatencyPercentileUs(const std::array<std::uint64_t, shm::kLatencyBuckets>& buckets,
                                  double fraction) {
  std::uint64_t total = 0;
  for (std::uint64_t n : buckets) total += n;
  if (total == 0) return 0;
  const auto want = static_cast<std::uint64_t>(fraction * static_cast<double>(total));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    seen += buckets[b];
    if (seen > want || b + 1 == buckets.size()) return std::uint64_t{2} << b;
  }
  return 0;
}

StatsSample TakeSample(const shm::ControlBlock& control) {
  StatsSample s;
  s.taken_ns = MonoNs();
  const shm::Header& h = control.layout().header;
  s.generation = h.generation;
  s.cache_slots = control.cache().slot_count();
  s.cache_mid_write = control.cache().CountMidWrite();
  const shm::Seqs& seqs = control.seqs();
  s.committed = seqs.writer_committed_seq.load(std::memory_order_acquire);
  s.applied = seqs.projector_applied_seq.load(std::memory_order_acquire);
  s.read_generation = seqs.read_generation.load(std::memory_order_acquire);
  s.lag_ns = seqs.projector_lag_ns.load(std::memory_order_relaxed);
  s.rebuild_target = seqs.rebuild_target_seq.load(std::memory_order_relaxed);
  s.rebuild_applied = seqs.rebuild_applied_seq.load(std::memory_order_relaxed);
  s.mirrored = seqs.mirror_published_seq.load(std::memory_order_relaxed);
  s.pg_applied = seqs.pgsink_applied_seq.load(std::memory_order_relaxed);
  s.pg_rejected = seqs.pgsink_rejected.load(std::memory_order_relaxed);
  const std::uint64_t wall = WallNs();
  for (int i = 0; i < shm::kMaxSlots; ++i) {
    const shm::ProcessSlot& slot = control.slot(i);
    ProcessSample p;
    p.slot = i;
    p.pid = slot.pid.load(std::memory_order_relaxed);
    if (p.pid == 0) continue;  // never used
    p.role = Role(i);
    const std::uint64_t beat = slot.heartbeat_ns.load(std::memory_order_acquire);
    p.heartbeat_age_ms = beat != 0 && wall > beat ? (wall - beat) / 1'000'000 : 0;
    const bool exists =
        kill(static_cast<pid_t>(p.pid), 0) == 0 || errno == EPERM;  // EPERM: another user's
    p.alive = exists && beat != 0 && p.heartbeat_age_ms < kStaleMs;
    for (int c = 0; c < shm::kCounters; ++c)
      p.counters[static_cast<std::size_t>(c)] = slot.counters[c].load(std::memory_order_relaxed);
    for (int b = 0; b < shm::kLatencyBuckets; ++b)
      p.latency[static_cast<std::size_t>(b)] = slot.latency[b].load(std::memory_order_relaxed);
    s.processes.push_back(p);
  }
  return s;
}

std::string RenderStatsText(const StatsSample& then, const StatsSample& now,
                            const std::string& segment) {
  std::string out = fmt::format(
      "segment {} (generation {:016x})\n"
      "seqs      committed {}  applied {}  behind {} events  last batch applied {:.0f} µs after "
      "its commit  read-store generation {}\n",
      segment, now.generation, now.committed, now.applied,
      now.committed > now.applied ? now.committed - now.applied : 0,
      static_cast<double>(now.lag_ns) / 1e3, now.read_generation);
  if (now.mirrored > 0)
    out += fmt::format("mirror    published {}  behind {} events\n", now.mirrored,
                       now.committed > now.mirrored ? now.committed - now.mirrored : 0);
  if (now.pg_applied > 0 || now.pg_rejected > 0)
    out += fmt::format(
        "postgres  applied {}  behind {} events  {} values parked in cqrs_rejected\n",
        now.pg_applied, now.committed > now.pg_applied ? now.committed - now.pg_applied : 0,
        now.pg_rejected);
  if (now.rebuild_target > 0)
    out += fmt::format("rebuild   {}/{} events\n", now.rebuild_applied, now.rebuild_target);
  for (const ProcessSample& p : now.processes) {
    if (p.slot != shm::kWriterSlot && p.slot != shm::kProjectorSlot && p.slot != shm::kMirrorSlot &&
        p.slot != shm::kPgSinkSlot)
      continue;
    const double batches = Rate(then, now, p, shm::kBatches);
    const double items = Rate(then, now, p, RateCounter(p.slot));
    out += fmt::format("batches   {}: {:.0f}/s of {:.1f} {} on average\n", p.role, batches,
                       batches > 0 ? items / batches : 0.0,
                       p.slot == shm::kWriterSlot ? "requests" : "events");
  }
  out += fmt::format("{:<12} {:>8} {:>6} {:>10} {:>12} {:>10} {:>10} {:>10}\n", "process", "pid",
                     "alive", "heartbeat", "rate/s", "errors/s", "p50 µs", "p99 µs");
  for (const ProcessSample& p : now.processes) {
    const int counter = RateCounter(p.slot);
    // Reply latency; for the PostgreSQL sink, each batch's lag from the writer's commit.
    const bool replies =
        p.slot == shm::kWriterSlot || p.slot >= shm::kFirstReaderSlot || p.slot == shm::kPgSinkSlot;
    out +=
        fmt::format("{:<12} {:>8} {:>6} {:>7} ms {:>12} {:>10} {:>10} {:>10}\n", p.role, p.pid,
                    p.alive ? "yes" : "NO", p.heartbeat_age_ms,
                    fmt::format("{:.0f} {}", Rate(then, now, p, counter), RateName(p.slot)),
                    replies ? fmt::format("{:.0f}", Rate(then, now, p, shm::kRequestErrors)) : "-",
                    replies ? fmt::format("≤{}", LatencyPercentileUs(p.latency, 0.5)) : "-",
                    replies ? fmt::format("≤{}", LatencyPercentileUs(p.latency, 0.99)) : "-");
  }
  const std::uint64_t hits = Sum(now, shm::kCacheHits), misses = Sum(now, shm::kCacheMisses);
  double recent = -1;
  if (then.taken_ns != 0) {
    const std::uint64_t h0 = Sum(then, shm::kCacheHits), m0 = Sum(then, shm::kCacheMisses);
    if (hits >= h0 && misses >= m0) recent = HitRatio(hits - h0, misses - m0);
  }
  if (now.cache_slots == 0)
    out += "cache     off\n";
  else
    out += fmt::format(
        "cache     {} slots  Get hit ratio {} (this interval)  {} (since start)  {} filled "
        "from misses  {} reports dropped  {} slots mid-write\n",
        now.cache_slots, Ratio(recent), Ratio(HitRatio(hits, misses)), Sum(now, shm::kCacheFills),
        Sum(now, shm::kCacheReportsDropped), now.cache_mid_write);
  return out;
}

std::string RenderStatsJson(const StatsSample& then, const StatsSample& now,
                            const std::string& segment) {
  std::string out = "{\"segment\":";
  AppendJsonString(&out, segment);
  out += fmt::format(
      ",\"generation\":\"{:016x}\",\"committed_seq\":{},\"applied_seq\":{},\"behind_events\":{},"
      "\"lag_us\":{:.1f},\"read_generation\":{},\"rebuild_target_seq\":{},"
      "\"rebuild_applied_seq\":{},\"mirrored_seq\":{},\"postgresql_applied_seq\":{},"
      "\"postgresql_rejected\":{},\"processes\":[",
      now.generation, now.committed, now.applied,
      now.committed > now.applied ? now.committed - now.applied : 0,
      static_cast<double>(now.lag_ns) / 1e3, now.read_generation, now.rebuild_target,
      now.rebuild_applied, now.mirrored, now.pg_applied, now.pg_rejected);
  for (std::size_t i = 0; i < now.processes.size(); ++i) {
    const ProcessSample& p = now.processes[i];
    out += i ? ",{\"role\":" : "{\"role\":";
    AppendJsonString(&out, p.role);
    out += fmt::format(
        ",\"pid\":{},\"alive\":{},\"heartbeat_age_ms\":{},\"rate_per_s\":{:.1f},"
        "\"errors_per_s\":{:.1f},\"total\":{},\"errors\":{},\"batches\":{},"
        "\"latency_us_p50\":{},\"latency_us_p99\":{}}}",
        p.pid, p.alive ? "true" : "false", p.heartbeat_age_ms,
        Rate(then, now, p, RateCounter(p.slot)), Rate(then, now, p, shm::kRequestErrors),
        p.counters[static_cast<std::size_t>(RateCounter(p.slot))], p.counters[shm::kRequestErrors],
        p.counters[shm::kBatches], LatencyPercentileUs(p.latency, 0.5),
        LatencyPercentileUs(p.latency, 0.99));
  }
  const std::uint64_t hits = Sum(now, shm::kCacheHits), misses = Sum(now, shm::kCacheMisses);
  out += fmt::format(
      "],\"cache\":{{\"slots\":{},\"hits\":{},\"misses\":{},\"hit_ratio\":{:.4f},"
      "\"fills\":{},\"reports_dropped\":{},\"mid_write\":{}}}}}",
      now.cache_slots, hits, misses,
      hits + misses ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0.0,
      Sum(now, shm::kCacheFills), Sum(now, shm::kCacheReportsDropped), now.cache_mid_write);
  return out;
}

}  // namespace cqrs::cli
