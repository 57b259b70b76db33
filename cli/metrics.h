// `cqrs metrics`: the control block over HTTP for Prometheus and for load balancers and probes.
// /metrics is the Prometheus text exposition of everything `cqrs stats` reads (docs/OPERATIONS.md,
// "Metrics and health"); /healthz answers while this server runs; /readyz says whether the
// pipeline serves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cli/stats.h"

namespace cqrs::cli {

// Prometheus text exposition format 0.0.4 of one sample (`attached`: a control block was found;
// otherwise only cqrs_up 0 and cqrs_info).
std::string RenderPrometheus(const StatsSample& sample, bool attached);

// Why the pipeline does not serve (empty: it does): a source of the log (the writer, or a
// replica), the projector and a reader alive, and the projector at most `max_lag_events` behind.
std::string NotReady(const StatsSample& sample, std::uint64_t max_lag_events);

// The status page at /: the pipeline drawn as its processes (alive, pid, rate over (then, now]),
// seqs and lag, the hot cache's hit ratio, and each process's reply-latency histogram as SVG.
// Server-rendered HTML that reloads itself every second, with no outside assets. Each number
// that /metrics also serves carries data-metric="<series>" and data-value="<its value there>".
// `then` may be empty (taken_ns 0): no rates.
std::string RenderStatusPage(const StatsSample& then, const StatsSample& now, bool attached,
                             std::string_view data_dir);

// The processes that ran and are not alive now ("reader 1 (pid 4242)"), for `cqrs stats --check`.
std::vector<std::string> DownProcesses(const StatsSample& sample);

}  // namespace cqrs::cli
