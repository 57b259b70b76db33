// The retry loop of the processes that wait on a server of another kind (NATS, PostgreSQL):
// each cause logged once, until it changes (a loop retries for as long as the server is away;
// one line per cause, not per attempt), and a backoff that doubles from 100 ms up to a bound and
// starts over after a success.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>

#include "base/status.h"

namespace cqrs {

class Retry {
 public:
  explicit Retry(std::chrono::milliseconds most = std::chrono::milliseconds(2000))
      : most_(std::max(most, kFirst)) {}
  // Logs `problem` if it is new; returns how long to wait before the next attempt.
  std::chrono::milliseconds Failed(const Status& problem);
  void Succeeded() { backoff_ = kFirst; }
  void ClearCause() { last_.clear(); }

 private:
  static constexpr std::chrono::milliseconds kFirst{100};
  std::chrono::milliseconds most_;
  std::string last_;
  std::chrono::milliseconds backoff_ = kFirst;
};

}  // namespace cqrs
