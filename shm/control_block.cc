// Creating and attaching the control block with Boost.Interprocess.
#include "shm/control_block.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>

#include "base/clock.h"
#include "base/fault.h"
#include "base/hash.h"
#include "base/status.h"

namespace cqrs::shm {
namespace bip = boost::interprocess;

struct ControlBlock::Mapping {
  bip::shared_memory_object object;
  bip::mapped_region region;
  std::string name;
  mutable std::uint64_t next_name_check_ns = 0;
  mutable bool still_named = true;
};

namespace {

bool Ready(const ControlBlockLayout& l, std::size_t mapped) {
  return l.header.magic.load(std::memory_order_acquire) == kControlBlockMagic &&
         l.header.version == kControlBlockVersion && l.header.size == mapped &&
         l.header.cache_offset == sizeof(ControlBlockLayout) &&
         l.header.cache_slot_bytes == kCacheSlotBytes &&
         mapped == sizeof(ControlBlockLayout) + std::size_t{l.header.cache_slots} * kCacheSlotBytes;
}

// Whether `name` (in /dev/shm, where glibc's shm_open keeps segments) is still `object`.
bool SameObject(const bip::shared_memory_object& object, const std::string& name) {
  struct stat ours {
  }, named{};
  if (fstat(object.get_mapping_handle().handle, &ours) != 0) return false;
  if (stat(("/dev/shm/" + name).c_str(), &named) != 0) return false;
  return ours.st_dev == named.st_dev && ours.st_ino == named.st_ino;
}

std::uint64_t RandomGeneration() {
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device() ^ WallNs();
}

}  // namespace

std::string ControlBlock::SegmentName(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::weakly_canonical(data_dir, ec);
  if (ec) dir = std::filesystem::absolute(data_dir);
  // The layout version is part of the name: processes of two versions never share, or remove,
  // each other's segment.
  return fmt::format("cqrs-{:016x}-v{}", Fnv1a64(dir.lexically_normal().string()),
                     kControlBlockVersion);
}

bool ControlBlock::Exists(const std::string& data_dir) {
  try {
    bip::shared_memory_object object(bip::open_only, SegmentName(data_dir).c_str(), bip::read_only);
    return true;
  } catch (const bip::interprocess_exception&) {
    return false;
  }
}

void ControlBlock::Remove(const std::string& data_dir) {
  bip::shared_memory_object::remove(SegmentName(data_dir).c_str());
}

ControlBlock::ControlBlock(std::unique_ptr<Mapping> mapping)
    : mapping_(std::move(mapping)),
      layout_(static_cast<ControlBlockLayout*>(mapping_->region.get_address())) {
  if (layout_->header.cache_slots > 0)
    cache_ = HotCache(reinterpret_cast<CacheSlot*>(reinterpret_cast<char*>(layout_) +
                                                   layout_->header.cache_offset),
                      layout_->header.cache_slots);
}
ControlBlock::ControlBlock(ControlBlock&&) noexcept = default;
ControlBlock& ControlBlock::operator=(ControlBlock&&) noexcept = default;
ControlBlock::~ControlBlock() = default;

std::optional<ControlBlock> ControlBlock::AttachAndClaim(const std::string& data_dir,
                                                         std::uint32_t cache_slots, int slot) {
  auto control = Attach(data_dir, cache_slots);
  if (!control.ok()) {
    spdlog::warn("no shared-memory control block (nothing of this process in cqrs stats): {}",
                 control.status().ToString());
    return std::nullopt;
  }
  control->Claim(slot);
  return std::move(control).value();
}

Result<ControlBlock> ControlBlock::Attach(const std::string& data_dir, std::uint32_t cache_slots) {
  if (cache_slots & (cache_slots - 1))
    return Error(Code::kInvalidArgument, "cache slots {} is not a power of 2", cache_slots);
  const std::string name = SegmentName(data_dir);
  const std::size_t kSize = sizeof(ControlBlockLayout) + std::size_t{cache_slots} * kCacheSlotBytes;
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      auto m = std::make_unique<Mapping>();
      {
        // Laid out under a name of its own, then linked to the segment's name (which fails if
        // another process got there first): a segment is never seen half made, however long
        // its creator is descheduled (under load that took over 500 ms, and another process
        // then judged the creator dead and replaced its segment).
        const std::string draft = fmt::format("{}.new.{:016x}", name, RandomGeneration());
        // 0600: the hot cache holds every tenant's entities.
#ifdef CQRS_MISTAKE_WORLD_READABLE_SHM  // the injected mistake of issue #15 (make mistakes)
        m->object = bip::shared_memory_object(bip::create_only, draft.c_str(), bip::read_write);
#else
        m->object = bip::shared_memory_object(bip::create_only, draft.c_str(), bip::read_write,
                                              bip::permissions(0600));
#endif
        struct DraftName {  // removed on every way out: the segment keeps its final name only
          std::string name;
          ~DraftName() { bip::shared_memory_object::remove(name.c_str()); }
        } draft_name{draft};
        m->object.truncate(static_cast<bip::offset_t>(kSize));  // zero-filled
        m->region = bip::mapped_region(m->object, bip::read_write);
        auto* l = static_cast<ControlBlockLayout*>(m->region.get_address());
        l->header.version = kControlBlockVersion;
        l->header.cache_slots = cache_slots;
        l->header.size = kSize;
        l->header.generation = RandomGeneration();
        l->header.cache_offset = sizeof(ControlBlockLayout);
        l->header.cache_slot_bytes = kCacheSlotBytes;
        l->header.creator_pid = static_cast<std::uint64_t>(getpid());
        l->header.creator_start_ns = WallNs();
        l->header.magic.store(kControlBlockMagic, std::memory_order_release);  // laid out
        if (fault::Fire(fault::Point::kShmSlowLayout))  // a creator descheduled right here
          std::this_thread::sleep_for(std::chrono::seconds(1));
        if (link(("/dev/shm/" + draft).c_str(), ("/dev/shm/" + name).c_str()) == 0) {
          m->name = name;
          return ControlBlock(std::move(m));
        }
        if (errno != EEXIST)
          return Error(Code::kUnavailable, "shared memory {}: link: {}", name,
                       std::strerror(errno));
      }
      m = std::make_unique<Mapping>();  // another process's segment: attach to it
      try {
        m->object = bip::shared_memory_object(bip::open_only, name.c_str(), bip::read_write);
      } catch (const bip::interprocess_exception& e) {
        if (e.get_error_code() == bip::not_found_error) continue;  // removed meanwhile: again
        throw;
      }
      // Segments are linked in laid out; one that is not was left by an older build's creator
      // that died half-way (or is still at it): wait a little, then replace it.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      for (;;) {
        bip::offset_t size = 0;
        if (m->object.get_size(size) &&
            static_cast<std::size_t>(size) >= sizeof(ControlBlockLayout)) {
          const auto bytes = static_cast<std::size_t>(size);
          m->region = bip::mapped_region(m->object, bip::read_write, 0, bytes);
          auto* l = static_cast<ControlBlockLayout*>(m->region.get_address());
          while (!Ready(*l, bytes) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (Ready(*l, bytes)) {
            m->name = name;
            return ControlBlock(std::move(m));
          }
          break;
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      // A creator that died half-way: start over. Only if the name still means the object we
      // looked at: another process may have replaced it already, and that one is good.
      if (SameObject(m->object, name)) bip::shared_memory_object::remove(name.c_str());
    } catch (const bip::interprocess_exception& e) {
      return Error(Code::kUnavailable, "shared memory {}: {}", name, e.what());
    }
  }
  return Error(Code::kUnavailable, "shared memory {}: could not create or attach", name);
}

void ControlBlock::Claim(int index) const {
  ProcessSlot& s = slot(index);
  s.pid.store(static_cast<std::uint64_t>(getpid()), std::memory_order_relaxed);
  s.started_ns.store(WallNs(), std::memory_order_relaxed);
  s.heartbeat_ns.store(WallNs(), std::memory_order_release);
}

void ControlBlock::Beat(int index) const {
  slot(index).heartbeat_ns.store(WallNs(), std::memory_order_release);
}

bool ControlBlock::BeatWithin(int index, std::uint64_t within_ns) const {
  const std::uint64_t beat = slot(index).heartbeat_ns.load(std::memory_order_acquire);
  const std::uint64_t now = WallCoarseNs();
  return beat != 0 && now - std::min(beat, now) < within_ns;
}

bool ControlBlock::StillNamed() const {
  const std::uint64_t now = MonoNs();
  if (now >= mapping_->next_name_check_ns) {
    mapping_->still_named = SameObject(mapping_->object, mapping_->name);
    mapping_->next_name_check_ns = now + 100'000'000;
  }
  return mapping_->still_named;
}

void ControlBlock::ExitIfOrphaned() const {
  if (StillNamed()) return;
  throw std::runtime_error(fmt::format(
      "shared memory /dev/shm/{} no longer names this process's segment (removed, or replaced "
      "by another process): stopping so that a restart attaches to the live one",
      mapping_->name));
}

bool ControlBlock::RemoveIfUnused() const {
  const auto self = static_cast<std::uint64_t>(getpid());
  for (int i = 0; i < kMaxSlots; ++i) {
    const std::uint64_t pid = slot(i).pid.load(std::memory_order_acquire);
    if (pid == 0 || pid == self) continue;
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return false;
  }
  if (!SameObject(mapping_->object, mapping_->name)) return false;  // not ours to remove
  return bip::shared_memory_object::remove(mapping_->name.c_str());
}

}  // namespace cqrs::shm
