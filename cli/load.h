// `cqrs load`: a closed-loop load generator (redis-benchmark's role). N clients, each keeping
// `pipeline` operations in flight over a key space, with a mix of operations:
//   put  an Upsert of a value of --value-size bytes
//   get  a Get of a random key from any snapshot (min_seq 0): read throughput
//   rmw  an Upsert, then a Get with the ack's seq as min_seq; besides its own row it records
//        "visible": from the ack to the reader's answer (command-to-visible latency)
// Latency per operation from submit to reply, throughput, percentiles; --json for machines.
// TODO(#4): scan, zipf keys, fixed-rate mode with coordinated-omission correction.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/histogram.h"
#include "base/status.h"

namespace cqrs::cli {

enum LoadOp : int { kPut = 0, kGet = 1, kRmw = 2, kVisible = 3 };
inline constexpr int kLoadOps = 4;
inline constexpr const char* kLoadOpNames[kLoadOps] = {"put", "get", "rmw", "visible"};

struct LoadOptions {
  std::string writer_endpoint;
  std::vector<std::string> reader_endpoints;
  std::uint32_t clients = 4;
  std::uint32_t pipeline = 16;  // operations in flight per client
  std::uint64_t requests = 0;   // total operations; 0: run for `duration_s`
  double duration_s = 10;
  double warmup_s = 1;  // not measured
  std::uint64_t keys = 1'000'000;
  std::uint32_t value_size = 100;
  std::string collection = "load";
  std::array<std::uint32_t, 3> mix = {100, 0, 0};  // weights of put, get, rmw
};

// "put=20,get=80" → weights; InvalidArgument naming the bad part.
Result<std::array<std::uint32_t, 3>> ParseMix(std::string_view text);

struct OpStats {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;         // definite failures
  std::uint64_t indeterminate = 0;  // no definite reply before the deadline
  Histogram latency_ns;
  void Merge(const OpStats& other);
};

struct LoadReport {
  std::array<OpStats, kLoadOps> ops;
  double seconds = 0;  // the measured interval
  double throughput(int op) const {
    return seconds > 0 ? static_cast<double>(ops[static_cast<std::size_t>(op)].ok) / seconds : 0;
  }
  std::string ToJson() const;
  std::string ToText() const;
};

// Checks the options; InvalidArgument naming the flag.
Status ValidateLoadOptions(const LoadOptions& options);

// Runs the load; `progress` (may be empty) gets a line about once a second.
Result<LoadReport> RunLoad(const LoadOptions& options,
                           const std::function<void(const std::string&)>& progress);

}  // namespace cqrs::cli
