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

namespace cqrs::cli {
namespace {

std::string Html(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A cell showing `shown` for the series `metric` whose /metrics value is `value`.
std::string MetricCell(std::string_view metric, double value, std::string_view shown) {
  return fmt::format("<td data-metric=\"{}\" data-value=\"{}\">{}</td>", Html(metric), value,
                     Html(shown));
}

std::string Series(std::string_view name, const ProcessSample& p) {
  return fmt::format("{}{{role=\"{}\"}}", name, p.role);
}

// A process's main counter per second over (then, now], as `cqrs stats` shows it.
std::string Rate(const StatsSample& then, const StatsSample& now, const ProcessSample& p) {
  if (then.taken_ns == 0 || now.taken_ns <= then.taken_ns)
    return fmt::format("– {}/s", RateName(p.slot));
  return fmt::format("{:.0f} {}/s", cli::Rate(then, now, p, RateCounter(p.slot)), RateName(p.slot));
}

// The pipeline: sources (writer, replica) → projector and sinks → readers, one box each.
std::string PipelineSvg(const StatsSample& then, const StatsSample& now) {
  constexpr int kW = 200, kH = 66, kGapX = 70, kGapY = 16;
  std::array<std::vector<const ProcessSample*>, 3> columns;
  for (const ProcessSample& p : now.processes) {
    if (p.slot == shm::kSupervisorSlot) continue;
    const int col = p.slot == shm::kWriterSlot ? 0
                    : (p.slot == shm::kProjectorSlot || p.slot == shm::kPgSinkSlot ||
                       p.slot == shm::kMirrorSlot)
                        ? 1
                        : 2;
    columns[static_cast<std::size_t>(col)].push_back(&p);
  }
  std::size_t rows = 1;
  for (const auto& c : columns) rows = std::max(rows, c.size());
  const int height = static_cast<int>(rows) * (kH + kGapY) + kGapY;
  std::string out = fmt::format(
      "<svg class=\"pipeline\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"the pipeline\">"
      "<defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"8\" refX=\"7\" refY=\"4\" "
      "orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#5f6368\"/></marker></defs>",
      3 * kW + 2 * kGapX + 20, height, 3 * kW + 2 * kGapX + 20, height);
  auto y_of = [&](std::size_t col, std::size_t i) {
    return kGapY + static_cast<int>(i) * (kH + kGapY) +
           static_cast<int>(rows - columns[col].size()) * (kH + kGapY) / 2;
  };
  // Arrows first, under the boxes: each box of a column feeds every box of the next.
  for (std::size_t col = 0; col + 1 < columns.size(); ++col)
    for (std::size_t i = 0; i < columns[col].size(); ++i)
      for (std::size_t j = 0; j < columns[col + 1].size(); ++j) {
        if (col + 1 == 2 && columns[1][i]->slot != shm::kProjectorSlot) continue;
        out += fmt::format(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#5f6368\" "
            "stroke-width=\"1.5\" marker-end=\"url(#arrow)\"/>",
            10 + static_cast<int>(col) * (kW + kGapX) + kW, y_of(col, i) + kH / 2,
            10 + static_cast<int>(col + 1) * (kW + kGapX) - 2, y_of(col + 1, j) + kH / 2);
      }
  for (std::size_t col = 0; col < columns.size(); ++col)
    for (std::size_t i = 0; i < columns[col].size(); ++i) {
      const ProcessSample& p = *columns[col][i];
      const int x = 10 + static_cast<int>(col) * (kW + kGapX), y = y_of(col, i);
      out += fmt::format(
          "<g class=\"process {}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" "
          "fill=\"{}\" stroke=\"{}\" stroke-width=\"1.5\"/>"
          "<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>"
          "<text x=\"{}\" y=\"{}\">pid {} · {}</text><text x=\"{}\" y=\"{}\">{}</text></g>",
          p.alive ? "alive" : "down", x, y, kW, kH, p.alive ? "#e6f4ea" : "#fce8e6",
          p.alive ? "#1e8e3e" : "#d93025", x + 10, y + 19, Html(p.role), x + 10, y + 38, p.pid,
          p.alive ? "alive" : "DOWN", x + 10, y + 56, Html(Rate(then, now, p)));
    }
  return out + "</svg>";
}

// A process's reply latency: one bar per bucket (2 µs … 32 ms and above).
std::string LatencySvg(const ProcessSample& p, std::uint64_t total) {
  constexpr int kBarW = 26, kChartH = 110, kTop = 10, kLeft = 10;
  std::uint64_t most = 1;
  for (std::uint64_t n : p.latency) most = std::max(most, n);
  std::string out = fmt::format(
      "<svg class=\"latency\" width=\"{}\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" "
      "role=\"img\" aria-label=\"reply latency of {}\">",
      kLeft * 2 + kBarW * shm::kLatencyBuckets, kChartH + kTop + 34, Html(p.role));
  for (int b = 0; b < shm::kLatencyBuckets; ++b) {
    const std::uint64_t n = p.latency[static_cast<std::size_t>(b)];
    const int h = n == 0 ? 0
                         : std::max(1, static_cast<int>(static_cast<double>(n) * kChartH /
                                                        static_cast<double>(most)));
    const int x = kLeft + b * kBarW;
    const std::uint64_t us = std::uint64_t{2} << b;
    const std::string edge = b + 1 == shm::kLatencyBuckets ? "more"
                             : us >= 1000                  ? fmt::format("{}ms", us / 1000)
                                                           : fmt::format("{}µs", us);
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#1a73e8\"><title>{} replies "
        "under {}</title></rect>",
        x + 3, kTop + kChartH - h, kBarW - 6, h, n, edge);
    if (b % 2 == 0)
      out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\">{}</text>", x + 2,
                         kTop + kChartH + 14, edge);
  }
  out += fmt::format(
      "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#5f6368\"/>"
      "<text x=\"{}\" y=\"{}\" font-size=\"11\">{} replies: p50 &lt; {} µs, p99 &lt; {} µs"
      "</text></svg>",
      kLeft, kTop + kChartH, kLeft + kBarW * shm::kLatencyBuckets, kTop + kChartH, kLeft,
      kTop + kChartH + 30, total, LatencyPercentileUs(p.latency, 0.5),
      LatencyPercentileUs(p.latency, 0.99));
  return out;
}

}  // namespace

