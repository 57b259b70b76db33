// The hot cache: fixed-size slots in the shared-memory segment holding the newest records of
// recently changed entities, written only by the projector (after each read-store commit, before
// it advances the applied seq) and read lock-free by readers and LocalReader through a per-slot
// seqlock over std::atomic words (docs/DEPENDENCY_FACTS.md fact 9: nothing in shared memory may
// lock).
//
// Slot (512 bytes, 64 words):
//   word 0      seqlock: odd while the projector writes the slot
//   word 1      hash of the entry's key (0: empty)
//   word 2      as_of: the seq of the event the record results from (the entity's state right
//               after it), which stays its state until the projector rewrites or clears the slot
//               (a batch with several events of one key rewrites its slot once per event, each
//               with its own seq, so a slot read in between is still true at its as_of)
//   word 3      key bytes (low 32 bits), record bytes (high 32 bits)
//   words 4-63  the key ("tenant\0collection\0key"), then the record (store/record_format.h)
// An entry lives in one of kProbe slots from its home (hash mod slots); the projector keeps at
// most one slot per key, and an entry too large for a slot is not cached (its old slot is
// cleared). What a reader may conclude, given A = the applied seq it loaded (acquire) before
// reading a slot: every change with seq <= A is in the cache or cleared from it, so a hit is the
// entity's state as of max(A, as_of). CacheHitSpan is that rule, for every user of the cache.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "shm/control_block_format.h"

namespace cqrs::shm {

// What a hit proves: its record is the key's state at every seq in [from, to], where from is
// the slot's as_of and to = max(A, as_of), A being the applied seq loaded (acquire) before the
// slot was read. A snapshot at seq S may answer from the hit iff Covers(S); an answer that
// reports its own seq may report `to`.
struct CacheHitSpan {
  std::uint64_t from = 0, to = 0;
  static CacheHitSpan Of(std::uint64_t applied_before, std::uint64_t as_of) {
    return {as_of, std::max(applied_before, as_of)};
  }
  bool Covers(std::uint64_t seq) const { return from <= seq && seq <= to; }
};

inline constexpr std::uint32_t kCacheSlotBytes = 512;
inline constexpr std::uint32_t kCachePayloadWords = kCacheSlotBytes / 8 - 4;
inline constexpr std::uint32_t kCachePayloadBytes = kCachePayloadWords * 8;
inline constexpr std::uint32_t kCacheProbe = 8;
// Reads of a slot that is being written before a reader gives up on it (and asks LMDB).
inline constexpr int kCacheSpinBudget = 64;

struct alignas(64) CacheSlot {
  AtomicU64 seq;
  AtomicU64 hash;
  AtomicU64 as_of;
  AtomicU64 lengths;
  AtomicU64 payload[kCachePayloadWords];
};
static_assert(sizeof(CacheSlot) == kCacheSlotBytes);

// A cache key: "tenant\0collection\0key" and its hash. Reusable: Set keeps its capacity.
class CacheKey {
 public:
  void Set(std::string_view tenant, std::string_view collection, std::string_view key);
  // From the joined bytes (as bytes() gives them).
  void SetBytes(std::string_view bytes);
  // Splits bytes() into its parts; false if it does not have three.
  bool Split(std::string_view* tenant, std::string_view* collection, std::string_view* key) const;
  std::string_view bytes() const { return bytes_; }
  std::uint64_t hash() const { return hash_; }

 private:
  std::string bytes_;
  std::uint64_t hash_ = 0;
};

// 64-bit hash of a key's bytes (the same in every process and build); never 0.
std::uint64_t CacheHash(std::string_view bytes);

enum class CacheLookup {
  kHit,
  kMiss,  // not cached
  kBusy,  // a slot on the way stayed mid-write past the spin budget
};

// Which key keeps a contested slot: an estimate of how often each key is read (the
// projector's AccessSketch, shm/cache_access.h).
class CacheAdmission {
 public:
  virtual ~CacheAdmission() = default;
  virtual std::uint32_t Estimate(std::uint64_t hash) const = 0;
};

// A view of the slots in a mapped segment. Reads: any thread of any process. Writes (Put, Erase,
// Clear): the projector only, one thread.
class HotCache {
 public:
  HotCache() = default;
  HotCache(CacheSlot* slots, std::uint32_t count) : slots_(slots), mask_(count - 1) {}
  bool enabled() const { return slots_ != nullptr; }
  std::uint32_t slot_count() const { return slots_ ? mask_ + 1 : 0; }

  // Copies the record of `key` into `*record` (reusing its capacity) and its as_of.
  CacheLookup Get(const CacheKey& key, std::string* record, std::uint64_t* as_of) const;

  // Writer side. Put stores `record` as the key's state as of `as_of` (a key too large for a
  // slot clears the key's slot instead): in the key's slot if it has one, else in an empty slot
  // of its window, else in place of the window's entry that `admission` rates lowest (null:
  // the one written longest ago) unless that entry rates higher than the key, when nothing is
  // written (nothing stale stays: the key had no slot). Erase clears the key's slot (it was
  // deleted, or is no longer known); Clear empties every slot, repairing any left mid-write by
  // a killed projector. Each returns the number of slots written.
  int Put(const CacheKey& key, std::string_view record, std::uint64_t as_of,
          const CacheAdmission* admission = nullptr);
  // Whether `key` has no slot and Put would give it an empty one or one whose entry
  // `admission` rates strictly lower (Put lets a tie go to the newer key, which suits a write;
  // a fill asks for more, so that two cold keys do not keep displacing each other).
  bool Admits(const CacheKey& key, const CacheAdmission& admission) const;
  int Erase(const CacheKey& key);
  std::uint32_t Clear();
  // Slots whose seqlock is odd now: being written, or left so by a killed projector.
  std::uint32_t CountMidWrite() const;

 private:
  CacheSlot& slot(std::uint64_t i) const { return slots_[i & mask_]; }
  // The writer's view (no seqlock: it is the only writer): the slot holding `key`, or null.
  CacheSlot* Find(const CacheKey& key) const;
  // Where a key that has no slot would go: an empty slot of its window, else the entry rated
  // lowest (`*rating`; ties: the one written longest ago).
  CacheSlot* Victim(const CacheKey& key, const CacheAdmission* admission,
                    std::uint32_t* rating) const;
  static void Write(CacheSlot& s, std::uint64_t hash, std::uint64_t as_of, std::string_view key,
                    std::string_view record);

  CacheSlot* slots_ = nullptr;
  std::uint32_t mask_ = 0;
};

}  // namespace cqrs::shm
