// One environment per read-store directory per process, and following the live one.
#include "store/read_store_follower.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "base/clock.h"
#include "base/status.h"

namespace cqrs::store {
namespace {

// A store and the directory descriptor its path goes through.
struct SharedEntry {
  int dir_fd = -1;
  std::unique_ptr<ReadStore> store;
  ~SharedEntry() {
    store.reset();  // the environment closes before the directory it was opened through
    if (dir_fd >= 0) close(dir_fd);
  }
};

struct IdentityLess {
  bool operator()(const DirIdentity& a, const DirIdentity& b) const {
    return a.dev != b.dev ? a.dev < b.dev : a.ino < b.ino;
  }
};

std::mutex registry_mutex;
std::map<DirIdentity, std::weak_ptr<SharedEntry>, IdentityLess>& Registry() {
  static auto* registry = new std::map<DirIdentity, std::weak_ptr<SharedEntry>, IdentityLess>();
  return *registry;
}

// The status with /proc/self/fd/N replaced by the directory's name.
Status Renamed(const Status& s, const std::string& proc_path, const std::string& dir) {
  std::string message = s.message();
  for (std::size_t at; (at = message.find(proc_path)) != std::string::npos;)
    message.replace(at, proc_path.size(), dir);
  return Status(s.code(), std::move(message), s.native());
}

}  // namespace

Result<std::shared_ptr<ReadStore>> OpenSharedReadStore(const ReadStoreOptions& options,
                                                       DirIdentity* identity) {
  const int fd = open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return MissingStore(
          fmt::format("{} holds no read store yet (is the projector running?)", options.dir));
    return Error(Code::kUnavailable, "open({}): {}", options.dir, std::strerror(errno));
  }
  auto entry = std::make_shared<SharedEntry>();
  entry->dir_fd = fd;
  struct stat st {};
  if (fstat(fd, &st) != 0)
    return Error(Code::kUnavailable, "fstat({}): {}", options.dir, std::strerror(errno));
  *identity = {st.st_dev, st.st_ino};
  std::lock_guard lock(registry_mutex);
  auto& slot = Registry()[*identity];
  if (auto shared = slot.lock()) return std::shared_ptr<ReadStore>(shared, shared->store.get());
  ReadStoreOptions o = options;
  o.read_only = true;
  o.dir = fmt::format("/proc/self/fd/{}", fd);
  auto opened = ReadStore::Open(o);
  if (!opened.ok()) {
    Registry().erase(*identity);
    return Renamed(opened.status(), o.dir, options.dir);
  }
  entry->store = std::move(opened).value();
  slot = entry;
  // Aliasing: the caller holds the entry (and so the directory descriptor) through the store.
  return std::shared_ptr<ReadStore>(entry, entry->store.get());
}

Status NotAppliedInTime(std::uint64_t applied, std::uint64_t min_seq) {
  return Error(Code::kDeadlineExceeded, "read store at seq {} has not applied min_seq {} in time",
               applied, min_seq);
}

ReadStoreFollower::ReadStoreFollower(ReadStoreOptions options) : options_(std::move(options)) {
  options_.read_only = true;
}

Result<bool> ReadStoreFollower::Follow(std::uint64_t generation, bool force, Txn* snapshot) {
  const std::uint64_t now = MonoNs();
#ifdef CQRS_MISTAKE_NO_STORE_LOOK  // the injected mistake of issue #15 (make mistakes)
  next_look_ns_ = UINT64_MAX;      // trust the generation alone, as before
#endif
  if (store_ && !force && generation == generation_ && now < next_look_ns_) return false;
  next_look_ns_ = now + 100'000'000;
#ifdef CQRS_MISTAKE_NO_STORE_LOOK
  next_look_ns_ = UINT64_MAX;
#endif
  if (store_) {
    struct stat st {};
    if (stat(options_.dir.c_str(), &st) == 0 && DirIdentity{st.st_dev, st.st_ino} == identity_) {
      generation_ = generation;
      return false;
    }
  }
  DirIdentity identity;
  auto opened = OpenSharedReadStore(options_, &identity);
  if (!opened.ok()) return opened.status();
  *snapshot = Txn();  // ends before the old environment may close
  store_ = std::move(opened).value();
  identity_ = identity;
  generation_ = generation;
  return true;
}

}  // namespace cqrs::store
