// cqrs up (the whole pipeline), cqrs rebuild (asks the projector for a fresh read store),
// cqrs stats (the control block) and cqrs load (a load generator).
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "base/clock.h"
#include "base/config.h"
#include "base/files.h"
#include "base/signals.h"
#include "cli/commands.h"
#include "cli/load.h"
#include "cli/log_summary.h"
#include "cli/metrics.h"
#include "cli/stats.h"
#include "cli/supervisor.h"
#include "shm/control_block.h"
#include "store/write_store_migrate.h"

namespace cqrs::cli {

std::optional<Config> ConfigOrComplain(const CommonFlags& common, const char* command) {
  auto config = ResolveConfig(common);
  if (config.ok()) return std::move(config).value();
  std::fprintf(stderr, "cqrs %s: %s\n", command, config.status().message().c_str());
  return std::nullopt;
}

namespace {

struct UpCommand {
  CommonFlags common;
  std::optional<std::uint32_t> readers;
  std::string bin_dir;
  bool quiet = false;
  bool replica = false;
  std::string nats, stream;
  std::string metrics;  // --metrics HOST:PORT
};

int RunUp(const UpCommand& c) {
  std::optional<Config> config = ConfigOrComplain(c.common, "up");
  if (!config) return 2;
  SupervisorOptions o;
  if (!c.nats.empty()) o.nats_pass.insert(o.nats_pass.end(), {"--nats", c.nats});
  if (!c.stream.empty()) o.nats_pass.insert(o.nats_pass.end(), {"--stream", c.stream});
  // A replica host needs the stream's servers; a primary mirrors only when they are named.
  if (Status s = ApplyNatsFlags(c.nats, c.stream, c.replica, &*config); !s.ok()) {
    std::fprintf(stderr, "cqrs up: %s%s\n", c.replica ? "--replica: " : "", s.message().c_str());
    return 2;
  }
  if (!c.metrics.empty()) {
    std::string host;
    int port = 0;
    if (Status s = ParseListenAddress(c.metrics, "--metrics", &host, &port); !s.ok()) {
      std::fprintf(stderr, "cqrs up: %s\n", s.message().c_str());
      return 2;
    }
    config->metrics.listen = c.metrics;
  }
  o.replica = c.replica;
  o.bin_dir = c.bin_dir.empty() ? Supervisor::SelfDirectory() : c.bin_dir;
  o.readers = c.readers.value_or(config->ReaderCount());
  if (o.readers < 1 || o.readers > 56) {
    std::fprintf(stderr, "cqrs up: --readers must be in 1..56\n");
    return 2;
  }
  o.status_line = !c.quiet;
  if (!c.common.config_file.empty())
    o.pass.insert(o.pass.end(), {"--config", c.common.config_file});
  o.pass.insert(o.pass.end(),
                {"--data", config->data_dir, "--base-port", std::to_string(config->base_port),
                 "--log-level", config->log_level});
  // One `cqrs up` per data directory: a second one's children would fight the first's.
  auto lock = InstanceLock::Acquire(config->data_dir, "supervisor");
  if (!lock.ok()) {
    std::fprintf(stderr, "cqrs up: %s\n", lock.status().message().c_str());
    return 1;
  }
  const std::atomic<bool>& stop = InstallStopSignals();
  Supervisor supervisor(std::move(config).value(), std::move(o));
  return supervisor.Run(stop);
}

struct LoadCommand {
  CommonFlags common;
  std::string writer;
  std::vector<std::string> readers;
  std::string mix = "put=100";
  std::string distribution = "uniform";
  std::string shape = "kv";
  std::string workload;
  bool value_size_set = false, scan_limit_set = false;
  LoadOptions options;
  bool json = false;
  bool csv = false;
  std::string hgrm;
  CurveFlags curve;
};

// --hgrm FILE: one op's distribution in FILE; several ops', each in FILE with "-<op>" before its
// extension (load.hgrm → load-put.hgrm, load-get.hgrm).
Status WriteHgrm(const LoadReport& report, const std::string& file) {
  std::vector<int> ran;
  for (int op = 0; op < kLoadOps; ++op)
    if (report.ops[static_cast<std::size_t>(op)].latency_ns.count() > 0) ran.push_back(op);
  const std::filesystem::path path(file);
  for (int op : ran) {
    std::filesystem::path out = path;
    if (ran.size() > 1)
      out.replace_filename(path.stem().string() + "-" + kLoadOpNames[op] +
                           path.extension().string());
    std::ofstream f(out);
    f << report.Hgrm(op);
    if (!f.flush())
      return Error(Code::kUnavailable, "--hgrm: cannot write {}: {}", out.string(),
                   std::strerror(errno));
  }
  return OkStatus();
}

int RunLoadCommand(LoadCommand& c) {
  std::optional<Config> config = ConfigOrComplain(c.common, "load");
  if (!config) return 2;
  c.options.writer_endpoint = c.writer.empty() ? config->WriterEndpoint() : c.writer;
  c.options.reader_endpoints = c.readers.empty() ? config->ReaderEndpoints() : c.readers;
  auto curve = c.curve.Load();
  if (!curve.ok()) {
    std::fprintf(stderr, "cqrs load: %s\n", curve.status().message().c_str());
    return 2;
  }
  c.options.curve = std::move(curve).value();
  if (!c.workload.empty()) {
    auto preset = YcsbWorkload(c.workload);
    if (!preset.ok()) {
      std::fprintf(stderr, "cqrs load: %s\n", preset.status().message().c_str());
      return 2;
    }
    c.mix = preset->mix;
    c.distribution = preset->distribution;
    c.options.scan_length_uniform = preset->scan_length_uniform;
    if (!c.value_size_set) c.options.value_size = preset->value_size;
    if (!c.scan_limit_set) c.options.scan_limit = preset->scan_limit;
    std::fprintf(stderr, "cqrs load: YCSB workload %s (%s): --mix %s --distribution %s\n",
                 c.workload.c_str(), std::string(preset->what).c_str(), c.mix.c_str(),
                 c.distribution.c_str());
  }
  auto mix = ParseMix(c.mix);
  if (!mix.ok()) {
    std::fprintf(stderr, "cqrs load: %s\n", mix.status().message().c_str());
    return 2;
  }
  c.options.mix = mix.value();
  for (Status s : {ParseDistribution(c.distribution, &c.options), ParseShape(c.shape, &c.options)})
    if (!s.ok()) {
      std::fprintf(stderr, "cqrs load: %s\n", s.message().c_str());
      return 2;
    }
  auto report = RunLoad(
      c.options, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
  if (!report.ok()) {
    std::fprintf(stderr, "cqrs load: %s\n", report.status().message().c_str());
    return report.status().code() == Code::kInvalidArgument ? 2 : 1;
  }
  if (c.json)
    std::cout << report->ToJson(LoadSettingsJson(c.options, c.mix, c.distribution, c.shape))
              << std::endl;
  else
    std::cout << (c.csv ? report->ToCsv() : report->ToText() + "\n") << std::flush;
  if (!c.hgrm.empty()) {
    Status written = WriteHgrm(*report, c.hgrm);
    if (!written.ok()) {
      std::fprintf(stderr, "cqrs load: %s\n", written.message().c_str());
      return 1;
    }
  }
  // A run with any operation that failed or stayed indeterminate is not a clean measurement.
  std::uint64_t failed = 0, indeterminate = 0;
  for (const OpStats& op : report->ops) failed += op.failed, indeterminate += op.indeterminate;
  if (failed + indeterminate == 0) return 0;
  std::fprintf(stderr, "cqrs load: %llu operations failed, %llu indeterminate\n",
               static_cast<unsigned long long>(failed),
               static_cast<unsigned long long>(indeterminate));
  return 1;
}

struct MigrateCommand {
  CommonFlags common;
};

int RunMigrate(const MigrateCommand& c) {
  std::optional<Config> config = ConfigOrComplain(c.common, "migrate");
  if (!config) return 2;
  // The pipeline must be stopped: hold the roles that open the write store.
  std::vector<InstanceLock> locks;
  for (const char* role : {"supervisor", "writer", "projector"}) {
    auto lock = InstanceLock::Acquire(config->data_dir, role);
    if (!lock.ok()) {
      std::fprintf(stderr, "cqrs migrate: %s; stop the pipeline first\n",
                   lock.status().message().c_str());
      return 1;
    }
    locks.push_back(std::move(lock).value());
  }
  std::fprintf(stderr, "cqrs migrate: copying %s/write (format 1) into the current format\n",
               config->data_dir.c_str());
  auto migrated = store::MigrateWriteStoreFormat1(config->data_dir, [](std::uint64_t events) {
    std::fprintf(stderr, "cqrs migrate: %llu events copied\n",
                 static_cast<unsigned long long>(events));
  });
  if (!migrated.ok()) {
    std::fprintf(stderr, "cqrs migrate: %s\n", migrated.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "migrated %llu events, %llu clients with %llu remembered replies; the format-1 store is "
      "kept at %s (remove it once the pipeline runs); the writer rebuilds its entity state from "
      "the log when it starts\n",
      static_cast<unsigned long long>(migrated->events),
      static_cast<unsigned long long>(migrated->clients),
      static_cast<unsigned long long>(migrated->replies), migrated->kept.c_str());
  return 0;
}

struct RebuildCommand {
  CommonFlags common;
  double timeout_s = 0;
};

int RunRebuild(const RebuildCommand& c) {
  std::optional<Config> config = ConfigOrComplain(c.common, "rebuild");
  if (!config) return 2;
  auto control = shm::ControlBlock::Attach(config->data_dir, config->cache.slots);
  if (!control.ok()) {
    std::fprintf(stderr, "cqrs rebuild: %s\n", control.status().message().c_str());
    return 1;
  }
  // Alive: a heartbeat within 2 s, or a live pid behind one within 30 s (the projector beats
  // between transactions; a long catch-up, a sanitizer build or a busy machine stretch that).
  auto projector_alive = [&] {
    if (control->BeatWithin(shm::kProjectorSlot, 2'000'000'000ull)) return true;
    auto pid = static_cast<pid_t>(control->slot(shm::kProjectorSlot).pid.load());
    return pid > 0 && kill(pid, 0) == 0 &&
           control->BeatWithin(shm::kProjectorSlot, 30'000'000'000ull);
  };
  if (!projector_alive()) {
    std::fprintf(stderr,
                 "cqrs rebuild: no projector is running on %s: start the pipeline (cqrs up), "
                 "then rebuild; or, with everything stopped, remove %s/read and start it\n",
                 config->data_dir.c_str(), config->data_dir.c_str());
    return 1;
  }
  shm::Seqs& seqs = control->seqs();
  const std::uint64_t request = seqs.rebuild_requests.fetch_add(1) + 1;
  const std::atomic<bool>& stop = InstallStopSignals();
  const bool tty = isatty(STDERR_FILENO) != 0;
  const std::uint64_t begin = MonoNs();
  std::uint64_t last_line = 0;
  while (seqs.rebuilds_done.load(std::memory_order_acquire) < request) {
    if (stop.load()) {
      std::fprintf(stderr, "\ncqrs rebuild: interrupted; the projector finishes the rebuild\n");
      return 1;
    }
    if (!projector_alive()) {
      std::fprintf(stderr,
                   "\ncqrs rebuild: the projector stopped; it resumes the rebuild when it "
                   "restarts\n");
      return 1;
    }
    if (c.timeout_s > 0 && static_cast<double>(MonoNs() - begin) / 1e9 > c.timeout_s) {
      std::fprintf(stderr, "\ncqrs rebuild: not switched within %.0f s\n", c.timeout_s);
      return 3;
    }
    const std::uint64_t now = MonoNs();
    if (now - last_line >= (tty ? 200'000'000ull : 1'000'000'000ull)) {
      last_line = now;
      const std::uint64_t target = seqs.rebuild_target_seq.load(std::memory_order_acquire);
      const std::uint64_t applied = seqs.rebuild_applied_seq.load(std::memory_order_relaxed);
      const std::uint64_t started = seqs.rebuild_started_ns.load(std::memory_order_relaxed);
      const double seconds = started ? static_cast<double>(WallNs() - started) / 1e9 : 0;
      const double rate = seconds > 0 ? static_cast<double>(applied) / seconds : 0;
      std::string line =
          target == 0
              ? std::string("rebuild: waiting for the projector to start")
              : fmt::format(
                    "rebuild: {}/{} events ({:.1f} %), {:.0f} events/s, ETA {:.1f} s", applied,
                    target, 100.0 * static_cast<double>(applied) / static_cast<double>(target),
                    rate,
                    rate > 0 ? static_cast<double>(target - std::min(applied, target)) / rate
                             : 0.0);
      std::fprintf(stderr, tty ? "\r%-78s" : "%s\n", line.c_str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (tty) std::fputc('\n', stderr);
  std::printf("{\"status\":\"Ok\",\"generation\":%llu,\"seconds\":%.2f}\n",
              static_cast<unsigned long long>(seqs.read_generation.load()),
              static_cast<double>(MonoNs() - begin) / 1e9);
  return 0;
}

struct StatsCommand {
  CommonFlags common;
  bool remove = false;
  bool check = false;
  bool watch = false;
  bool json = false;
  double interval_s = 1;
};

int RunStats(const StatsCommand& c) {
  std::optional<Config> config = ConfigOrComplain(c.common, "stats");
  if (!config) return 2;
  if (!(c.interval_s >= 0.05 && c.interval_s <= 3600)) {
    std::fprintf(stderr, "cqrs stats: --interval must be in 0.05..3600 seconds\n");
    return 2;
  }
  const std::string segment = shm::ControlBlock::SegmentName(config->data_dir);
  if (!shm::ControlBlock::Exists(config->data_dir)) {
    std::fprintf(stderr,
                 "cqrs stats: no shared memory for %s (/dev/shm/%s): the pipeline is not running "
                 "(a clean stop removes it) and was not killed since the machine started\n",
                 config->data_dir.c_str(), segment.c_str());
    return 1;
  }
  auto control = shm::ControlBlock::Attach(config->data_dir, config->cache.slots);
  if (!control.ok()) {
    std::fprintf(stderr, "cqrs stats: %s\n", control.status().message().c_str());
    return 1;
  }
  if (c.remove) {
    std::string alive;
    for (const ProcessSample& p : TakeSample(control.value()).processes)
      if (p.alive) alive += fmt::format(" {} (pid {})", p.role, p.pid);
    if (!alive.empty()) {
      std::fprintf(stderr, "cqrs stats: not removing %s: alive:%s\n", segment.c_str(),
                   alive.c_str());
      return 1;
    }
    shm::ControlBlock::Remove(config->data_dir);
    std::printf("removed /dev/shm/%s\n", segment.c_str());
    return 0;
  }
  if (c.check) {
    const StatsSample sample = TakeSample(control.value());
    const std::vector<std::string> down = DownProcesses(sample);
    for (const std::string& p : down) std::printf("down: %s\n", p.c_str());
    if (down.empty()) std::printf("all %zu processes alive\n", sample.processes.size());
    return down.empty() ? 0 : 1;
  }
  // The log's retention (first seq, size, floor) comes from the store, not the control block.
  store::WriteStoreOptions log_options;
  log_options.dir = (std::filesystem::path(config->data_dir) / "write").string();
  log_options.read_only = true;
  log_options.max_map_size = config->writer.max_map_size_mb << 20;
  auto log = store::WriteStore::Open(log_options);
  auto log_summary = [&]() -> std::optional<LogSummary> {
    if (!log.ok()) return std::nullopt;
    auto s = SummarizeLog(*log.value(), config.value());
    if (!s.ok()) return std::nullopt;
    return std::move(s).value();
  };
  const std::atomic<bool>& stop = InstallStopSignals();
  const auto interval = std::chrono::duration<double>(c.interval_s);
  StatsSample then = TakeSample(control.value());
  do {
    // Sleep in short steps so Ctrl-C ends at once.
    const auto until = std::chrono::steady_clock::now() + interval;
    while (!stop.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (stop.load()) break;
    StatsSample now = TakeSample(control.value());
    const std::optional<LogSummary> summary = log_summary();
    if (c.json) {
      std::string json = RenderStatsJson(then, now, segment);
      if (summary) json.insert(json.size() - 1, ",\"log\":" + RenderLogJson(*summary, config->log));
      std::printf("%s\n", json.c_str());
    } else {
      if (c.watch && isatty(STDOUT_FILENO)) std::printf("\033[H\033[2J");  // redraw in place
      std::printf("%s%s%s", RenderStatsText(then, now, segment).c_str(),
                  summary ? RenderLogText(*summary, config->log).c_str() : "", c.watch ? "\n" : "");
    }
    std::fflush(stdout);
    then = std::move(now);
  } while (c.watch);
  return 0;
}

}  // namespace

void AddStatsCommand(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<StatsCommand>();
  CLI::App* cmd = app.add_subcommand(
      "stats",
      "what the shared-memory control block says: seqs and lag, each process's liveness, rates "
      "and latency, the hot cache's hit ratio (rates over --interval)");
  AddCommonFlags(*cmd, &c->common);
  cmd->add_flag("--watch", c->watch, "print again every --interval until Ctrl-C");
  cmd->add_flag("--remove", c->remove,
                "remove the segment (counters, cache) when no process of it is alive; the next "
                "process to start lays out a new one (e.g. with another [cache] slots)");
  cmd->add_flag("--json", c->json, "one line of JSON per sample");
  cmd->add_flag("--check", c->check,
                "exit 1, naming each, when a process that ran is down (0: all alive)");
  cmd->add_option("--interval", c->interval_s, "seconds between the two samples of a rate")
      ->capture_default_str();
  cmd->callback([c, exit_code] { *exit_code = RunStats(*c); });
}

void AddMigrateCommand(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<MigrateCommand>();
  CLI::App* cmd = app.add_subcommand(
      "migrate",
      "convert a write store of format 1 (one LMDB environment, before 2026-12) to the current "
      "format, keeping every event and the store id; run with the pipeline stopped");
  AddCommonFlags(*cmd, &c->common);
  cmd->callback([c, exit_code] { *exit_code = RunMigrate(*c); });
}

void AddRebuildCommand(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<RebuildCommand>();
  CLI::App* cmd = app.add_subcommand(
      "rebuild",
      "rebuild the read store from the event log while the pipeline keeps serving: the running "
      "projector builds a fresh one, catches it up, and switches it in for itself and the "
      "readers (progress on stderr)");
  AddCommonFlags(*cmd, &c->common);
  cmd->add_option("--timeout", c->timeout_s, "give up waiting after this many seconds (0: never)");
  cmd->callback([c, exit_code] { *exit_code = RunRebuild(*c); });
}

void AddUpCommand(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<UpCommand>();
  CLI::App* up = app.add_subcommand(
      "up",
      "start writer, projector and readers (with --replica: replica, projector and readers); "
      "restart any that dies; Ctrl-C stops all");
  AddCommonFlags(*up, &c->common);
  up->add_option("--readers", c->readers, "reader processes (default: config reader.count, 2)");
  up->add_option("--bin-dir", c->bin_dir, "where the cqrs-* binaries are (default: next to cqrs)");
  up->add_flag("--quiet", c->quiet, "no status line");
  up->add_flag("--replica", c->replica,
               "a read replica host: copy the event log from NATS (cqrs-replica) and serve it "
               "with a projector and readers; no writer");
  up->add_option("--nats", c->nats,
                 "NATS servers, comma-separated (overrides [mirror] nats; with --replica: the "
                 "stream's servers)");
  up->add_option("--stream", c->stream, "the NATS stream (overrides [mirror] stream)");
  up->add_option("--metrics", c->metrics,
                 "serve Prometheus /metrics, /healthz and /readyz on HOST:PORT (cqrs metrics; "
                 "overrides [metrics] listen)");
  up->callback([c, exit_code] { *exit_code = RunUp(*c); });
}

void AddLoadCommand(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<LoadCommand>();
  CLI::App* cmd = app.add_subcommand(
      "load",
      "load generator: N pipelined clients running a mix of put, get, scan, rmw, find and agg "
      "(read-your-write); closed loop, or open loop with --rate");
  AddCommonFlags(*cmd, &c->common);
  LoadOptions& o = c->options;
  cmd->add_option("--writer", c->writer, "writer endpoint (default from --config / --base-port)");
  cmd->add_option("--reader,--readers", c->readers,
                  "reader endpoints, repeatable or comma-separated (default: configured)")
      ->delimiter(',');
  c->curve.Add(*cmd);
  cmd->add_option("--mix", c->mix,
                  "weights: put (Upsert), get (Get from any snapshot), scan (a page of "
                  "--scan-limit from a key), rmw (Upsert, then Get at its seq; adds the "
                  "command-to-visible row), find (a Find of status = one of the orders shape's, a "
                  "page of --scan-limit), agg (the Aggregate --aggregate), insert (Upsert of a new "
                  "key past --keys), modify (Get, then Upsert of that key), e.g. put=20,get=80")
      ->capture_default_str();
  auto* workload = cmd->add_option(
      "--workload", c->workload,
      "YCSB's core workload a..f: a get=50,put=50 zipf; b get=95,put=5 zipf; c get=100 zipf; d "
      "get=95,insert=5 latest; e scan=95,insert=5 zipf, scans of 1..100; f get=50,modify=50 "
      "zipf; values of 1000 bytes unless --value-size (load the keys first: docs/BENCHMARKS.md)");
  cmd->add_option("--aggregate", o.aggregate, "the aggregate an agg asks for")
      ->capture_default_str();
  cmd->add_option("--clients", o.clients, "connections, each with its own client id")
      ->capture_default_str();
  cmd->add_option("--threads", o.threads,
                  "threads serving the connections (default: min(clients, 2))");
  cmd->add_option("--pipeline", o.pipeline, "operations in flight per connection")
      ->capture_default_str();
  cmd->add_option("--query-batch", o.query_batch,
                  "queries per frame at most when several are queued (the client's own "
                  "coalescing; 1: a frame per query, to measure what batching gains)")
      ->capture_default_str();
  cmd->add_option("--command-batch", o.command_batch,
                  "requests per frame at most when several are queued (the client's own "
                  "coalescing; 1: a frame per request, to measure what batching gains)")
      ->capture_default_str();
  cmd->add_option("--requests", o.requests, "total operations (default: run for --duration)");
  cmd->add_option("--duration", o.duration_s, "seconds to measure")->capture_default_str();
  cmd->add_option("--warmup", o.warmup_s, "seconds before measuring")->capture_default_str();
  cmd->add_option("--rate", o.rate,
                  "open loop: operations per second over all connections, latency counted from "
                  "when each was due (0: closed loop)")
      ->capture_default_str();
  cmd->add_option("--keys", o.keys, "key space: keys k0000000000..")->capture_default_str();
  cmd->add_option(
         "--distribution", c->distribution,
         "uniform, zipf (theta 0.99), zipf:THETA (theta in (0, 1)), latest (zipf over recency: "
         "the newest inserted key is hottest), or sequential (each key in turn: --requests K "
         "--keys K fills the key space)")
      ->capture_default_str()
      ->excludes(workload);
  workload->excludes("--mix");
  cmd->add_option("--value-size", o.value_size, "bytes per value")
      ->capture_default_str()
      ->each([c](const std::string&) { c->value_size_set = true; });
  cmd->add_option("--scan-limit", o.scan_limit, "entities per scan")
      ->capture_default_str()
      ->each([c](const std::string&) { c->scan_limit_set = true; });
  cmd->add_option("--collection", o.collection, "collection to use")->capture_default_str();
  cmd->add_option("--shape", c->shape,
                  "what a put writes: kv (one field v of --value-size bytes) or orders (v plus "
                  "status, customer and amount drawn per put, for examples/orders.toml)")
      ->capture_default_str();
  cmd->add_flag("--json", c->json,
                "print the result as one line of JSON, with the run's settings and the version");
  cmd->add_flag("--csv", c->csv, "print the result as CSV (a header, a line per op)")
      ->excludes("--json");
  cmd->add_option("--hgrm", c->hgrm,
                  "write each op's latency distribution in HdrHistogram's percentile format "
                  "(FILE; with several ops FILE-<op>, e.g. load-put.hgrm)");
  cmd->callback([c, exit_code] { *exit_code = RunLoadCommand(*c); });
}

}  // namespace cqrs::cli
