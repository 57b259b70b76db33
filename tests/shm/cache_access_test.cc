#include "shm/cache_access.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace cqrs::shm {
namespace {

CacheKey Key(std::string_view key) {
  CacheKey k;
  k.Set("default", "kv", key);
  return k;
}

// Zipf over `n` ranks by inverse CDF; the rank's key is scattered so that hot keys do not sit
// next to each other in the hash order (they would not anyway: the cache hashes them).
class Zipf {
 public:
  Zipf(std::uint32_t n, double theta) : cdf_(n) {
    double sum = 0;
    for (std::uint32_t r = 0; r < n; ++r) cdf_[r] = sum += std::pow(r + 1.0, -theta);
    for (double& c : cdf_) c /= sum;
  }
  std::uint32_t Next(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<std::uint32_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }
  // The share of accesses on the hottest `n` keys: an ideal cache of n entries.
  double Ideal(std::uint32_t n) const { return cdf_[std::min<std::size_t>(n, cdf_.size()) - 1]; }

 private:
  std::vector<double> cdf_;
};

// The whole fill path in one process: a reader's Gets through the cache, its reports through a
// real ring, the projector's drain, sketch and fill (here the "read store" is the key itself).
double SimulatedHitRatio(std::uint32_t slots, const Zipf& zipf, std::uint32_t warmup,
                         std::uint32_t measured) {
  std::unique_ptr<CacheSlot[]> slot_memory(new CacheSlot[slots]());
  HotCache cache(slot_memory.get(), slots);
  auto ring = std::make_unique<AccessRing>();
  AtomicU64 dropped{0};
  AccessReporter reporter(ring.get(), &dropped);
  AccessSketch sketch(slots);
  std::mt19937_64 rng(42);
  CacheKey key, fill;
  std::string record;
  std::uint64_t as_of = 0, hits = 0;
  auto drain = [&] {
    DrainAccessRing(*ring, [&](const Access& a) {
      sketch.Add(a.hash, a.key.empty() ? kAccessHitSample : 1);
      if (a.key.empty()) return;
      fill.SetBytes(a.key);
      if (ShouldFill(cache, sketch, fill)) cache.Put(fill, "record", 1, &sketch);
    });
  };
  for (std::uint32_t i = 0; i < warmup + measured; ++i) {
    key.Set("default", "kv", "k" + std::to_string(zipf.Next(rng) * 2654435761ull % 1000000ull));
    if (cache.Get(key, &record, &as_of) == CacheLookup::kHit) {
      reporter.Hit(key);
      if (i >= warmup) ++hits;
    } else {
      reporter.Miss(key);
    }
    if (i % 256 == 255) drain();
  }
  CHECK(dropped.load() == 0);
  return static_cast<double>(hits) / measured;
}

}  // namespace

TEST_CASE("AccessReporter and DrainAccessRing carry misses with keys and sampled hits",
          "[shm][cache]") {
  auto ring = std::make_unique<AccessRing>();
  AtomicU64 dropped{0};
  AccessReporter reporter(ring.get(), &dropped);
  reporter.Miss(Key("a"));
  for (std::uint32_t i = 0; i < kAccessHitSample * 2; ++i) reporter.Hit(Key("b"));
  reporter.Miss(Key(std::string(kAccessKeyBytes, 'x')));  // too long with its prefix: not sent
  std::vector<std::pair<std::uint64_t, std::string>> seen;
  CHECK(DrainAccessRing(
            *ring, [&](const Access& a) { seen.emplace_back(a.hash, std::string(a.key)); }) == 3);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == std::pair(Key("a").hash(), std::string(Key("a").bytes())));
  CHECK(seen[1] == std::pair(Key("b").hash(), std::string()));
  CHECK(seen[2] == seen[1]);
  CHECK(DrainAccessRing(*ring, [](const Access&) { FAIL("drained twice"); }) == 0);

  // A full ring drops (and counts) instead of overwriting what the projector has not read.
  for (std::uint32_t i = 0; i < kAccessRingEntries + 5; ++i) reporter.Miss(Key("k"));
  CHECK(dropped.load() == 5);
  std::size_t n = 0;
  DrainAccessRing(*ring, [&](const Access& a) { n += a.key == Key("k").bytes(); });
  CHECK(n == kAccessRingEntries);

  // A garbled entry (a reader is trusted no further than its ring) is skipped.
  reporter.Miss(Key("c"));
  ring->entries[(ring->produced.load() - 1) % kAccessRingEntries].key_bytes.store(1 << 20);
  CHECK(DrainAccessRing(*ring, [](const Access&) { FAIL("garbled entry read"); }) == 1);
  // A `produced` behind `consumed` (a bug, or a reset) resyncs instead of reading 2^64 entries.
  ring->consumed.store(ring->produced.load() + 100);
  AccessReporter restarted(ring.get(), &dropped);
  restarted.Miss(Key("d"));
  n = 0;
  DrainAccessRing(*ring, [&](const Access& a) { n += a.key == Key("d").bytes(); });
  CHECK(n == 1);
}

