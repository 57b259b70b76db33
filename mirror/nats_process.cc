// The shared start of the NATS processes' mains.
#include "mirror/nats_process.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "base/fault.h"
#include "base/log.h"

namespace cqrs::mirror {

std::optional<NatsProcess> StartNatsProcess(int argc, char** argv, const std::string& name,
                                            const std::string& description,
                                            const std::string& stream_help, const std::string& role,
                                            int* exit_code) {
  CLI::App app{name + ": " + description};
  CommonFlags common;
  AddCommonFlags(app, &common);
  std::string nats, stream;
  app.add_option("--nats", nats, "NATS servers, comma-separated (overrides [mirror] nats)");
  app.add_option("--stream", stream, stream_help + " (overrides [mirror] stream)");
  if (auto done = ParseCommandLine(app, argc, argv)) {
    *exit_code = *done;
    return std::nullopt;
  }
  auto resolved = ResolveConfig(common);
  Status s = resolved.ok() ? OkStatus() : resolved.status();
  NatsProcess p;
  if (s.ok()) {
    p.config = std::move(resolved).value();
    s = ApplyNatsFlags(nats, stream, /*required=*/true, &p.config);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), s.message().c_str());
    *exit_code = 2;
    return std::nullopt;
  }
  InitLogging(name, p.config.log_level);
  if (!fault::ArmFromEnvironmentOrReport(name.c_str())) {
    *exit_code = 2;
    return std::nullopt;
  }
  auto lock = InstanceLock::Acquire(p.config.data_dir, role);
  if (!lock.ok()) {
    spdlog::error("cannot start: {}", lock.status().message());
    *exit_code = 1;
    return std::nullopt;
  }
  p.lock.emplace(std::move(lock).value());
  return p;
}

}  // namespace cqrs::mirror
