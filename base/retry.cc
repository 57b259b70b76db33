// Retry: one log line per cause, doubling backoff.
#include "base/retry.h"

#include <spdlog/spdlog.h>

namespace cqrs {

std::chrono::milliseconds Retry::Failed(const Status& problem) {
  std::string text = problem.ToString();
  if (text != last_) {
    spdlog::warn("{} (retrying)", text);
    last_ = std::move(text);
  }
  const std::chrono::milliseconds wait = backoff_;
  backoff_ = std::min(backoff_ * 2, most_);
  return wait;
}

}  // namespace cqrs
