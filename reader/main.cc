// cqrs-reader: answers Get and Scan queries from lock-free read-store snapshots, waiting for
// min_seq when asked. Flags override --config.
#include <CLI/CLI.hpp>
#include <thread>

#include "base/config.h"
#include "base/fault.h"
#include "base/files.h"
#include "base/log.h"
#include "base/service_notify.h"
#include "base/signals.h"
#include "reader/reader_server.h"
#include "store/open_when_created.h"

int main(int argc, char** argv) {
  CLI::App app{"cqrs-reader: answers queries from the read store"};
  cqrs::CommonFlags common;
  cqrs::AddCommonFlags(app, &common);
  std::uint32_t index = 0;
  std::optional<std::string> endpoint;
  app.add_option("--index", index, "which reader: endpoint base-port + 10 + index (default 0)");
  app.add_option("--endpoint", endpoint, "bind here instead");
  if (auto done = cqrs::ParseCommandLine(app, argc, argv)) return *done;

  auto resolved = cqrs::ResolveConfig(common);
  if (!resolved.ok()) {
    std::fprintf(stderr, "cqrs-reader: %s\n", resolved.status().message().c_str());
    return 2;
  }
  const cqrs::Config config = std::move(resolved).value();
  const std::string bind = endpoint.value_or(config.ReaderEndpoint(index));
  cqrs::InitLogging("cqrs-reader", config.log_level);
  if (!cqrs::fault::ArmFromEnvironmentOrReport("cqrs-reader")) return 2;
  auto lock = cqrs::InstanceLock::Acquire(config.data_dir, "reader-" + std::to_string(index));
  if (!lock.ok()) {
    spdlog::error("cannot start: {}", lock.status().message());
    return 1;
  }
  const std::atomic<bool>& stop = cqrs::InstallStopSignals();

  try {
    zmq::context_t context(1);
    // The projector creates the read store.
    auto opened = cqrs::store::OpenWhenCreated<cqrs::reader::ReaderServer>(stop, "read store", [&] {
      return cqrs::reader::ReaderServer::Open(config, index, bind, context);
    });
    if (!opened.ok()) {
      spdlog::error("cannot start: {}", opened.status().ToString());
      return 1;
    }
    std::unique_ptr<cqrs::reader::ReaderServer> server = std::move(opened).value();
    if (!server) return 0;
    spdlog::info("reader {} serving queries on {}", index, server->endpoint());
    cqrs::NotifyReady(fmt::format("reader {} serving queries on {}", index, server->endpoint()));
    server->Run(stop);
    cqrs::NotifyStopping();
    spdlog::info("reader {} stopped", index);
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
  return 0;
}
