// Error(): a Status with a message formatted by fmt, for everything but the client's installed
// headers (they include base/result.h, which has Status and Result without fmt).
#pragma once

#include <fmt/format.h>

#include <utility>

#include "base/result.h"

namespace cqrs {

// Error(Code::kNotFound, "orders/{} not found", key): a status with a formatted message.
template <typename... Args>
Status Error(Code code, fmt::format_string<Args...> format, Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace cqrs
