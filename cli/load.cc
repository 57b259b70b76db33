// The load generator.
#include "cli/load.h"

#include <atomic>
#include <charconv>
#include <deque>
#include <random>
#include <thread>

#include "base/clock.h"
#include "client/client.h"

namespace cqrs::cli {
namespace {

struct Worker {
  std::atomic<std::uint64_t> completed{0};  // progress, all outcomes
  LoadReport report;
  Status status;
};

// An rmw whose write was acknowledged and whose read is still to be sent.
struct PendingRead {
  std::string key;
  std::uint64_t seq;
  std::uint64_t submitted_ns;
  std::uint64_t acked_ns;
  bool measured;
};

void Record(Worker* w, int op, bool measured, Code status, bool indeterminate,
            std::uint64_t latency_ns) {
  if (!measured) return;
  OpStats& s = w->report.ops[static_cast<std::size_t>(op)];
  if (status == Code::kOk) {
    ++s.ok;
    s.latency_ns.Record(latency_ns);
  } else if (indeterminate) {
    ++s.indeterminate;
  } else {
    ++s.failed;
  }
}

void RunWorker(const LoadOptions& o, zmq::context_t& context, std::uint32_t index,
               std::atomic<std::uint64_t>& issued, const std::atomic<bool>& stop,
               const std::atomic<bool>& measuring, Worker* w) {
  ClientOptions co;
  co.writer_endpoint = o.writer_endpoint;
  co.reader_endpoints = o.reader_endpoints;
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
  std::discrete_distribution<int> op_dist({static_cast<double>(o.mix[0]),
                                           static_cast<double>(o.mix[1]),
                                           static_cast<double>(o.mix[2])});
  CommandSpec put = Upsert(o.collection, "", {{"v", std::string(o.value_size, 'x')}});
  wire::GetQuery get{o.collection, ""};
  std::deque<PendingRead> reads;  // rmw reads to send
  std::size_t outstanding = 0;
  char key[32];
  auto next_key = [&] {
    int n =
        std::snprintf(key, sizeof key, "k%010llu", static_cast<unsigned long long>(key_dist(rng)));
    return std::string_view(key, static_cast<std::size_t>(n));
  };
  for (;;) {
    while (!reads.empty()) {  // the second half of rmw first: it is already in flight
      PendingRead r = std::move(reads.front());
      reads.pop_front();
      ReadOptions at;
      at.min_seq = r.seq;
      client.SubmitQuery(wire::GetQuery{o.collection, r.key}, at,
                         [w, r, &outstanding](const QueryResult& q) {
                           --outstanding;
                           w->completed.fetch_add(1, std::memory_order_relaxed);
                           std::uint64_t now = MonoNs();
                           bool ok = q.ok() && q.seq >= r.seq;
                           Code code = ok ? Code::kOk : (q.ok() ? Code::kInternal : q.status);
                           Record(w, kRmw, r.measured, code, false, now - r.submitted_ns);
                           Record(w, kVisible, r.measured, code, false, now - r.acked_ns);
                         });
    }
    while (outstanding < o.pipeline && !stop.load(std::memory_order_relaxed)) {
      if (o.requests > 0 && issued.fetch_add(1, std::memory_order_relaxed) >= o.requests) break;
      const int op = op_dist(rng);
      const std::uint64_t start = MonoNs();
      const bool measured = measuring.load(std::memory_order_relaxed);
      ++outstanding;
      if (op == kGet) {
        get.key.assign(next_key());
        ReadOptions any;
        any.min_seq = 0;
        client.SubmitQuery(get, any, [w, start, measured, &outstanding](const QueryResult& q) {
          --outstanding;
          w->completed.fetch_add(1, std::memory_order_relaxed);
          // An absent key is a complete answer for a read.
          Code code = q.status == Code::kNotFound ? Code::kOk : q.status;
          Record(w, kGet, measured, code, false, MonoNs() - start);
        });
        continue;
      }
      put.key.assign(next_key());
      std::string k = op == kRmw ? put.key : std::string();
      client.Submit({&put, 1}, [w, op, start, measured, k = std::move(k), &reads,
                                &outstanding](const CommandResult& r) {
        if (op == kRmw && r.ok()) {  // the read goes out from the loop (not from a callback)
          reads.push_back({k, r.seq, start, MonoNs(), measured});
          return;
        }
        --outstanding;
        w->completed.fetch_add(1, std::memory_order_relaxed);
        Record(w, op, measured, r.status, r.indeterminate, MonoNs() - start);
      });
    }
    if (outstanding == 0 &&
        (stop.load(std::memory_order_relaxed) ||
         (o.requests > 0 && issued.load(std::memory_order_relaxed) >= o.requests)))
      break;
    if (reads.empty()) client.Poll(std::chrono::milliseconds(50));
  }
}

}  // namespace

void OpStats::Merge(const OpStats& other) {
  ok += other.ok;
  failed += other.failed;
  indeterminate += other.indeterminate;
  latency_ns.Merge(other.latency_ns);
}

Result<std::array<std::uint32_t, 3>> ParseMix(std::string_view text) {
  std::array<std::uint32_t, 3> mix = {0, 0, 0};
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      return Error(Code::kInvalidArgument, "--mix part '{}' is not op=weight", part);
    std::string_view name = part.substr(0, eq), weight = part.substr(eq + 1);
    int op = -1;
    for (int i = 0; i < 3; ++i)
      if (name == kLoadOpNames[i]) op = i;
    if (op < 0) return Error(Code::kInvalidArgument, "--mix op '{}' is not put, get or rmw", name);
    std::uint32_t w = 0;
    auto [p, ec] = std::from_chars(weight.data(), weight.data() + weight.size(), w);
    if (ec != std::errc() || p != weight.data() + weight.size() || w > 1000000)
      return Error(Code::kInvalidArgument, "--mix weight '{}' of {} is not a number up to 1000000",
                   weight, name);
    mix[static_cast<std::size_t>(op)] = w;
  }
  if (mix[0] + mix[1] + mix[2] == 0)
    return Status(Code::kInvalidArgument, "--mix needs at least one weight above 0");
  return mix;
}

