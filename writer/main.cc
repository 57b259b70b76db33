// cqrs-writer: validates, authorizes and commits commands to the write store (group commit),
// replies after commit, and ticks the projector. Flags override --config.
#include <CLI/CLI.hpp>
#include <fstream>

#include "base/config.h"
#include "base/fault.h"
#include "base/files.h"
#include "base/log.h"
#include "base/service_notify.h"
#include "base/signals.h"
#include "writer/writer_server.h"

int main(int argc, char** argv) {
  CLI::App app{"cqrs-writer: the single writer of a cqrs pipeline"};
  cqrs::CommonFlags common;
  cqrs::AddCommonFlags(app, &common);
  std::optional<std::string> endpoint, tick_endpoint, durability;
  std::optional<std::uint64_t> map_size_mb, max_map_size_mb;
  std::optional<std::uint32_t> batch_max_requests;
  std::string endpoint_file;
  app.add_option("--endpoint", endpoint,
                 "command endpoint (default tcp://127.0.0.1:<base-port+1>)");
  app.add_option("--tick-endpoint", tick_endpoint,
                 "commit tick PUB endpoint (default ipc://<data>/writer.tick)");
  app.add_option("--durability", durability,
                 "sync (acknowledged = on disk) or nosync (survives a process crash)")
      ->check(CLI::IsMember({"sync", "nosync"}));
  app.add_option("--map-size-mb", map_size_mb, "initial LMDB map size");
  app.add_option("--max-map-size-mb", max_map_size_mb,
                 "the map grows up to this, then ResourceExhausted");
  app.add_option("--batch-max-requests", batch_max_requests, "group commit bound");
  app.add_option("--endpoint-file", endpoint_file,
                 "write the bound command endpoint to this file once serving");
  if (auto done = cqrs::ParseCommandLine(app, argc, argv)) return *done;

  auto resolved = cqrs::ResolveConfig(common);
  if (!resolved.ok()) {
    std::fprintf(stderr, "cqrs-writer: %s\n", resolved.status().message().c_str());
    return 2;
  }
  cqrs::Config config = std::move(resolved).value();
  if (endpoint) config.writer.endpoint = *endpoint;
  if (tick_endpoint) config.writer.tick_endpoint = *tick_endpoint;
  if (durability) config.writer.durability = *cqrs::ParseDurability(*durability);
  if (map_size_mb) config.writer.map_size_mb = *map_size_mb;
  if (max_map_size_mb) config.writer.max_map_size_mb = *max_map_size_mb;
  if (batch_max_requests) config.writer.batch_max_requests = *batch_max_requests;
  if (auto s = cqrs::ValidateConfig(config); !s.ok()) {
    std::fprintf(stderr, "cqrs-writer: %s\n", s.message().c_str());
    return 2;
  }
  cqrs::InitLogging("cqrs-writer", config.log_level);
  if (!cqrs::fault::ArmFromEnvironmentOrReport("cqrs-writer")) return 2;

  // Before anything touches the store or shared memory: a second writer must change nothing.
  auto lock = cqrs::InstanceLock::Acquire(config.data_dir, "writer");
  if (!lock.ok()) {
    spdlog::error("cannot start: {}", lock.status().message());
    return 1;
  }
  const std::atomic<bool>& stop = cqrs::InstallStopSignals();

  try {
    zmq::context_t context(1);
    auto server = cqrs::writer::WriterServer::Open(config, context);
    if (!server.ok()) {
      spdlog::error("cannot start: {}", server.status().ToString());
      return 1;
    }
    auto& w = *server.value();
    spdlog::info("serving commands on {}, ticks on {}, data {}, durability {}, seq {}",
                 w.endpoint(), w.tick_endpoint(), config.data_dir,
                 cqrs::DurabilityName(config.writer.durability), w.committed_seq());
    if (!endpoint_file.empty()) {
      std::string tmp = endpoint_file + ".tmp";
      std::ofstream(tmp) << w.endpoint() << "\n";
      std::rename(tmp.c_str(), endpoint_file.c_str());
    }
    cqrs::NotifyReady(
        fmt::format("serving commands on {}, seq {}", w.endpoint(), w.committed_seq()));
    w.Run(stop);
    cqrs::NotifyStopping();
    const auto& b = w.batch_stats();
    spdlog::info(
        "stopped at seq {}: {} requests in {} batches (largest {}), {} refused before "
        "apply, {} replies dropped, {} map grows, {} failed commits",
        w.committed_seq(), b.requests, b.batches, w.counters().max_batch, b.refused_before_apply,
        w.counters().replies_dropped, b.map_grows, b.failed_commits);
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
  return 0;
}
