// Internal to the projector: a rebuild of the read store in progress (cqrs rebuild, or changed
// read models), shared by projector_server.cc and rebuild_switch.cc, which builds it in a
// background thread and switches <data>/read to it between batches.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "base/status.h"
#include "projector/projector_server.h"
#include "projector/rebuild.h"

namespace cqrs::projector {

// A rebuild in progress: the store being built and the thread building it.
struct ProjectorServer::Rebuild {
  RebuildTarget target;
  std::thread thread;
  std::atomic<bool> done{false};
  std::atomic<bool> cancel{false};
  Status status;                     // the thread's outcome, read after `done`
  std::uint64_t serves_request = 0;  // rebuild_requests value this rebuild answers
  std::uint64_t started_ns = 0;
  ~Rebuild() {
    cancel = true;
    if (thread.joinable()) thread.join();
    // An unfinished store is removed on the next start: not worth an fsync now.
    if (target.store) target.store->LeaveUnsynced();
  }
};

}  // namespace cqrs::projector
