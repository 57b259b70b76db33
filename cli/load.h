// `cqrs load`: a load generator in the manner of redis-benchmark and memtier_benchmark, for
// commands, queries and the round trip between them. `clients` connections, each keeping up to
// `pipeline` operations in flight, served by `threads` threads (each polls its connections with
// one zmq::poll, as redis-benchmark serves all its connections from one event loop). Each
// connection reads from one of the readers, round-robin over the connections. Operations:
//   put   an Upsert of a value of --value-size bytes
//   get   a Get of a key from any snapshot (min_seq 0): read throughput
//   scan  a Scan of --scan-limit entities from a key on, from any snapshot
//   rmw   an Upsert, then a Get with the ack's seq as min_seq; besides its own row it records
//         "visible": from the ack to the reader's answer (command-to-visible latency)
//   insert  an Upsert of a new key, keys + 0, 1, 2, ... (YCSB's insert)
//   modify  a Get, then an Upsert of the same key (YCSB's read-modify-write), timed together
// Keys are uniform or zipf (YCSB's generator, ranks scattered over the key space) in [0, keys),
// or latest (zipf over recency: the newest inserted key is the hottest, YCSB's workload D).
// --workload a..f sets YCSB's six core workloads' mixes and distributions (WorkloadPreset).
// Closed loop by default; with --rate, open loop at a fixed rate where each operation's latency
// counts from when it was due, not when it went out (no coordinated omission).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "base/histogram.h"
#include "base/status.h"
#include "security/keys.h"

namespace cqrs::cli {

enum LoadOp : int {
  kPut = 0,
  kGet = 1,
  kScan = 2,
  kRmw = 3,
  kFind = 4,
  kAgg = 5,
  kInsert = 6,
  kModify = 7,
  kVisible = 8
};
inline constexpr int kMixOps = 8;  // the ops --mix weighs; kVisible is rmw's second row
inline constexpr int kLoadOps = 9;
inline constexpr const char* kLoadOpNames[kLoadOps] = {"put", "get",    "scan",   "rmw",    "find",
                                                       "agg", "insert", "modify", "visible"};
using Mix = std::array<std::uint32_t, kMixOps>;

enum class KeyDistribution { kUniform, kZipf, kSequential, kLatest };

enum class LoadShape { kKv, kOrders };

struct LoadOptions {
  std::string writer_endpoint;
  std::vector<std::string> reader_endpoints;
  std::uint32_t clients = 4;
  std::uint32_t threads = 0;         // 0: min(clients, 2)
  std::uint32_t pipeline = 16;       // operations in flight per client
  std::uint32_t query_batch = 64;    // ClientOptions::max_query_batch (1: a frame per query)
  std::uint32_t command_batch = 64;  // ClientOptions::max_command_batch (1: a frame per request)
  std::uint64_t requests = 0;        // total operations; 0: run for `duration_s`
  double duration_s = 10;
  double warmup_s = 1;  // not measured
  double rate = 0;      // operations per second over all clients; 0: closed loop
  std::uint64_t keys = 1'000'000;
  KeyDistribution distribution = KeyDistribution::kUniform;
  double zipf_theta = 0.99;
  std::uint32_t value_size = 100;
  std::uint32_t scan_limit = 10;
  bool scan_length_uniform = false;  // each scan asks for 1..scan_limit entities (YCSB E)
  std::string collection = "load";
  // kv: one field `v` of `value_size` bytes. orders: `v` plus `status` (one of 5 strings),
  // `customer` (one of 10,000 strings) and `amount` (an int in 1..10,000), drawn per put:
  // data for the read models of examples/orders.toml.
  LoadShape shape = LoadShape::kKv;
  Mix mix = {100, 0, 0, 0, 0, 0};  // weights of put, get, scan, rmw, find, agg
  // find: a Find of `status` equal to one of the orders shape's 5 statuses, a page of
  // `scan_limit`; agg: the Aggregate named `aggregate` (orders shape: examples/orders.toml's).
  std::string aggregate = "by_status";
  security::ClientCurve curve;  // every connection as this principal (security on)
};

// "put=20,get=80" → weights; InvalidArgument naming the bad part.
Result<Mix> ParseMix(std::string_view text);
// "uniform" | "zipf" | "zipf:0.8" (theta in (0, 1)) | "sequential" into options.
Status ParseDistribution(std::string_view text, LoadOptions* options);
// "kv" | "orders" into options.shape.
Status ParseShape(std::string_view text, LoadOptions* options);

// YCSB's core workloads, as --mix and --distribution texts (records of 1,000 bytes, scans of
// 1..100): a 50/50 get/put zipf, b 95/5 get/put zipf, c get zipf, d 95/5 get/insert latest, e
// 95/5 scan/insert zipf, f 50/50 get/modify zipf.
struct WorkloadPreset {
  std::string_view mix;
  std::string_view distribution;
  std::uint32_t value_size = 1000;
  std::uint32_t scan_limit = 100;
  bool scan_length_uniform = false;
  std::string_view what;
};
Result<WorkloadPreset> YcsbWorkload(std::string_view name);

// Draws key numbers in [0, keys) (latest: in [0, keys + inserted)). Sequential: 0, 1, 2, ... across
// all threads, wrapping (to fill a key space: --requests K --keys K writes every key once). Zipf:
// rank r has probability 1/(r+1)^theta / zeta(keys); the hottest 1024 ranks are drawn exactly
// (inverse CDF by binary search), the tail with the closed form of Gray et al., "Quickly generating
// billion-record synthetic databases" (as YCSB does; it is approximate for small ranks). Rank r
// maps to key (r * P) mod keys for a prime P not dividing keys, so hot keys are spread over the
// space instead of sharing B-tree leaves. Immutable after construction: share one across threads.
class KeyChooser {
 public:
  // `inserted` (latest only): how many keys inserts added beyond `keys`, so far.
  KeyChooser(KeyDistribution distribution, std::uint64_t keys, double theta,
             const std::atomic<std::uint64_t>* inserted = nullptr);
  std::uint64_t Next(std::mt19937_64& rng) const;
  // The rank of a key (inverse of the scattering); for tests.
  std::uint64_t KeyOfRank(std::uint64_t rank) const;
  double RankProbability(std::uint64_t rank) const;  // zipf only

