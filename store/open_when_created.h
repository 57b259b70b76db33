// Waiting for a store that another process creates: `cqrs up` starts every process at once, so a
// projector may start before the writer made the log, and a reader before the projector made the
// read store. They wait for it rather than fail.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <thread>

#include "base/status.h"
#include "store/lmdb.h"

namespace cqrs::store {

// Calls `open` every 100 ms while it fails because its store does not exist yet
// (IsMissingStore), logging "waiting for the <what>: <why>" once. Returns what it opened; nullptr
// if `stop` was set first; the error of a failure of any other kind.
template <typename T>
Result<std::unique_ptr<T>> OpenWhenCreated(
    const std::atomic<bool>& stop, std::string_view what,
    const std::function<Result<std::unique_ptr<T>>()>& open) {
  for (bool logged = false; !stop.load();) {
    auto opened = open();
    if (opened.ok() || !IsMissingStore(opened.status())) return opened;
    if (!logged) spdlog::info("waiting for the {}: {}", what, opened.status().message());
    logged = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::unique_ptr<T>();
}

}  // namespace cqrs::store
