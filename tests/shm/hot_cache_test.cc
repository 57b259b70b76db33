#include "shm/hot_cache.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <thread>

namespace cqrs::shm {
namespace {

// Slots in ordinary memory: the cache is a view, so its logic does not need a segment.
struct Slots {
  explicit Slots(std::uint32_t n) : slots(new CacheSlot[n]()), cache(slots.get(), n) {}
  std::unique_ptr<CacheSlot[]> slots;
  HotCache cache;
};

CacheKey Key(std::string_view key, std::string_view collection = "orders") {
  CacheKey k;
  k.Set("default", collection, key);
  return k;
}

}  // namespace

TEST_CASE("HotCache returns what the projector put, by tenant, collection and key",
          "[shm][cache]") {
  Slots s(64);
  std::string record;
  std::uint64_t as_of = 0;
  CHECK(s.cache.Get(Key("a"), &record, &as_of) == CacheLookup::kMiss);
  CHECK(s.cache.Put(Key("a"), "record-a", 7) == 1);
  REQUIRE(s.cache.Get(Key("a"), &record, &as_of) == CacheLookup::kHit);
  CHECK(record == "record-a");
  CHECK(as_of == 7);
  CHECK(s.cache.Get(Key("a", "other"), &record, &as_of) == CacheLookup::kMiss);
  CacheKey other_tenant;
  other_tenant.Set("t2", "orders", "a");
  CHECK(s.cache.Get(other_tenant, &record, &as_of) == CacheLookup::kMiss);
  // A newer state replaces the old one in its slot.
  s.cache.Put(Key("a"), "record-a2", 9);
  REQUIRE(s.cache.Get(Key("a"), &record, &as_of) == CacheLookup::kHit);
  CHECK(record == "record-a2");
  CHECK(as_of == 9);
  // Erase: gone; a key too large for a slot is not cached and clears the old entry.
  CHECK(s.cache.Erase(Key("a")) == 1);
  CHECK(s.cache.Get(Key("a"), &record, &as_of) == CacheLookup::kMiss);
  s.cache.Put(Key("b"), "small", 3);
  s.cache.Put(Key("b"), std::string(kCachePayloadBytes, 'x'), 4);
  CHECK(s.cache.Get(Key("b"), &record, &as_of) == CacheLookup::kMiss);
  const std::string exact(kCachePayloadBytes - Key("c").bytes().size(), 'y');
  s.cache.Put(Key("c"), exact, 5);
  REQUIRE(s.cache.Get(Key("c"), &record, &as_of) == CacheLookup::kHit);
  CHECK(record == exact);
  CHECK(s.cache.Put(Key("empty"), "", 6) == 1);
  REQUIRE(s.cache.Get(Key("empty"), &record, &as_of) == CacheLookup::kHit);
  CHECK(record.empty());
}

TEST_CASE("HotCache keeps one slot per key and evicts the oldest write of a full window",
          "[shm][cache]") {
  Slots s(16);  // 16 slots, probe window 8: many keys share windows
  std::string record;
  std::uint64_t as_of = 0;
  for (std::uint64_t round = 1; round <= 20; ++round)
    for (int k = 0; k < 40; ++k)
      s.cache.Put(Key("k" + std::to_string(k)), "v" + std::to_string(round),
                  round * 100 + static_cast<std::uint64_t>(k));
  // Every slot holds a distinct key, each with its newest value.
  std::set<std::string> seen;
  int hits = 0;
  for (int k = 0; k < 40; ++k) {
    auto got = s.cache.Get(Key("k" + std::to_string(k)), &record, &as_of);
    REQUIRE(got != CacheLookup::kBusy);
    if (got == CacheLookup::kHit) {
      ++hits;
      CHECK(record == "v20");
      CHECK(as_of == 2000 + static_cast<std::uint64_t>(k));
    }
  }
  CHECK(hits > 0);
  CHECK(hits <= 16);
  for (std::uint32_t i = 0; i < 16; ++i) {
    if (s.slots[i].hash.load() == 0) continue;
    CHECK(seen.insert(std::to_string(s.slots[i].hash.load())).second);
  }
  // The key written last is always cached: it evicted the oldest write of its window.
  s.cache.Put(Key("newest"), "n", 5000);
  CHECK(s.cache.Get(Key("newest"), &record, &as_of) == CacheLookup::kHit);
}

TEST_CASE("A slot left mid-write is skipped after the spin budget and repaired by Clear",
          "[shm][cache]") {
  Slots s(8);  // every key's window is all 8 slots
  s.cache.Put(Key("a"), "value", 1);
  std::uint32_t at = 0;
  while (s.slots[at].hash.load() == 0) ++at;
  s.slots[at].seq.fetch_add(1);  // a projector killed inside Write
  std::string record;
  std::uint64_t as_of = 0;
  CHECK(s.cache.Get(Key("a"), &record, &as_of) == CacheLookup::kBusy);
  CHECK(s.cache.Clear() == 8);
  for (std::uint32_t i = 0; i < 8; ++i) CHECK(s.slots[i].seq.load() % 2 == 0);
  CHECK(s.cache.Get(Key("a"), &record, &as_of) == CacheLookup::kMiss);
  s.cache.Put(Key("a"), "again", 2);
  CHECK(s.cache.Get(Key("a"), &record, &as_of) == CacheLookup::kHit);
}

TEST_CASE("Readers racing the writer accept only whole records", "[shm][cache]") {
  Slots s(32);
  std::atomic<bool> stop{false};
  // Records are "<n>:" then n copies of one letter, so any mix of two writes is visible.
  auto make = [](std::uint64_t i, std::string* out) {
    const std::size_t n = 1 + i % 300;
    *out = std::to_string(n) + ":" + std::string(n, static_cast<char>('a' + i % 26));
  };
  std::atomic<std::uint64_t> writes{0};
  std::thread writer([&] {
    std::string r;
    for (std::uint64_t i = 0; !stop.load(); ++i) {
      make(i, &r);
      s.cache.Put(Key("k" + std::to_string(i % 4)), r, i);
      writes.store(i + 1, std::memory_order_relaxed);
    }
  });
  // Each reader runs until it has read many records while the writer was writing (however the
  // scheduler orders the threads), so the test can fail only on a torn record; the deadline is
  // for a cache that never answers at all.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::atomic<std::uint64_t> hits{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      std::string record;
      std::uint64_t as_of = 0, raced = 0;
      CacheKey keys[4];
      for (int k = 0; k < 4; ++k) keys[k] = Key("k" + std::to_string(k));
      for (std::uint64_t i = 0;
           (i < 200000 || raced < 20000) && std::chrono::steady_clock::now() < deadline; ++i) {
        const std::uint64_t writes_before = writes.load(std::memory_order_relaxed);
        if (s.cache.Get(keys[i % 4], &record, &as_of) != CacheLookup::kHit) continue;
        ++hits;
        // Hits with writes before and after them were read while the writer was at work.
        if (writes_before > 0 && writes.load(std::memory_order_relaxed) != writes_before) ++raced;
        const std::size_t colon = record.find(':');
        const std::size_t n = std::stoul(record.substr(0, colon));
        if (record.size() != colon + 1 + n ||
            record.find_first_not_of(record.back(), colon + 1) != std::string::npos)
          ++bad;
      }
    });
  for (auto& r : readers) r.join();
  stop = true;
  writer.join();
  CHECK(std::chrono::steady_clock::now() < deadline);
  CHECK(hits.load() > 0);
  CHECK(bad.load() == 0);
}

}  // namespace cqrs::shm
