// cqrs-projector: applies the writer's event log to the read store, publishes every event,
// heartbeats, and answers replay requests. Flags override --config.
#include <CLI/CLI.hpp>
#include <thread>

#include "base/config.h"
#include "base/fault.h"
#include "base/files.h"
#include "base/log.h"
#include "base/service_notify.h"
#include "base/signals.h"
#include "projector/projector_server.h"
#include "store/open_when_created.h"

int main(int argc, char** argv) {
  CLI::App app{"cqrs-projector: builds the read store from the event log and publishes events"};
  cqrs::CommonFlags common;
  cqrs::AddCommonFlags(app, &common);
  cqrs::projector::ProjectorOptions options;
  bool once = false;
  app.add_option("--read-dir", options.read_dir, "read store directory (default <data>/read)");
  app.add_flag("--once", once,
               "apply everything committed so far, then exit without serving (a rebuild into "
               "--read-dir)");
  if (auto done = cqrs::ParseCommandLine(app, argc, argv)) return *done;

  auto resolved = cqrs::ResolveConfig(common);
  if (!resolved.ok()) {
    std::fprintf(stderr, "cqrs-projector: %s\n", resolved.status().message().c_str());
    return 2;
  }
  const cqrs::Config config = std::move(resolved).value();
  cqrs::InitLogging("cqrs-projector", config.log_level);
  if (!cqrs::fault::ArmFromEnvironmentOrReport("cqrs-projector")) return 2;
  const std::atomic<bool>& stop = cqrs::InstallStopSignals();
  options.serve = !once;
  // A serving projector is alone on its data directory (it clears the cache and stores the
  // applied seq before its bind could fail); `--once` builds a separate read directory.
  std::optional<cqrs::InstanceLock> lock;
  if (!once) {
    auto acquired = cqrs::InstanceLock::Acquire(config.data_dir, "projector");
    if (!acquired.ok()) {
      spdlog::error("cannot start: {}", acquired.status().message());
      return 1;
    }
    lock = std::move(acquired).value();
  }

  try {
    zmq::context_t context(1);
    // The writer creates the write store.
    auto opened = cqrs::store::OpenWhenCreated<cqrs::projector::ProjectorServer>(
        stop, "write store",
        [&] { return cqrs::projector::ProjectorServer::Open(config, context, options); });
    if (!opened.ok()) {
      spdlog::error("cannot start: {}", opened.status().ToString());
      return 1;
    }
    std::unique_ptr<cqrs::projector::ProjectorServer> projector = std::move(opened).value();
    if (!projector) return 0;
    if (once) {
      auto applied = projector->CatchUp();
      if (!applied.ok()) {
        spdlog::error("{}", applied.status().ToString());
        return 1;
      }
      spdlog::info("applied {} events; read store at seq {}", applied.value(),
                   projector->applied_seq());
      return 0;
    }
    spdlog::info("projecting from seq {}; events on {}, replay on {}", projector->applied_seq(),
                 projector->events_endpoint(), projector->replay_endpoint());
    cqrs::NotifyReady(fmt::format("projecting from seq {}; events on {}", projector->applied_seq(),
                                  projector->events_endpoint()));
    projector->Run(stop);
    cqrs::NotifyStopping();
    spdlog::info("stopped at seq {}", projector->applied_seq());
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
  return 0;
}