TEST_CASE("AccessSketch estimates counts, never under, and halves them every period",
          "[shm][cache]") {
  AccessSketch sketch(1024);  // period 40960 counts
  CHECK(sketch.Estimate(Key("a").hash()) == 0);
  for (int i = 0; i < 100; ++i) sketch.Add(Key("a").hash(), 1);
  sketch.Add(Key("b").hash(), 8);
  CHECK(sketch.Estimate(Key("a").hash()) >= 100);
  CHECK(sketch.Estimate(Key("b").hash()) >= 8);
  CHECK(sketch.Estimate(Key("b").hash()) < 100);
  for (int i = 0; i < 300; ++i) sketch.Add(Key("a").hash(), 1);
  CHECK(sketch.Estimate(Key("a").hash()) == 255);  // saturates
  // Past the period every count halves: old popularity fades.
  for (int i = 0; sketch.Estimate(Key("a").hash()) == 255 && i < 100000; ++i)
    sketch.Add(Key("z" + std::to_string(i)).hash(), 1);
  CHECK(sketch.Estimate(Key("a").hash()) <= 128);
}

TEST_CASE("HotCache with an admission keeps the key rated higher in a contested window",
          "[shm][cache]") {
  std::unique_ptr<CacheSlot[]> memory(new CacheSlot[kCacheProbe]());
  HotCache cache(memory.get(), kCacheProbe);  // one window: every key contends
  AccessSketch sketch(kCacheProbe);
  for (std::uint32_t i = 0; i < kCacheProbe; ++i) {
    const CacheKey k = Key("hot" + std::to_string(i));
    sketch.Add(k.hash(), 10);
    CHECK(cache.Put(k, "r", 1, &sketch) == 1);
  }
  const CacheKey cold = Key("cold");
  sketch.Add(cold.hash(), 1);
  CHECK_FALSE(cache.Admits(cold, sketch));
  CHECK(cache.Put(cold, "r", 2, &sketch) == 0);  // every incumbent is read more
  std::string record;
  std::uint64_t as_of = 0;
  CHECK(cache.Get(cold, &record, &as_of) == CacheLookup::kMiss);
  const CacheKey hotter = Key("hotter");
  sketch.Add(hotter.hash(), 50);
  CHECK(cache.Admits(hotter, sketch));
  CHECK(cache.Put(hotter, "r", 3, &sketch) == 1);
  CHECK(cache.Get(hotter, &record, &as_of) == CacheLookup::kHit);
  // A key already cached is updated whatever its rating (it must never go stale) and is not
  // "admitted" again.
  CHECK_FALSE(cache.Admits(hotter, sketch));
  CHECK(cache.Put(hotter, "r2", 4, &sketch) == 1);
  REQUIRE(cache.Get(hotter, &record, &as_of) == CacheLookup::kHit);
  CHECK(record == "r2");
}

TEST_CASE("the fill policy's hit ratio under zipf 0.99 is within 5 points of an ideal cache",
          "[shm][cache]") {
  const Zipf zipf(1000000, 0.99);
  for (std::uint32_t slots : {16384u, 262144u}) {
    CAPTURE(slots);
    const double ideal = zipf.Ideal(slots);
    const double measured = SimulatedHitRatio(slots, zipf, 40 * slots, 2000000);
    CAPTURE(ideal, measured);
    CHECK(measured >= ideal - 0.05);
  }
}

}  // namespace cqrs::shm
