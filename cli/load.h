// `cqrs load`: a closed-loop load generator for the write path (redis-benchmark's role):
// N clients, each keeping `pipeline` requests in flight, upserting values of a given size into
// a key space; throughput and latency percentiles at the end.
// TODO(#4): reads, mixes, zipf keys, fixed-rate mode with coordinated-omission correction.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/histogram.h"
#include "base/status.h"

namespace cqrs::cli {

struct LoadOptions {
  std::string writer_endpoint;
  std::uint32_t clients = 4;
  std::uint32_t pipeline = 16;  // requests in flight per client
  std::uint64_t requests = 0;   // total; 0: run for `duration_s`
  double duration_s = 10;
  double warmup_s = 1;  // not measured
  std::uint64_t keys = 1'000'000;
  std::uint32_t value_size = 100;
  std::string collection = "load";
};

struct LoadReport {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;  // definite failures (statuses other than Ok)
  std::uint64_t indeterminate = 0;
  double seconds = 0;    // measured interval
  Histogram latency_ns;  // submit → reply, Ok requests in the measured interval
  double throughput() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
  std::string ToJson() const;
  std::string ToText() const;
};

// Checks the options; InvalidArgument naming the flag.
Status ValidateLoadOptions(const LoadOptions& options);

// Runs the load; `progress` (may be empty) gets a line about once a second.
Result<LoadReport> RunLoad(const LoadOptions& options,
                           const std::function<void(const std::string&)>& progress);

}  // namespace cqrs::cli
