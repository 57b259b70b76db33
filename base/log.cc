// Process-wide logger set-up.
#include "base/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

namespace cqrs {

void InitLogging(std::string_view process, std::string_view level) {
  auto logger = spdlog::stderr_logger_mt(std::string(process));
  logger->set_pattern(fmt::format("%Y-%m-%dT%H:%M:%S.%e %l [{} {}] %v", process, getpid()));
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace cqrs
