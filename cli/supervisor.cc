// Child processes of `cqrs up`: start, reap, restart with backoff, stop.
#include "cli/supervisor.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "base/clock.h"
#include "base/signals.h"
#include "base/status.h"
#include "shm/control_block.h"

namespace cqrs::cli {
namespace {

constexpr std::uint64_t kMinBackoffMs = 100;
constexpr std::uint64_t kMaxBackoffMs = 5000;
constexpr std::uint64_t kHealthyNs = 10'000'000'000;  // up this long: the backoff starts over

void Log(const std::string& line) {
  std::fprintf(stderr, "cqrs up: %s\n", line.c_str());
  std::fflush(stderr);
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return "stopped";
}

}  // namespace

std::string Supervisor::SelfDirectory() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

Supervisor::Supervisor(Config config, SupervisorOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  auto add = [&](std::string name, std::string binary, std::vector<std::string> extra) {
    Child c;
    c.name = std::move(name);
    c.argv = {options_.bin_dir + "/" + binary};
    c.argv.insert(c.argv.end(), options_.pass.begin(), options_.pass.end());
    c.argv.insert(c.argv.end(), extra.begin(), extra.end());
    children_.push_back(std::move(c));
  };
  if (options_.replica) {
    add("cqrs-replica", "cqrs-replica", options_.nats_pass);
  } else {
    add("cqrs-writer", "cqrs-writer", {});
  }
  add("cqrs-projector", "cqrs-projector", {});
  if (!options_.replica && config_.mirror.on())
    add("cqrs-mirror", "cqrs-mirror", options_.nats_pass);
  // The PostgreSQL query side reads the local log: the pipeline's, or a replica host's copy.
  if (config_.postgresql.on()) add("cqrs-pgsink", "cqrs-pgsink", {});
  for (std::uint32_t i = 0; i < options_.readers; ++i)
    add(fmt::format("cqrs-reader[{}]", i), "cqrs-reader", {"--index", std::to_string(i)});
  // Metrics over HTTP: `cqrs metrics`, a subcommand, so its flags follow its name.
  if (config_.metrics.on()) {
    Child c;
    c.name = "cqrs metrics";
    c.argv = {options_.bin_dir + "/cqrs", "metrics", "--listen", config_.metrics.listen};
    c.argv.insert(c.argv.end(), options_.pass.begin(), options_.pass.end());
    children_.push_back(std::move(c));
  }
}

Status Supervisor::Start(Child& c) {
  std::vector<char*> args;
  for (auto& a : c.argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return Error(Code::kUnavailable, "fork for {} failed", c.name);
  if (pid == 0) {
    // Our own process group: a terminal's Ctrl-C reaches only the supervisor, which then stops
    // the children in order. If the supervisor dies, the children get SIGTERM.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    execv(args[0], args.data());
    std::fprintf(stderr, "cqrs up: cannot run %s\n", args[0]);
    _exit(127);
  }
  c.pid = pid;
  c.started_ns = MonoNs();
  return OkStatus();
}

void Supervisor::Reap(std::uint64_t now, bool stopping) {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (Child& c : children_) {
      if (c.pid != pid) continue;
      c.pid = -1;
      if (stopping) break;
      c.backoff_ms = now - c.started_ns >= kHealthyNs
                         ? kMinBackoffMs
                         : std::min(kMaxBackoffMs, std::max(kMinBackoffMs, c.backoff_ms * 2));
      c.next_start_ns = now + c.backoff_ms * 1'000'000;
      ++c.restarts;
      Log(fmt::format("{} (pid {}) {}; restarting in {} ms (restart {})", c.name, pid,
                      Describe(status), c.backoff_ms, c.restarts));
      break;
    }
  }
}

void Supervisor::StopAll() {
  for (Child& c : children_)
    if (c.pid > 0) kill(c.pid, SIGTERM);
  const std::uint64_t deadline = MonoNs() + 10'000'000'000ull;
  for (;;) {
    Reap(MonoNs(), /*stopping=*/true);
    bool any = false;
    for (Child& c : children_) any = any || c.pid > 0;
    if (!any) return;
    if (MonoNs() >= deadline) {
      for (Child& c : children_) {
        if (c.pid <= 0) continue;
        Log(fmt::format("{} (pid {}) did not stop in 10 s: SIGKILL", c.name, c.pid));
        kill(c.pid, SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Supervisor::PrintStatus(double seconds) {
  if (control_ && !control_->StillNamed()) control_.reset();  // follow a new segment
  if (!control_) {
    auto attached = shm::ControlBlock::Attach(config_.data_dir, config_.cache.slots);
    if (!attached.ok()) return;
    control_.emplace(std::move(attached).value());
  }
  const shm::ControlBlock* control = &*control_;
  const auto& seqs = control->seqs();
  std::uint64_t committed = seqs.writer_committed_seq.load(std::memory_order_acquire);
  std::uint64_t applied = seqs.projector_applied_seq.load(std::memory_order_acquire);
  std::uint64_t commands =
      control->slot(shm::kWriterSlot).counters[shm::kRequests].load(std::memory_order_relaxed);
  std::uint64_t queries = 0;
  for (std::uint32_t i = 0; i < options_.readers; ++i)
    queries += control->slot(shm::kFirstReaderSlot + static_cast<int>(i))
                   .counters[shm::kRequests]
                   .load(std::memory_order_relaxed);
  std::uint64_t now = MonoNs();
  double dt = last_status_ns_ ? static_cast<double>(now - last_status_ns_) / 1e9 : 0;
  auto rate = [dt](std::uint64_t now_count, std::uint64_t then) {
    return dt > 0 && now_count >= then ? static_cast<double>(now_count - then) / dt : 0.0;
  };
  int running = 0;
  for (const Child& c : children_) running += c.pid > 0 ? 1 : 0;
  std::printf(
      "up %.0fs | commands %.0f/s | queries %.0f/s | writer seq %llu | applied %llu | lag %llu "
      "| %d/%zu processes\n",
      seconds, rate(commands, last_commands_), rate(queries, last_queries_),
      static_cast<unsigned long long>(committed), static_cast<unsigned long long>(applied),
      static_cast<unsigned long long>(committed > applied ? committed - applied : 0), running,
      children_.size());
  std::fflush(stdout);
  last_commands_ = commands;
  last_queries_ = queries;
  last_status_ns_ = now;
}

int Supervisor::Run(const std::atomic<bool>& stop) {
  for (Child& c : children_) {
    if (access(c.argv[0].c_str(), X_OK) != 0) {
      Log(fmt::format("{} not found next to cqrs (looked in {})", c.argv[0], options_.bin_dir));
      return 2;
    }
  }
  if (options_.replica)
    Log(
        fmt::format("starting {} processes on {} (a read replica of NATS stream {} on {}; readers "
                    "from {})",
                    children_.size(), config_.data_dir, config_.mirror.stream, config_.mirror.nats,
                    config_.ReaderEndpoint(0)));
  else
    Log(fmt::format("starting {} processes on {} (writer {}, readers from {})", children_.size(),
                    config_.data_dir, config_.WriterEndpoint(), config_.ReaderEndpoint(0)));
  const std::uint64_t start = MonoNs();
  std::uint64_t next_status = start + 1'000'000'000;
  const std::atomic<std::uint64_t>& reloads = InstallReloadSignal();
  std::uint64_t reloads_forwarded = reloads.load();
  while (!stop.load()) {
    std::uint64_t now = MonoNs();
    Reap(now, false);
    if (const std::uint64_t r = reloads.load(); r != reloads_forwarded) {
      reloads_forwarded = r;  // SIGHUP: each child reloads what it can (the principals file)
      Log("SIGHUP: passing it on to every process");
      for (Child& c : children_)
        if (c.pid > 0) kill(c.pid, SIGHUP);
    }
    for (Child& c : children_) {
      if (c.pid > 0 || now < c.next_start_ns) continue;
      Status s = Start(c);
      if (!s.ok()) Log(s.ToString());
    }
    if (options_.status_line && now >= next_status) {
      PrintStatus(static_cast<double>(now - start) / 1e9);
      next_status += 1'000'000'000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Log("stopping");
  StopAll();
  // Every child has stopped: the segment goes with them (a restart begins with a cold cache).
  if (control_ && !control_->StillNamed()) control_.reset();
  if (!control_ && shm::ControlBlock::Exists(config_.data_dir)) {
    auto attached = shm::ControlBlock::Attach(config_.data_dir, config_.cache.slots);
    if (attached.ok()) control_.emplace(std::move(attached).value());
  }
  if (control_ && control_->RemoveIfUnused())
    Log(fmt::format("removed /dev/shm/{}", shm::ControlBlock::SegmentName(config_.data_dir)));
  Log("stopped");
  return 0;
}

}  // namespace cqrs::cli
