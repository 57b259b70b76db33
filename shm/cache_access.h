// What makes the hot cache read-hot, not only write-through: readers report the Gets they
// answer (every miss with its key, a sample of hits by hash) into their access ring in the
// control block (control_block_format.h, AccessRing); the projector drains the rings, counts
// the accesses in an AccessSketch, and fills the missed keys that the sketch rates above the
// slot they would take, from the read store, after its commit (projector/cache_filler.h).
//
// The policy is TinyLFU's (Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient Cache
// Admission Policy", 2017): a count-min sketch of recent access counts, halved every sample
// period so that it follows a shifting load, decides which of two keys keeps a contested slot.
// Hits must be reported too: a key that is cached stops missing, and without its hits it would
// look cold and be evicted by the next key that misses twice.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "shm/control_block_format.h"
#include "shm/hot_cache.h"

namespace cqrs::shm {

// The reader's end of its ring. Thread-compatible; one per reader process. Cheap: a miss is a
// copy of its key (at most kAccessKeyBytes; a longer key is not reported), a hit one increment
// and, every kAccessHitSample hits, a 16-byte entry.
class AccessReporter {
 public:
  AccessReporter() = default;
  // `dropped` counts reports lost to a full ring. Both must outlive the reporter.
  AccessReporter(AccessRing* ring, AtomicU64* dropped);
  bool enabled() const { return ring_ != nullptr; }

  void Miss(const CacheKey& key) { Push(key.hash(), key.bytes()); }
  void Hit(const CacheKey& key) {
    if (++hits_ % kAccessHitSample == 0) Push(key.hash(), {});
  }

 private:
  void Push(std::uint64_t hash, std::string_view key);

  AccessRing* ring_ = nullptr;
  AtomicU64* dropped_ = nullptr;
  std::uint64_t produced_ = 0;  // ours: the ring's `produced`, without reading it back
  std::uint32_t hits_ = 0;
};

// One reported access, as the projector reads it.
struct Access {
  std::uint64_t hash = 0;
  std::string_view key;  // empty: a sampled hit, standing for kAccessHitSample hits
};

// The projector's end: calls `each(const Access&)` for every entry reported since the last
// drain (a key view is valid during the call only) and frees them. Entries with an impossible
// length are skipped: a reader is trusted no further than its own ring.
template <typename Each>
std::size_t DrainAccessRing(AccessRing& ring, Each&& each) {
  const std::uint64_t produced = ring.produced.load(std::memory_order_acquire);
  std::uint64_t consumed = ring.consumed.load(std::memory_order_relaxed);
  if (produced < consumed || produced - consumed > kAccessRingEntries)
    consumed = produced < kAccessRingEntries ? 0 : produced - kAccessRingEntries;  // resync
  std::uint64_t words[kAccessKeyWords];
  for (std::uint64_t i = consumed; i < produced; ++i) {
    const AccessEntry& e = ring.entries[i % kAccessRingEntries];
    Access a;
    a.hash = e.hash.load(std::memory_order_relaxed);
    const std::uint64_t bytes = e.key_bytes.load(std::memory_order_relaxed);
    if (bytes > kAccessKeyBytes || a.hash == 0) continue;
    const std::size_t n = (bytes + 7) / 8;
    for (std::size_t w = 0; w < n; ++w) words[w] = e.key[w].load(std::memory_order_relaxed);
    a.key = std::string_view(reinterpret_cast<const char*>(words), bytes);
    each(a);
  }
  ring.consumed.store(produced, std::memory_order_release);
  return produced - consumed;
}

// A count-min sketch of access counts with conservative update: four rows of 8-bit saturating
// counters, `width` each (a power of 2, at least 8 per cache slot so that a cold key seldom
// shares all four counters with hot ones), every counter halved once the counts added reach
// the sample period, 40 per cache slot: long enough to tell keys near the cache's boundary
// (read less than once per slot per period under zipf 0.99) from the cold tail, short enough to
// follow a load that moves within seconds. tests/shm/cache_access_test.cc measures the choice
// against an ideal cache. The projector's private memory (32 bytes per slot); one thread.
class AccessSketch final : public CacheAdmission {
 public:
  explicit AccessSketch(std::uint32_t cache_slots);
  void Add(std::uint64_t hash, std::uint32_t count);
  std::uint32_t Estimate(std::uint64_t hash) const override;
  std::size_t width() const { return width_; }

 private:
  static constexpr int kRows = 4;
  std::size_t Index(int row, std::uint64_t hash) const;
  void Halve();

  std::size_t width_;
  std::uint64_t period_;
  std::uint64_t added_ = 0;
  std::vector<std::uint8_t> counters_;  // kRows x width_
};

// A missed key is filled once the sketch counts three reads of it (the miss just reported
// included) and the cache admits it: TinyLFU's doorkeeper, by count. Under a uniform load over
// far more keys than slots few keys qualify, so the projector reads almost nothing for a cache
// that could not help; under zipf the hot keys qualify within their first reads. Measured in
// tests/shm/cache_access_test.cc: at 16,384 slots under zipf 0.99 it halves the fills and adds
// half a point of hit ratio against filling every miss the cache admits.
inline constexpr std::uint32_t kFillAfterReads = 3;

inline bool ShouldFill(const HotCache& cache, const AccessSketch& sketch, const CacheKey& key) {
  return sketch.Estimate(key.hash()) >= kFillAfterReads && cache.Admits(key, sketch);
}

}  // namespace cqrs::shm
