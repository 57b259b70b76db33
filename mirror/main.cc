// cqrs-mirror: publishes the event log to a NATS JetStream stream ([mirror] in the config) for
// read replicas on other hosts. Flags override --config.
#include <CLI/CLI.hpp>
#include <thread>

#include "base/config.h"
#include "base/fault.h"
#include "base/files.h"
#include "base/log.h"
#include "base/signals.h"
#include "mirror/mirror_server.h"
#include "store/open_when_created.h"

int main(int argc, char** argv) {
  CLI::App app{"cqrs-mirror: publishes the event log to a NATS JetStream stream ([mirror])"};
  cqrs::CommonFlags common;
  cqrs::AddCommonFlags(app, &common);
  std::string nats, stream;
  app.add_option("--nats", nats, "NATS servers, comma-separated (overrides [mirror] nats)");
  app.add_option("--stream", stream, "the stream to publish to (overrides [mirror] stream)");
  CLI11_PARSE(app, argc, argv);

  auto resolved = cqrs::ResolveConfig(common);
  if (!resolved.ok()) {
    std::fprintf(stderr, "cqrs-mirror: %s\n", resolved.status().message().c_str());
    return 2;
  }
  cqrs::Config config = std::move(resolved).value();
  if (cqrs::Status s = cqrs::ApplyNatsFlags(nats, stream, /*required=*/true, &config); !s.ok()) {
    std::fprintf(stderr, "cqrs-mirror: %s\n", s.message().c_str());
    return 2;
  }
  cqrs::InitLogging("cqrs-mirror", config.log_level);
  if (!cqrs::fault::ArmFromEnvironmentOrReport("cqrs-mirror")) return 2;
  auto lock = cqrs::InstanceLock::Acquire(config.data_dir, "mirror");
  if (!lock.ok()) {
    spdlog::error("cannot start: {}", lock.status().message());
    return 1;
  }
  const std::atomic<bool>& stop = cqrs::InstallStopSignals();
  try {
    zmq::context_t context(1);
    // The writer creates the write store.
    auto opened = cqrs::store::OpenWhenCreated<cqrs::mirror::MirrorServer>(
        stop, "write store", [&] { return cqrs::mirror::MirrorServer::Open(config, context); });
    if (!opened.ok()) {
      spdlog::error("cannot start: {}", opened.status().ToString());
      return 1;
    }
    std::unique_ptr<cqrs::mirror::MirrorServer> mirror = std::move(opened).value();
    if (!mirror) return 0;
    spdlog::info("mirroring the log to NATS stream {} (subject {}) on {}", config.mirror.stream,
                 config.mirror.Subject(), config.mirror.nats);
    if (cqrs::Status s = mirror->Run(stop); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
    spdlog::info("stopped; the stream ends at seq {}", mirror->published_seq());
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
  return 0;
}
