// Clocks: wall time for event timestamps, monotonic time for deadlines and rates.
#pragma once

#include <chrono>
#include <cstdint>

namespace cqrs {

// Nanoseconds since the Unix epoch (CLOCK_REALTIME); may jump, use only as a label.
inline std::uint64_t WallNs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// Nanoseconds on the monotonic clock; for deadlines and intervals.
inline std::uint64_t MonoNs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace cqrs
