// Supervisor: `cqrs up`. Starts the writer, the projector and N readers as child processes,
// restarts any that dies (with a growing backoff), prints one status line a second from the
// shared-memory control block, and on SIGINT/SIGTERM stops them all cleanly.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "shm/control_block.h"

namespace cqrs::cli {

struct SupervisorOptions {
  std::string bin_dir;            // where cqrs-writer, cqrs-projector, cqrs-reader are
  std::vector<std::string> pass;  // flags every child gets (--data, --base-port, --config ...)
  std::uint32_t readers = 2;
  bool status_line = true;
  // A read replica host: cqrs-replica (copying the log from NATS) in place of the writer and
  // the mirror; projector and readers as on the primary.
  bool replica = false;
  std::vector<std::string> nats_pass;  // flags for cqrs-mirror / cqrs-replica (--nats, --stream)
};

// Not thread-safe; Run() on the main thread.
class Supervisor {
 public:
  Supervisor(Config config, SupervisorOptions options);
  // Runs until `stop`; returns the exit code (0 after a clean stop).
  int Run(const std::atomic<bool>& stop);

  // The directory of the running executable (where `cqrs up` looks for its siblings).
  static std::string SelfDirectory();

 private:
  struct Child {
    std::string name;  // "cqrs-reader[1]"
    std::vector<std::string> argv;
    pid_t pid = -1;
    std::uint64_t started_ns = 0;
    std::uint64_t next_start_ns = 0;
    std::uint64_t backoff_ms = 0;
    std::uint64_t restarts = 0;
  };

  Status Start(Child& child);
  void Reap(std::uint64_t now, bool stopping);
  void StopAll();
  void PrintStatus(double seconds);

  Config config_;
  SupervisorOptions options_;
  std::vector<Child> children_;
  std::optional<shm::ControlBlock> control_;  // attached at the first status line
  std::uint64_t last_commands_ = 0, last_queries_ = 0, last_status_ns_ = 0;
};

}  // namespace cqrs::cli