std::string RenderStatusPage(const StatsSample& then, const StatsSample& now, bool attached,
                             std::string_view data_dir) {
  std::string out = fmt::format(
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"1\"><title>cqrs {}</title><style>"
      "body{{font-family:sans-serif;margin:24px;color:#202124}}"
      "table{{border-collapse:collapse;margin:8px 0 20px}}"
      "td,th{{border:1px solid #dadce0;padding:4px 10px;text-align:right;white-space:nowrap}}"
      ".hist{{display:inline-block;margin-right:24px;vertical-align:top}}"
      "th{{background:#f1f3f4}} td:first-child,th:first-child{{text-align:left}}"
      "svg text{{font-family:sans-serif;font-size:13px;fill:#202124}} h2{{font-size:18px}}"
      "</style></head><body><h1>cqrs {}</h1><p>data <code>{}</code> · version {} · this page "
      "reloads every second; the same numbers as <a href=\"/metrics\">/metrics</a>, "
      "<a href=\"/readyz\">/readyz</a></p>",
      Html(data_dir), Html(data_dir), Html(data_dir), CQRS_VERSION_STRING);
  if (!attached)
    return out + "<p id=\"down\">The pipeline is not running (no control block).</p></body></html>";

  out += "<h2>Pipeline</h2>" + PipelineSvg(then, now);
  const std::uint64_t behind = now.committed > now.applied ? now.committed - now.applied : 0;
  out +=
      "<h2>Seqs and lag</h2><table><tr><th>committed</th><th>applied</th><th>behind</th>"
      "<th>lag</th><th>mirrored</th><th>in PostgreSQL</th></tr><tr>";
  out += MetricCell("cqrs_writer_committed_seq", static_cast<double>(now.committed),
                    fmt::format("{}", now.committed));
  out += MetricCell("cqrs_projector_applied_seq", static_cast<double>(now.applied),
                    fmt::format("{}", now.applied));
  out += MetricCell("cqrs_projector_behind_events", static_cast<double>(behind),
                    fmt::format("{}", behind));
  out += MetricCell("cqrs_projector_lag_seconds", static_cast<double>(now.lag_ns) / 1e9,
                    fmt::format("{:.3f} ms", static_cast<double>(now.lag_ns) / 1e6));
  out += MetricCell("cqrs_mirror_published_seq", static_cast<double>(now.mirrored),
                    fmt::format("{}", now.mirrored));
  out += MetricCell("cqrs_pgsink_applied_seq", static_cast<double>(now.pg_applied),
                    fmt::format("{}", now.pg_applied));
  out += "</tr></table>";

  const std::uint64_t hits = Sum(now, shm::kCacheHits), misses = Sum(now, shm::kCacheMisses);
  out += fmt::format(
      "<h2>Hot cache</h2><table><tr><th>slots</th><th>hits</th><th>misses</th><th>hit ratio</th>"
      "</tr><tr>{}<td>{}</td><td>{}</td><td id=\"hit-ratio\">{}</td></tr></table>",
      MetricCell("cqrs_cache_slots", now.cache_slots, fmt::format("{}", now.cache_slots)), hits,
      misses, Ratio(HitRatio(hits, misses)));

  out +=
      "<h2>Processes</h2><table><tr><th>process</th><th>pid</th><th>up</th><th>rate</th>"
      "<th>requests</th><th>not Ok</th><th>batches</th><th>events applied</th>"
      "<th>cache hits</th><th>cache misses</th><th>restarts</th></tr>";
  for (const ProcessSample& p : now.processes) {
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td>{}<td>{}</td>", Html(p.role), p.pid,
        MetricCell(fmt::format("cqrs_process_up{{role=\"{}\",pid=\"{}\"}}", p.role, p.pid),
                   p.alive ? 1 : 0, p.alive ? "yes" : "DOWN"),
        Html(Rate(then, now, p)));
    for (auto [counter, name] : {std::pair{shm::kRequests, "cqrs_requests_total"},
                                 std::pair{shm::kRequestErrors, "cqrs_request_errors_total"},
                                 std::pair{shm::kBatches, "cqrs_batches_total"},
                                 std::pair{shm::kEventsApplied, "cqrs_events_applied_total"},
                                 std::pair{shm::kCacheHits, "cqrs_cache_hits_total"},
                                 std::pair{shm::kCacheMisses, "cqrs_cache_misses_total"},
                                 std::pair{shm::kRestarts, "cqrs_restarts_total"}}) {
      const std::uint64_t v = p.counters[static_cast<std::size_t>(counter)];
      out += MetricCell(Series(name, p), static_cast<double>(v), fmt::format("{}", v));
    }
    out += "</tr>";
  }
  out += "</table><h2>Reply latency</h2>";
  bool any = false;
  for (const ProcessSample& p : now.processes) {
    std::uint64_t total = 0;
    for (std::uint64_t n : p.latency) total += n;
    if (total == 0) continue;
    any = true;
    out += fmt::format("<div class=\"hist\"><h3 data-metric=\"{}\" data-value=\"{}\">{}</h3>",
                       Html(Series("cqrs_reply_latency_seconds_count", p)), total, Html(p.role));
    out += LatencySvg(p, total) + "</div>";
  }
  if (!any) out += "<p>No replies yet.</p>";
  return out + "</body></html>";
}

}  // namespace cqrs::cli
