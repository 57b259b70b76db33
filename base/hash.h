// A stable 64-bit hash (FNV-1a) for names and stored keys: the same bytes give the same hash in
// every process, build and release, so it may be part of a name or an on-disk key. Not for
// tables that face untrusted input where collisions matter: callers that store it with a value
// compare the value too.
#pragma once

#include <cstdint>
#include <string_view>

namespace cqrs {

inline std::uint64_t Fnv1a64(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace cqrs
