// The start that cqrs-mirror and cqrs-replica share: the common flags and --nats/--stream over
// the config's [mirror] (servers required), logging, fault points, and the role's instance lock.
#pragma once

#include <optional>
#include <string>

#include "base/config.h"
#include "base/files.h"

namespace cqrs::mirror {

struct NatsProcess {
  Config config;
  std::optional<InstanceLock> lock;
};

// Parses argv for the program `name` (its --help says `description`; --stream's help
// `stream_help`). Returns the process's config and lock, or nothing with *exit_code set: 0 after
// --help, 2 for bad usage or config, 1 when another process holds the role's lock.
std::optional<NatsProcess> StartNatsProcess(int argc, char** argv, const std::string& name,
                                            const std::string& description,
                                            const std::string& stream_help, const std::string& role,
                                            int* exit_code);

}  // namespace cqrs::mirror
