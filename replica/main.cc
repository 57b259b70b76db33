// cqrs-replica: copies the event log from its NATS JetStream stream into <data>/write, so that a
// cqrs-projector and cqrs-readers on this host serve reads of a pipeline running elsewhere
// (`cqrs up --replica` starts all three). Flags override --config.
#include <CLI/CLI.hpp>

#include "base/config.h"
#include "base/fault.h"
#include "base/files.h"
#include "base/log.h"
#include "base/signals.h"
#include "replica/replica_server.h"

int main(int argc, char** argv) {
  CLI::App app{
      "cqrs-replica: copies the event log from a NATS JetStream stream ([mirror]) for the read "
      "side on this host"};
  cqrs::CommonFlags common;
  cqrs::AddCommonFlags(app, &common);
  std::string nats, stream;
  app.add_option("--nats", nats, "NATS servers, comma-separated (overrides [mirror] nats)");
  app.add_option("--stream", stream, "the stream to copy (overrides [mirror] stream)");
  CLI11_PARSE(app, argc, argv);

  auto resolved = cqrs::ResolveConfig(common);
  if (!resolved.ok()) {
    std::fprintf(stderr, "cqrs-replica: %s\n", resolved.status().message().c_str());
    return 2;
  }
  cqrs::Config config = std::move(resolved).value();
  if (cqrs::Status s = cqrs::ApplyNatsFlags(nats, stream, /*required=*/true, &config); !s.ok()) {
    std::fprintf(stderr, "cqrs-replica: %s\n", s.message().c_str());
    return 2;
  }
  cqrs::InitLogging("cqrs-replica", config.log_level);
  if (!cqrs::fault::ArmFromEnvironmentOrReport("cqrs-replica")) return 2;
  auto lock = cqrs::InstanceLock::Acquire(config.data_dir, "replica");
  if (!lock.ok()) {
    spdlog::error("cannot start: {}", lock.status().message());
    return 1;
  }
  const std::atomic<bool>& stop = cqrs::InstallStopSignals();
  try {
    zmq::context_t context(1);
    auto opened = cqrs::replica::ReplicaServer::Open(config, context);
    if (!opened.ok()) {
      spdlog::error("cannot start: {}", opened.status().ToString());
      return 1;
    }
    std::unique_ptr<cqrs::replica::ReplicaServer> replica = std::move(opened).value();
    spdlog::info("copying NATS stream {} (subject {}) from {} into {}", config.mirror.stream,
                 config.mirror.Subject(), config.mirror.nats, config.data_dir);
    if (cqrs::Status s = replica->Run(stop); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
    spdlog::info("stopped; the copy ends at seq {} (stream message {})", replica->copied_seq(),
                 replica->stream_seq());
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
  return 0;
}
