// Clocks: wall time for event timestamps, monotonic time for deadlines and rates.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

namespace cqrs {

// Nanoseconds since the Unix epoch (CLOCK_REALTIME); may jump, use only as a label.
inline std::uint64_t WallNs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// WallNs to a few milliseconds (CLOCK_REALTIME_COARSE: no hardware clock read), for staleness
// checks on hot paths.
inline std::uint64_t WallCoarseNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Nanoseconds on the monotonic clock; for deadlines and intervals.
inline std::uint64_t MonoNs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace cqrs
