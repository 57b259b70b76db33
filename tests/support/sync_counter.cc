// An LD_PRELOAD library for tests: counts the fdatasync and fsync calls that completed, by the
// file they synced, in a file of three little-endian u64 counters that the test reads:
//   [0] <data>/write/log/data.mdb   (the event log: synced before every reply in sync mode)
//   [1] <data>/write/state/data.mdb (the entity state: never synced per batch)
//   [2] anything else
// CQRS_SYNC_COUNTS names the counters file (24 bytes, created by the test). Unset, it only
// passes the calls on.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>

namespace {

std::uint64_t* counters = nullptr;
std::once_flag mapped;

void MapCounters() {
  const char* path = std::getenv("CQRS_SYNC_COUNTS");
  if (path == nullptr) return;
  int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  void* p = ::mmap(nullptr, 3 * sizeof(std::uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p != MAP_FAILED) counters = static_cast<std::uint64_t*>(p);
}

void Count(int fd) {
  std::call_once(mapped, MapCounters);
  if (counters == nullptr) return;
  char link[64], target[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, target, sizeof target);
  const std::string_view file(target, n > 0 ? static_cast<std::size_t>(n) : 0);
  const int slot = file.ends_with("/write/log/data.mdb")     ? 0
                   : file.ends_with("/write/state/data.mdb") ? 1
                                                             : 2;
  std::atomic_ref<std::uint64_t>(counters[slot]).fetch_add(1, std::memory_order_seq_cst);
}

template <typename Fn>
Fn Next(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int fdatasync(int fd) {
  static const auto next = Next<int (*)(int)>("fdatasync");
  const int rc = next(fd);
  if (rc == 0) Count(fd);  // counted once done: a reply after it follows a completed sync
  return rc;
}

extern "C" int fsync(int fd) {
  static const auto next = Next<int (*)(int)>("fsync");
  const int rc = next(fd);
  if (rc == 0) Count(fd);
  return rc;
}
