// A process on either side of the hot cache's seqlock, for the kill -9 test
// (tests/process/cache_kill_test.cc):
//   cache_torture writer DIR [COUNT]   repairs the cache (as a restarted projector does), prints
//                                      "ready", then Puts COUNT checksummed records (default:
//                                      until killed) over 16 hot keys
//   cache_torture reader DIR SECONDS   Gets the 16 keys for SECONDS and checks every record it
//                                      accepts; prints "hits=H busy=B torn=T"; exits 1 if T > 0
// A record is 8 bytes of checksum of the rest, then 8 to 400 bytes drawn from the writer's
// counter: any mix of two writes fails the checksum.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "shm/control_block.h"

using namespace cqrs::shm;

namespace {

constexpr int kKeys = 16;
constexpr std::uint32_t kSlots = 64;

std::uint64_t Checksum(std::string_view bytes) { return CacheHash(bytes); }

int Writer(const std::string& dir, std::uint64_t count) {
  auto control = ControlBlock::Attach(dir, kSlots);
  if (!control.ok()) return 2;
  HotCache& cache = control->cache();
  const std::uint32_t repaired = cache.Clear();
  std::printf("ready %u\n", repaired);
  std::fflush(stdout);
  std::mt19937_64 rng(static_cast<std::uint64_t>(getpid()));
  CacheKey keys[kKeys];
  for (int k = 0; k < kKeys; ++k) keys[k].Set("default", "torture", "k" + std::to_string(k));
  // Records drawn up front: the loop is all Put, so a kill mostly lands inside a slot's write.
  std::vector<std::string> records(256);
  for (std::string& record : records) {
    const std::size_t n = 8 + rng() % 393;
    record.assign(8, '\0');
    for (std::size_t b = 0; b < n; ++b) record.push_back(static_cast<char>(rng()));
    const std::uint64_t sum = Checksum(std::string_view(record).substr(8));
    std::memcpy(record.data(), &sum, 8);
  }
  for (std::uint64_t i = 1; i <= count; ++i)
    cache.Put(keys[i % kKeys], records[(i * 7) % records.size()], i);
  return 0;
}

int Reader(const std::string& dir, double seconds) {
  auto control = ControlBlock::Attach(dir, kSlots);
  if (!control.ok()) return 2;
  const HotCache& cache = control->cache();
  CacheKey keys[kKeys];
  for (int k = 0; k < kKeys; ++k) keys[k].Set("default", "torture", "k" + std::to_string(k));
  std::string record;
  std::uint64_t as_of = 0, hits = 0, busy = 0, torn = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (std::uint64_t i = 0; (i & 1023) != 0 || std::chrono::steady_clock::now() < end; ++i) {
    const CacheLookup got = cache.Get(keys[i % kKeys], &record, &as_of);
    if (got == CacheLookup::kBusy) ++busy;
    if (got != CacheLookup::kHit) continue;
    ++hits;
    std::uint64_t sum = 0;
    if (record.size() >= 16) std::memcpy(&sum, record.data(), 8);
    if (record.size() < 16 || sum != Checksum(std::string_view(record).substr(8))) ++torn;
  }
  std::printf("hits=%llu busy=%llu torn=%llu\n", static_cast<unsigned long long>(hits),
              static_cast<unsigned long long>(busy), static_cast<unsigned long long>(torn));
  return torn == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "writer")
    return Writer(argv[2], argc > 3 ? std::stoull(argv[3]) : UINT64_MAX);
  if (argc == 4 && std::string(argv[1]) == "reader") return Reader(argv[2], std::stod(argv[3]));
  std::fprintf(stderr, "usage: cache_torture writer DIR [COUNT] | reader DIR SECONDS\n");
  return 2;
}
