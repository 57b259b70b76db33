// Files a process keeps in its data directory: directories only its user can enter, and the
// per-role instance lock that keeps a second copy of a process off the same data.
#pragma once

#include <string>

#include "base/status.h"

namespace cqrs {

// Creates `dir` and any missing parents with mode 0700 (less the umask); existing directories
// keep their mode. Unavailable with the path and errno text when one cannot be made.
Status CreatePrivateDirectories(const std::string& dir);

// Tightens an existing file to 0600 if it grants anything to group or others (a file made by an
// older build); a file that is not ours to change is left as it is.
void MakeFilePrivate(const std::string& path);

// An exclusive lock on one role ("writer", "projector", "reader-0", "supervisor") in a data
// directory: the file <data_dir>/<role>.lock, held with flock(2) for the life of the object and
// released by the kernel when the process dies however it dies (kill -9 included), so a restart
// never finds a stale lock. The file holds the holder's pid, for the refusal's message.
// Move-only; not copyable; the descriptor is close-on-exec.
class InstanceLock {
 public:
  // Takes the lock, creating the data directory (0700) and the file (0600) as needed.
  // AlreadyExists naming the role, the data directory and the holder's pid when another process
  // holds it; Unavailable when the file cannot be made. Never blocks.
  static Result<InstanceLock> Acquire(const std::string& data_dir, const std::string& role);

  InstanceLock(InstanceLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  InstanceLock& operator=(InstanceLock&& other) noexcept;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;
  ~InstanceLock();

 private:
  explicit InstanceLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace cqrs
