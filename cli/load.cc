// The write-path load generator.
#include "cli/load.h"

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "client/client.h"

namespace cqrs::cli {
namespace {

struct Worker {
  std::atomic<std::uint64_t> completed{0};  // progress, all outcomes
  LoadReport report;
  Status status;
};

void RunWorker(const LoadOptions& o, zmq::context_t& context, std::uint32_t index,
               std::atomic<std::uint64_t>& issued, const std::atomic<bool>& stop,
               const std::atomic<bool>& measuring, Worker* w) {
  ClientOptions co;
  co.writer_endpoint = o.writer_endpoint;
  co.window = o.pipeline;
  co.attempt_timeout = std::chrono::milliseconds(2000);
  auto connected = Client::Connect(co, &context);
  if (!connected.ok()) {
    w->status = connected.status();
    return;
  }
  Client& client = *connected.value();
  std::mt19937_64 rng(0x9E3779B97F4A7C15ull * (index + 1));
  std::uniform_int_distribution<std::uint64_t> key_dist(0, o.keys - 1);
  CommandSpec spec = Upsert(o.collection, "", {{"v", std::string(o.value_size, 'x')}});
  char key[32];
  for (;;) {
    while (client.in_flight() < o.pipeline && !stop.load(std::memory_order_relaxed)) {
      if (o.requests > 0 && issued.fetch_add(1, std::memory_order_relaxed) >= o.requests) break;
      int n = std::snprintf(key, sizeof key, "k%010llu",
                            static_cast<unsigned long long>(key_dist(rng)));
      spec.key.assign(key, static_cast<std::size_t>(n));
      std::uint64_t start = MonoNs();
      bool measured = measuring.load(std::memory_order_relaxed);
      client.Submit({&spec, 1}, [w, start, measured](const CommandResult& r) {
        w->completed.fetch_add(1, std::memory_order_relaxed);
        if (!measured) return;
        if (r.ok()) {
          ++w->report.ok;
          w->report.latency_ns.Record(MonoNs() - start);
        } else if (r.indeterminate) {
          ++w->report.indeterminate;
        } else {
          ++w->report.failed;
        }
      });
    }
    if (client.in_flight() == 0 &&
        (stop.load(std::memory_order_relaxed) ||
         (o.requests > 0 && issued.load(std::memory_order_relaxed) >= o.requests)))
      break;
    client.Poll(std::chrono::milliseconds(50));
  }
}

}  // namespace

Status ValidateLoadOptions(const LoadOptions& o) {
  if (o.writer_endpoint.empty()) return Status(Code::kInvalidArgument, "--writer is empty");
  if (o.clients < 1 || o.clients > 1024)
    return Status(Code::kInvalidArgument, "--clients must be in 1..1024");
  if (o.pipeline < 1 || o.pipeline > 4096)
    return Status(Code::kInvalidArgument, "--pipeline must be in 1..4096");
  if (o.requests == 0 && !(o.duration_s > 0))
    return Status(Code::kInvalidArgument, "--duration must be positive (or give --requests)");
  if (o.warmup_s < 0) return Status(Code::kInvalidArgument, "--warmup must not be negative");
  if (o.keys < 1) return Status(Code::kInvalidArgument, "--keys must be at least 1");
  if (o.value_size > 60000)
    return Status(Code::kInvalidArgument,
                  "--value-size must be at most 60000 (entities are at most 64 KiB)");
  return OkStatus();
}

Result<LoadReport> RunLoad(const LoadOptions& o,
                           const std::function<void(const std::string&)>& progress) {
  CQRS_RETURN_IF_ERROR(ValidateLoadOptions(o));
  zmq::context_t context(1);
  std::atomic<std::uint64_t> issued{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> measuring{o.warmup_s <= 0};
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  for (std::uint32_t i = 0; i < o.clients; ++i) {
    workers.push_back(std::make_unique<Worker>());
    threads.emplace_back(RunWorker, std::cref(o), std::ref(context), i, std::ref(issued),
                         std::cref(stop), std::cref(measuring), workers.back().get());
  }
  auto total_completed = [&] {
    std::uint64_t n = 0;
    for (auto& w : workers) n += w->completed.load(std::memory_order_relaxed);
    return n;
  };
  const std::uint64_t start = MonoNs();
  std::uint64_t measure_start = measuring ? start : 0;
  std::uint64_t last_report = start, last_count = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::uint64_t now = MonoNs();
    double elapsed = static_cast<double>(now - start) / 1e9;
    if (!measuring && elapsed >= o.warmup_s) {
      measuring = true;
      measure_start = now;
    }
    bool done = o.requests > 0 ? issued.load() >= o.requests : elapsed >= o.warmup_s + o.duration_s;
    if (done) stop = true;
    if (progress && (now - last_report >= 1'000'000'000 || done)) {
      std::uint64_t count = total_completed();
      double rate =
          static_cast<double>(count - last_count) / (static_cast<double>(now - last_report) / 1e9);
      progress(fmt::format("load: {:.1f}s {} done, {:.0f} req/s{}", elapsed, count, rate,
                           measuring ? "" : " (warm-up)"));
      last_report = now;
      last_count = count;
    }
    if (done) break;
  }
  for (auto& t : threads) t.join();
  LoadReport report;
  report.seconds = static_cast<double>(MonoNs() - (measure_start ? measure_start : start)) / 1e9;
  for (auto& w : workers) {
    CQRS_RETURN_IF_ERROR(w->status);
    report.ok += w->report.ok;
    report.failed += w->report.failed;
    report.indeterminate += w->report.indeterminate;
    report.latency_ns.Merge(w->report.latency_ns);
  }
  return report;
}

std::string LoadReport::ToJson() const {
  const Histogram& h = latency_ns;
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  return fmt::format(
      "{{\"ok\":{},\"failed\":{},\"indeterminate\":{},\"seconds\":{:.3f},\"requests_per_sec\":{:."
      "1f},"
      "\"latency_us\":{{\"p50\":{:.1f},\"p90\":{:.1f},\"p99\":{:.1f},\"p999\":{:.1f},\"max\":{:.1f}"
      ","
      "\"mean\":{:.1f}}}}}",
      ok, failed, indeterminate, seconds, throughput(), us(h.Percentile(0.5)),
      us(h.Percentile(0.9)), us(h.Percentile(0.99)), us(h.Percentile(0.999)), us(h.max()),
      h.mean() / 1000.0);
}

std::string LoadReport::ToText() const {
  const Histogram& h = latency_ns;
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  return fmt::format(
      "put: {} ok, {} failed, {} indeterminate in {:.2f} s: {:.0f} requests/s\n"
      "latency ms: p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}",
      ok, failed, indeterminate, seconds, throughput(), ms(h.Percentile(0.5)),
      ms(h.Percentile(0.9)), ms(h.Percentile(0.99)), ms(h.Percentile(0.999)), ms(h.max()));
}

}  // namespace cqrs::cli