Status ValidateLoadOptions(const LoadOptions& o) {
  if (o.writer_endpoint.empty()) return Status(Code::kInvalidArgument, "--writer is empty");
  if ((o.mix[1] > 0 || o.mix[2] > 0) && o.reader_endpoints.empty())
    return Status(Code::kInvalidArgument, "--mix with get or rmw needs a --reader");
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
  if (o.mix[0] + o.mix[1] + o.mix[2] == 0)
    return Status(Code::kInvalidArgument, "--mix needs at least one weight above 0");
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
      progress(fmt::format("load: {:.1f}s {} done, {:.0f} ops/s{}", elapsed, count, rate,
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
    for (int op = 0; op < kLoadOps; ++op)
      report.ops[static_cast<std::size_t>(op)].Merge(w->report.ops[static_cast<std::size_t>(op)]);
  }
  return report;
}

std::string LoadReport::ToJson() const {
  std::string out = fmt::format("{{\"seconds\":{:.3f}", seconds);
  for (int op = 0; op < kLoadOps; ++op) {
    const OpStats& s = ops[static_cast<std::size_t>(op)];
    if (s.ok + s.failed + s.indeterminate == 0) continue;
    const Histogram& h = s.latency_ns;
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    out += fmt::format(
        ",\"{}\":{{\"ok\":{},\"failed\":{},\"indeterminate\":{},\"per_sec\":{:.1f},"
        "\"latency_us\":{{\"p50\":{:.1f},\"p90\":{:.1f},\"p99\":{:.1f},\"p999\":{:.1f},"
        "\"max\":{:.1f},\"mean\":{:.1f}}}}}",
        kLoadOpNames[op], s.ok, s.failed, s.indeterminate, throughput(op), us(h.Percentile(0.5)),
        us(h.Percentile(0.9)), us(h.Percentile(0.99)), us(h.Percentile(0.999)), us(h.max()),
        h.mean() / 1000.0);
  }
  return out + "}";
}

std::string LoadReport::ToText() const {
  std::string out = fmt::format("{:8} {:>10} {:>8} {:>6} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
                                "op", "ok", "failed", "indet", "per second", "p50 ms", "p90 ms",
                                "p99 ms", "p99.9 ms", "max ms");
  for (int op = 0; op < kLoadOps; ++op) {
    const OpStats& s = ops[static_cast<std::size_t>(op)];
    if (s.ok + s.failed + s.indeterminate == 0) continue;
    const Histogram& h = s.latency_ns;
    auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
    out += fmt::format(
        "{:8} {:>10} {:>8} {:>6} {:>12.0f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f}\n",
        kLoadOpNames[op], s.ok, s.failed, s.indeterminate, throughput(op), ms(h.Percentile(0.5)),
        ms(h.Percentile(0.9)), ms(h.Percentile(0.99)), ms(h.Percentile(0.999)), ms(h.max()));
  }
  out += fmt::format("measured over {:.2f} s", seconds);
  return out;
}

}  // namespace cqrs::cli