 private:
  KeyDistribution distribution_;
  std::uint64_t keys_;
  double theta_ = 0, zetan_ = 0, alpha_ = 0, eta_ = 0;
  std::vector<double> head_cdf_;                // P(rank <= i) for the hottest ranks
  mutable std::atomic<std::uint64_t> next_{0};  // sequential
  std::uint64_t scatter_ = 1;
  const std::atomic<std::uint64_t>* inserted_ = nullptr;
  std::uint64_t ZipfRank(std::mt19937_64& rng) const;
};

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
  double rate = 0;     // the requested rate (0: closed loop)
  double throughput(int op) const {
    return seconds > 0 ? static_cast<double>(ops[static_cast<std::size_t>(op)].ok) / seconds : 0;
  }
  // One JSON object: a row per op that ran; `settings` (a JSON object, LoadSettingsJson) and
  // the version are added when given.
  std::string ToJson(std::string_view settings = {}) const;
  // A table: per op ok, failed, indeterminate, per second, then min, p50, p90, p95, p99, p99.9,
  // p99.99 and max latency in ms.
  std::string ToText() const;
  // The same as CSV: a header line, then a line per op that ran (latencies in µs).
  std::string ToCsv() const;
  // HdrHistogram's percentile distribution text ("hgrm", what its plotters read) of one op's
  // latencies, in ms; empty if the op did not run.
  std::string Hgrm(int op) const;
};

// A run's settings as a JSON object: what to compare two runs by.
std::string LoadSettingsJson(const LoadOptions& o, std::string_view mix,
                             std::string_view distribution, std::string_view shape);

// Checks the options; InvalidArgument naming the flag.
Status ValidateLoadOptions(const LoadOptions& options);

// Runs the load; `progress` (may be empty) gets a line about once a second.
Result<LoadReport> RunLoad(const LoadOptions& options,
                           const std::function<void(const std::string&)>& progress);

}  // namespace cqrs::cli
