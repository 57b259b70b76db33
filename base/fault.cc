// Fault points.
#include "base/fault.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string_view>

#include "base/clock.h"
#include "base/log.h"
#include "base/status.h"

namespace cqrs::fault {
namespace {

constexpr std::array<std::string_view, static_cast<int>(Point::kCount)> kNames = {
    "crash_before_commit",      "crash_after_commit",
    "crash_before_state",       "drop_reply",
    "no_zap_handler",           "switch_after_exchange",
    "switch_before_generation", "shm_slow_layout",
    "crash_in_catch_up",        "crash_in_checkpoint",
    "sink_crash_before_commit", "sink_crash_after_commit",
    "crash_in_retention"};
std::array<double, static_cast<int>(Point::kCount)> probability{};
std::minstd_rand rng;
std::mutex rng_mutex;

}  // namespace

namespace internal {
bool armed = false;

bool Draw(Point p) {
  double q = probability[static_cast<std::size_t>(p)];
  if (q <= 0) return false;
  std::lock_guard lock(rng_mutex);  // points fire on more than one thread (the checkpointer)
  return std::uniform_real_distribution<double>(0, 1)(rng) < q;
}
}  // namespace internal

Result<std::string> ArmFromEnvironment() {
  const char* env = std::getenv("CQRS_FAULTS");
  if (env == nullptr || *env == '\0') return std::string();
  std::string_view rest = env;
  std::string described;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view entry = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto eq = entry.find('=');
    std::string_view name = entry.substr(0, eq);
    std::size_t index = 0;
    while (index < kNames.size() && kNames[index] != name) ++index;
    if (eq == std::string_view::npos || index == kNames.size())
      return Error(Code::kInvalidArgument,
                   "CQRS_FAULTS: \"{}\" is not <point>=<probability>; points: {}", entry,
                   fmt::join(kNames, ", "));
    std::string number(entry.substr(eq + 1));
    char* end = nullptr;
    double q = std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || !(q >= 0 && q <= 1))
      return Error(Code::kInvalidArgument, "CQRS_FAULTS: {} must be a probability in [0, 1]", name);
    probability[index] = q;
    described += (described.empty() ? "" : ", ") + std::string(entry);
  }
  rng.seed(static_cast<std::uint32_t>(MonoNs() ^ static_cast<std::uint64_t>(getpid())));
  internal::armed = true;
  return described;
}

void MaybeCrash(Point p) {
  if (Fire(p)) kill(getpid(), SIGKILL);
}

bool ArmFromEnvironmentOrReport(const char* program) {
  auto faults = ArmFromEnvironment();  // the fault suite's, never set in production
  if (!faults.ok()) {
    std::fprintf(stderr, "%s: %s\n", program, faults.status().message().c_str());
    return false;
  }
  if (!faults->empty()) spdlog::warn("fault points armed (CQRS_FAULTS): {}", *faults);
  return true;
}

}  // namespace cqrs::fault
