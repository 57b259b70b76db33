// cqrs-replica: copies the event log from its NATS JetStream stream into <data>/write, so that a
// cqrs-projector and cqrs-readers on this host serve reads of a pipeline running elsewhere
// (`cqrs up --replica` starts all three). Flags override --config.
#include "base/log.h"
#include "base/service_notify.h"
#include "base/signals.h"
#include "mirror/nats_process.h"
#include "replica/replica_server.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  auto started = cqrs::mirror::StartNatsProcess(
      argc, argv, "cqrs-replica",
      "copies the event log from a NATS JetStream stream ([mirror]) for the read side on this host",
      "the stream to copy", "replica", &exit_code);
  if (!started) return exit_code;
  const cqrs::Config& config = started->config;
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
    cqrs::NotifyReady(fmt::format("copying NATS stream {}", config.mirror.stream));
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
