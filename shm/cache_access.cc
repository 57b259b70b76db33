#include "shm/cache_access.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace cqrs::shm {

AccessReporter::AccessReporter(AccessRing* ring, AtomicU64* dropped)
    : ring_(ring), dropped_(dropped), produced_(ring->produced.load(std::memory_order_relaxed)) {
  // A predecessor in this slot may have left `produced` behind `consumed` only by a bug; never
  // let it stall the ring.
  const std::uint64_t consumed = ring->consumed.load(std::memory_order_acquire);
  if (produced_ < consumed) produced_ = consumed;
}

void AccessReporter::Push(std::uint64_t hash, std::string_view key) {
  if (ring_ == nullptr || key.size() > kAccessKeyBytes) return;
  if (produced_ - ring_->consumed.load(std::memory_order_acquire) >= kAccessRingEntries) {
    dropped_->fetch_add(1, std::memory_order_relaxed);
    return;
  }
  AccessEntry& e = ring_->entries[produced_ % kAccessRingEntries];
  e.hash.store(hash, std::memory_order_relaxed);
  e.key_bytes.store(key.size(), std::memory_order_relaxed);
  const std::size_t words = (key.size() + 7) / 8;
  for (std::size_t w = 0; w < words; ++w) {
    std::uint64_t v = 0;
    std::memcpy(&v, key.data() + w * 8, std::min<std::size_t>(8, key.size() - w * 8));
    e.key[w].store(v, std::memory_order_relaxed);
  }
  ring_->produced.store(++produced_, std::memory_order_release);
}

AccessSketch::AccessSketch(std::uint32_t cache_slots)
    : width_(std::bit_ceil(std::max<std::size_t>(1024, std::size_t{cache_slots} * 8))),
      period_(std::max<std::uint64_t>(1024, std::uint64_t{cache_slots} * 40)),
      counters_(kRows * width_) {}

std::size_t AccessSketch::Index(int row, std::uint64_t hash) const {
  // Four independent-enough indexes from one 64-bit hash: a different odd multiplier per row,
  // the high bits taken.
  static constexpr std::uint64_t kSeeds[kRows] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full,
                                                  0x165667b19e3779f9ull, 0xd6e8feb86659fd93ull};
  const std::uint64_t h = (hash ^ (hash >> 29)) * kSeeds[row];
  return static_cast<std::size_t>(row) * width_ +
         static_cast<std::size_t>((h >> 32) & (width_ - 1));
}

std::uint32_t AccessSketch::Estimate(std::uint64_t hash) const {
  std::uint32_t least = 255;
  for (int r = 0; r < kRows; ++r) least = std::min<std::uint32_t>(least, counters_[Index(r, hash)]);
  return least;
}

void AccessSketch::Add(std::uint64_t hash, std::uint32_t count) {
  // Conservative update: only the counters below the new estimate rise, to it.
  const std::uint32_t want = std::min<std::uint32_t>(255, Estimate(hash) + count);
  for (int r = 0; r < kRows; ++r) {
    std::uint8_t& c = counters_[Index(r, hash)];
    if (c < want) c = static_cast<std::uint8_t>(want);
  }
  added_ += count;
  if (added_ >= period_) Halve();
}

void AccessSketch::Halve() {
  for (std::uint8_t& c : counters_) c >>= 1;
  added_ /= 2;
}

}  // namespace cqrs::shm
