// cqrs-pgsink: applies the event log to the PostgreSQL tables declared in [postgresql], exactly
// once (docs/OPERATIONS.md, "PostgreSQL query side"). Flags override --config.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "base/config.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/service_notify.h"
#include "base/signals.h"
#include "pgsink/sink_server.h"
#include "store/open_when_created.h"

// LeakSanitizer (sanitized builds only; never called otherwise): libpqxx 6.4 leaks a libpq
// result when it finds a connection broken (docs/DEPENDENCY_FACTS.md, fact 14).
extern "C" const char* __lsan_default_suppressions() { return "leak:libpq.so\n"; }

int main(int argc, char** argv) {
  CLI::App app{"cqrs-pgsink: applies the event log to PostgreSQL tables ([postgresql])"};
  cqrs::CommonFlags common;
  cqrs::AddCommonFlags(app, &common);
  std::string dsn;
  app.add_option("--dsn", dsn, "libpq connection string (overrides [postgresql] dsn)");
  if (auto done = cqrs::ParseCommandLine(app, argc, argv)) return *done;
  auto resolved = cqrs::ResolveConfig(common);
  if (resolved.ok() && !dsn.empty()) {
    resolved.value().postgresql.dsn = dsn;
    if (cqrs::Status s = cqrs::ValidateConfig(resolved.value()); !s.ok()) resolved = s;
  }
  if (resolved.ok() && !resolved.value().postgresql.on())
    resolved = cqrs::Error(cqrs::Code::kInvalidArgument,
                           "no PostgreSQL: set [postgresql] dsn in the config, or --dsn");
  if (!resolved.ok()) {
    std::fprintf(stderr, "cqrs-pgsink: %s\n", resolved.status().message().c_str());
    return 2;
  }
  const cqrs::Config& config = resolved.value();
  cqrs::InitLogging("cqrs-pgsink", config.log_level);
  if (!cqrs::fault::ArmFromEnvironmentOrReport("cqrs-pgsink")) return 2;
  const std::atomic<bool>& stop = cqrs::InstallStopSignals();
  try {
    zmq::context_t context(1);
    auto opened = cqrs::store::OpenWhenCreated<cqrs::pgsink::SinkServer>(
        stop, "write store", [&] { return cqrs::pgsink::SinkServer::Open(config, context); });
    if (!opened.ok()) {
      spdlog::error("cannot start: {}", opened.status().ToString());
      return 1;
    }
    std::unique_ptr<cqrs::pgsink::SinkServer> sink = std::move(opened).value();
    if (!sink) return 0;
    cqrs::NotifyReady("applying the log to PostgreSQL");
    if (cqrs::Status s = sink->Run(stop); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
    spdlog::info("stopped; PostgreSQL holds the log up to seq {}", sink->applied_seq());
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
  return 0;
}
