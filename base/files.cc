// Private directories and instance locks.
#include "base/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/status.h"

namespace cqrs {

Status CreatePrivateDirectories(const std::string& dir) {
  std::filesystem::path path;
  for (const auto& part : std::filesystem::path(dir).lexically_normal()) {
    path /= part;
    if (part.empty() || part == "/") continue;
    if (mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) continue;
    return Error(Code::kUnavailable, "cannot create {}: {}", path.string(), std::strerror(errno));
  }
  return OkStatus();
}

void MakeFilePrivate(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0 && st.st_uid == geteuid())
    chmod(path.c_str(), st.st_mode & 0700);
}

Result<InstanceLock> InstanceLock::Acquire(const std::string& data_dir, const std::string& role) {
  CQRS_RETURN_IF_ERROR(CreatePrivateDirectories(data_dir));
  const std::string path = (std::filesystem::path(data_dir) / (role + ".lock")).string();
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Code::kUnavailable, "cannot open {}: {}", path, std::strerror(errno));
  InstanceLock lock(fd);
#ifdef CQRS_MISTAKE_NO_INSTANCE_LOCK  // the injected mistake of issue #15 (make mistakes)
  return lock;
#endif
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK)
      return Error(Code::kUnavailable, "flock({}): {}", path, std::strerror(errno));
    char pid[32] = {};
    const ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    const std::string holder = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "";
    return Error(Code::kAlreadyExists,
                 "another {} is running on {} (pid {}, holding {}): stop it first, or give this "
                 "one its own data directory",
                 role, data_dir, holder.empty() ? std::string("unknown") : holder, path);
  }
  const std::string pid = std::to_string(getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0)
    return Error(Code::kUnavailable, "cannot write {}: {}", path, std::strerror(errno));
  return lock;
}

InstanceLock& InstanceLock::operator=(InstanceLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) close(fd_);  // releases the flock
}

}  // namespace cqrs
