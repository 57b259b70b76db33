// `cqrs metrics`: serves /metrics, /healthz and /readyz over HTTP (cpp-httplib) from the control
// block of a data dir. Runs under `cqrs up` when [metrics] listen is set, or on its own (a
// service unit): it waits for the pipeline's segment and follows it when replaced.
#include <fmt/format.h>
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>

#include "base/config.h"
#include "base/service_notify.h"
#include "base/signals.h"
#include "cli/commands.h"
#include "cli/metrics.h"
#include "shm/control_block.h"

namespace cqrs::cli {
namespace {

struct MetricsCommand {
  CommonFlags common;
  std::string listen;
};

// The control block, attached when it exists and re-attached when it was replaced or removed.
class ControlFollower {
 public:
  explicit ControlFollower(const Config& config) : config_(config) {}

  // A sample, and whether a control block was there to take it from.
  std::pair<StatsSample, bool> Sample() {
    std::lock_guard<std::mutex> lock(mu_);
    if (control_ && !control_->StillNamed()) control_.reset();
    if (!control_ && shm::ControlBlock::Exists(config_.data_dir)) {
      auto attached = shm::ControlBlock::Attach(config_.data_dir, config_.cache.slots);
      if (attached.ok()) control_.emplace(std::move(attached).value());
    }
    if (!control_) return {StatsSample(), false};
    return {TakeSample(*control_), true};
  }

 private:
  const Config& config_;
  std::mutex mu_;
  std::optional<shm::ControlBlock> control_;
};

int RunMetrics(const MetricsCommand& c) {
  auto resolved = ResolveConfig(c.common);
  if (!resolved.ok()) {
    std::fprintf(stderr, "cqrs metrics: %s\n", resolved.status().message().c_str());
    return 2;
  }
  const Config config = std::move(resolved).value();
  const std::string listen = c.listen.empty() ? config.metrics.listen : c.listen;
  std::string host;
  int port = 0;
  Status s =
      ParseListenAddress(listen.empty() ? "127.0.0.1:9464" : listen, "--listen", &host, &port);
  if (!s.ok()) {
    std::fprintf(stderr, "cqrs metrics: %s\n", s.message().c_str());
    return 2;
  }
  ControlFollower follower(config);
  httplib::Server server;
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    auto [sample, attached] = follower.Sample();
    res.set_content(RenderPrometheus(sample, attached), "text/plain; version=0.0.4; charset=utf-8");
  });
  // The status page's rates are over the time since the page was last served (a second, as it
  // reloads itself), from the sample kept then.
  std::mutex page_mutex;
  StatsSample last_page;
  server.Get("/", [&](const httplib::Request&, httplib::Response& res) {
    auto [sample, attached] = follower.Sample();
    std::lock_guard<std::mutex> lock(page_mutex);
    if (last_page.generation != sample.generation) last_page = StatsSample{};
    res.set_content(RenderStatusPage(last_page, sample, attached, config.data_dir),
                    "text/html; charset=utf-8");
    last_page = std::move(sample);
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server.Get("/readyz", [&](const httplib::Request&, httplib::Response& res) {
    auto [sample, attached] = follower.Sample();
    std::string why = attached ? NotReady(sample, config.metrics.ready_max_lag_events)
                               : "the pipeline is not running (no control block)";
    res.status = why.empty() ? 200 : 503;
    res.set_content(why.empty() ? "ready\n" : why + "\n", "text/plain");
  });
  if (!server.bind_to_port(host, port)) {
    std::fprintf(stderr, "cqrs metrics: cannot listen on %s:%d\n", host.c_str(), port);
    return 1;
  }
  std::fprintf(stderr, "cqrs metrics: serving http://%s:%d/metrics for %s\n", host.c_str(), port,
               config.data_dir.c_str());
  const std::atomic<bool>& stop = InstallStopSignals();
  std::thread serving([&] { server.listen_after_bind(); });
  NotifyReady(fmt::format("serving http://{}:{}/metrics", host, port));
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  NotifyStopping();
  server.stop();
  serving.join();
  return 0;
}

}  // namespace

void AddMetricsCommand(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<MetricsCommand>();
  CLI::App* cmd = app.add_subcommand(
      "metrics",
      "serve Prometheus /metrics, /healthz and /readyz over HTTP from the pipeline's control "
      "block (runs under cqrs up when [metrics] listen is set)");
  AddCommonFlags(*cmd, &c->common);
  cmd->add_option("--listen", c->listen,
                  "HOST:PORT to serve on (default [metrics] listen, else 127.0.0.1:9464)");
  cmd->callback([c, exit_code] { *exit_code = RunMetrics(*c); });
}

}  // namespace cqrs::cli
