// CQRS_CHECK: programmer bugs abort with file, line and a message; they never become a Status.
// CQRS_CHECK_MSG formats with fmt: its users include <fmt/format.h> (this header does not, so
// that the client's installed headers need no fmt).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace cqrs::internal {
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* expr,
                                     const std::string& message) {
  std::fprintf(stderr, "%s:%d: CHECK failed: %s %s\n", file, line, expr, message.c_str());
  std::fflush(stderr);
  std::abort();
}
}  // namespace cqrs::internal

#define CQRS_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) [[unlikely]]                                                  \
      ::cqrs::internal::CheckFailed(__FILE__, __LINE__, #cond, std::string()); \
  } while (false)

#define CQRS_CHECK_MSG(cond, ...)                                                         \
  do {                                                                                    \
    if (!(cond)) [[unlikely]]                                                             \
      ::cqrs::internal::CheckFailed(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (false)
