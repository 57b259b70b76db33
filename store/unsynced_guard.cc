// The `unsynced` boot-id guard file.
#include "store/unsynced_guard.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/files.h"
#include "base/status.h"

namespace cqrs::store {
namespace {
constexpr const char* kUnsyncedFile = "unsynced";
}  // namespace

Result<std::string> CurrentBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!std::getline(in, id) || id.empty())
    return Status(Code::kInternal, "cannot read /proc/sys/kernel/random/boot_id");
  return id;
}

std::string ReadUnsyncedGuard(const std::string& dir) {
  std::ifstream in(std::filesystem::path(dir) / kUnsyncedFile);
  std::string id;
  std::getline(in, id);
  return id;
}

Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Error(Code::kInternal, "open {}: {}", path, std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Error(Code::kInternal, "fsync {}: {}", path, std::strerror(err));
  return OkStatus();
}

Status WriteUnsyncedGuard(const std::string& dir, const std::string& boot_id) {
  const std::string path = (std::filesystem::path(dir) / kUnsyncedFile).string();
  {
    std::ofstream out(path, std::ios::trunc);
    out << boot_id << '\n';
    if (!out.flush()) return Error(Code::kInternal, "cannot write {}", path);
  }
  MakeFilePrivate(path);  // like every file of the data directory
  CQRS_RETURN_IF_ERROR(FsyncPath(path, O_RDONLY));
  return FsyncPath(dir, O_RDONLY | O_DIRECTORY);
}

void RemoveUnsyncedGuard(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove(std::filesystem::path(dir) / kUnsyncedFile, ec);
}

}  // namespace cqrs::store
