// Logging through spdlog: one line per event, "time level [process pid] message".
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string_view>

namespace cqrs {

// Installs the default logger (stderr) for this process. `level` as in config's log_level.
void InitLogging(std::string_view process, std::string_view level);

// Lets one message per period through and counts the rest, so that a flood (an attacker's
// refused connections, an overload's refusals) cannot flood the log. Not thread-safe.
class LogLimiter {
 public:
  explicit LogLimiter(std::uint64_t period_ns = 1'000'000'000) : period_ns_(period_ns) {}
  // True if a message may be logged at `now_ns`; then `suppressed` gets how many were held back
  // since the last one that was.
  bool Allow(std::uint64_t now_ns, std::uint64_t* suppressed) {
    if (logged_ && now_ns - last_ns_ < period_ns_) {
      ++held_;
      return false;
    }
    logged_ = true;
    last_ns_ = now_ns;
    *suppressed = held_;
    held_ = 0;
    return true;
  }

 private:
  std::uint64_t period_ns_;
  std::uint64_t last_ns_ = 0;
  std::uint64_t held_ = 0;
  bool logged_ = false;
};

}  // namespace cqrs
