// cqrs-mirror: publishes the event log to a NATS JetStream stream ([mirror] in the config) for
// read replicas on other hosts. Flags override --config.
#include <thread>

#include "base/log.h"
#include "base/service_notify.h"
#include "base/signals.h"
#include "mirror/mirror_server.h"
#include "mirror/nats_process.h"
#include "store/open_when_created.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  auto started = cqrs::mirror::StartNatsProcess(
      argc, argv, "cqrs-mirror", "publishes the event log to a NATS JetStream stream ([mirror])",
      "the stream to publish to", "mirror", &exit_code);
  if (!started) return exit_code;
  const cqrs::Config& config = started->config;
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
    cqrs::NotifyReady(fmt::format("mirroring the log to NATS stream {}", config.mirror.stream));
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
