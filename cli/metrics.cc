// Prometheus exposition and readiness from a control-block sample.
#include "cli/metrics.h"

#include <fmt/format.h>

#include <array>
#include <string_view>

#include "base/version.h"

namespace cqrs::cli {
namespace {

struct CounterName {
  const char* name;
  const char* help;
};
// shm::Counter by index: a counter of every process, labelled by its role.
constexpr std::array<CounterName, shm::kCounters> kCounterNames = {{
    {"cqrs_requests_total", "Requests (writer) or queries (readers) answered."},
    {"cqrs_request_errors_total", "Replies with a status other than Ok."},
    {"cqrs_batches_total",
     "Transactions (writer, projector), snapshots (readers), messages (mirror)."},
    {"cqrs_events_applied_total", "Events applied (projector, PostgreSQL sink)."},
    {"cqrs_events_published_total", "Events published (projector; mirror: to the stream)."},
    {"cqrs_replay_requests_total", "Replay requests answered (projector)."},
    {"cqrs_queries_waited_total", "Queries that waited for their min_seq (readers)."},
    {"cqrs_deadline_exceeded_total", "Queries answered DeadlineExceeded (readers)."},
    {"cqrs_replies_dropped_total", "Replies whose peer was gone."},
    {"cqrs_restarts_total", "Children restarted (cqrs up)."},
    {"cqrs_cache_hits_total", "Gets answered from the hot cache (readers)."},
    {"cqrs_cache_misses_total", "Gets the hot cache could not answer (readers)."},
    {"cqrs_cache_writes_total", "Hot cache slots written or cleared (projector)."},
    {"cqrs_cache_fills_total", "Hot cache slots filled for reported misses (projector)."},
    {"cqrs_cache_reports_dropped_total", "Cache accesses not reported, the ring full (readers)."},
}};

void Gauge(std::string* out, std::string_view name, std::string_view help, double value) {
  *out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, value);
}

bool Alive(const StatsSample& s, int slot) {
  for (const ProcessSample& p : s.processes)
    if (p.slot == slot && p.alive) return true;
  return false;
}

}  // namespace

std::string RenderPrometheus(const StatsSample& s, bool attached) {
  std::string out;
  Gauge(&out, "cqrs_up", "1 while the pipeline's control block exists.", attached ? 1 : 0);
  out += fmt::format(
      "# HELP cqrs_info The version of this metrics server.\n# TYPE cqrs_info gauge\n"
      "cqrs_info{{version=\"{}\"}} 1\n",
      CQRS_VERSION_STRING);
  if (!attached) return out;
  Gauge(&out, "cqrs_writer_committed_seq", "The writer's last committed seq.",
        static_cast<double>(s.committed));
  Gauge(&out, "cqrs_projector_applied_seq", "The read store's applied seq.",
        static_cast<double>(s.applied));
  Gauge(&out, "cqrs_projector_behind_events", "Committed but not yet applied events.",
        static_cast<double>(s.committed > s.applied ? s.committed - s.applied : 0));
  Gauge(&out, "cqrs_projector_lag_seconds",
        "From the writer's commit to the projector's apply, for the last batch.",
        static_cast<double>(s.lag_ns) / 1e9);
  Gauge(&out, "cqrs_mirror_published_seq", "The last seq published to NATS (0: no mirror).",
        static_cast<double>(s.mirrored));
  Gauge(&out, "cqrs_pgsink_applied_seq", "The PostgreSQL sink's checkpoint (0: no sink).",
        static_cast<double>(s.pg_applied));
  Gauge(&out, "cqrs_pgsink_rejected", "Values the PostgreSQL sink parked in cqrs_rejected.",
        static_cast<double>(s.pg_rejected));
  Gauge(&out, "cqrs_cache_slots", "Slots of the shared-memory hot cache.",
        static_cast<double>(s.cache_slots));

  auto label = [](const ProcessSample& p) { return fmt::format("role=\"{}\"", p.role); };
  out +=
      "# HELP cqrs_process_up 1 while the process runs and its heartbeat is fresh.\n"
      "# TYPE cqrs_process_up gauge\n";
  for (const ProcessSample& p : s.processes)
    out += fmt::format("cqrs_process_up{{{},pid=\"{}\"}} {}\n", label(p), p.pid, p.alive ? 1 : 0);
  out +=
      "# HELP cqrs_process_heartbeat_age_seconds Since the process's last heartbeat.\n"
      "# TYPE cqrs_process_heartbeat_age_seconds gauge\n";
  for (const ProcessSample& p : s.processes)
    out += fmt::format("cqrs_process_heartbeat_age_seconds{{{}}} {}\n", label(p),
                       static_cast<double>(p.heartbeat_age_ms) / 1000.0);
  for (int c = 0; c < shm::kCounters; ++c) {
    const CounterName& n = kCounterNames[static_cast<std::size_t>(c)];
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", n.name, n.help, n.name);
    for (const ProcessSample& p : s.processes)
      out +=
          fmt::format("{}{{{}}} {}\n", n.name, label(p), p.counters[static_cast<std::size_t>(c)]);
  }
  // Bucket b holds replies of [2^b, 2^(b+1)) µs (the first also below, the last also above).
  out +=
      "# HELP cqrs_reply_latency_seconds Time from a request's arrival to its reply.\n"
      "# TYPE cqrs_reply_latency_seconds histogram\n";
  for (const ProcessSample& p : s.processes) {
    std::uint64_t total = 0;
    for (int b = 0; b < shm::kLatencyBuckets; ++b) total += p.latency[static_cast<std::size_t>(b)];
    if (total == 0) continue;
    std::uint64_t cumulative = 0;
    for (int b = 0; b + 1 < shm::kLatencyBuckets; ++b) {
      cumulative += p.latency[static_cast<std::size_t>(b)];
      out += fmt::format("cqrs_reply_latency_seconds_bucket{{{},le=\"{}\"}} {}\n", label(p),
                         static_cast<double>(std::uint64_t{2} << b) / 1e6, cumulative);
    }
    out += fmt::format("cqrs_reply_latency_seconds_bucket{{{},le=\"+Inf\"}} {}\n", label(p), total);
    out += fmt::format("cqrs_reply_latency_seconds_count{{{}}} {}\n", label(p), total);
  }
  return out;
}

std::string NotReady(const StatsSample& s, std::uint64_t max_lag_events) {
  // The log's source: the writer, or on a replica host (where no writer ever ran) cqrs-replica.
  bool primary = false;
  for (const ProcessSample& p : s.processes) primary |= p.slot == shm::kWriterSlot;
  if (primary ? !Alive(s, shm::kWriterSlot) : !Alive(s, shm::kMirrorSlot))
    return primary ? "the writer is not running" : "no writer or replica is running";
  if (!Alive(s, shm::kProjectorSlot)) return "the projector is not running";
  bool reader = false;
  for (const ProcessSample& p : s.processes) reader |= p.slot >= shm::kFirstReaderSlot && p.alive;
  if (!reader) return "no reader is running";
  const std::uint64_t behind = s.committed > s.applied ? s.committed - s.applied : 0;
  if (behind > max_lag_events)
    return fmt::format("the projector is {} events behind (more than {})", behind, max_lag_events);
  return {};
}

std::vector<std::string> DownProcesses(const StatsSample& s) {
  std::vector<std::string> down;
  for (const ProcessSample& p : s.processes)
    if (!p.alive) down.push_back(fmt::format("{} (pid {})", p.role, p.pid));
  return down;
}

}  // namespace cqrs::cli
