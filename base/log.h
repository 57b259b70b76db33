// Logging through spdlog: one line per event, "time level [process pid] message".
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace cqrs {

// Installs the default logger (stderr) for this process. `level` as in config's log_level.
void InitLogging(std::string_view process, std::string_view level);

}  // namespace cqrs
