// The hot cache's seqlock: Boehm's pattern ("Can seqlocks get along with programming language
// memory models?", 2012) with every shared word a std::atomic, so a torn read is detected and
// never undefined behaviour.
#include "shm/hot_cache.h"

#include <algorithm>
#include <cstring>

namespace cqrs::shm {
namespace {

std::uint64_t Load64(const char* p, std::size_t n) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

std::uint64_t Mix(std::uint64_t k) {
  k *= 0xbf58476d1ce4e5b9ull;
  k ^= k >> 31;
  return k * 0x94d049bb133111ebull;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

std::uint64_t CacheHash(std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
  for (; n >= 8; p += 8, n -= 8) h = (h ^ Mix(Load64(p, 8))) * 0x100000001b3ull;
  if (n > 0) {
    // The last n bytes: one 8-byte load ending at the end when the key has 8 bytes before it
    // (little-endian: they are its high bytes), else byte by byte.
    const std::uint64_t tail =
        bytes.size() >= 8 ? Load64(p + n - 8, 8) >> (64 - 8 * n) : Load64(p, n);
    h = (h ^ Mix(tail)) * 0x100000001b3ull;
  }
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return h == 0 ? 1 : h;
}

void CacheKey::Set(std::string_view tenant, std::string_view collection, std::string_view key) {
  bytes_.assign(tenant).push_back('\0');
  bytes_.append(collection).push_back('\0');
  bytes_.append(key);
  hash_ = CacheHash(bytes_);
}

void CacheKey::SetBytes(std::string_view bytes) {
  bytes_.assign(bytes);
  hash_ = CacheHash(bytes_);
}

bool CacheKey::Split(std::string_view* tenant, std::string_view* collection,
                     std::string_view* key) const {
  const std::string_view b = bytes_;
  const std::size_t a = b.find('\0');
  if (a == std::string_view::npos) return false;
  const std::size_t c = b.find('\0', a + 1);
  if (c == std::string_view::npos) return false;
  *tenant = b.substr(0, a);
  *collection = b.substr(a + 1, c - a - 1);
  *key = b.substr(c + 1);
  return true;
}

CacheLookup HotCache::Get(const CacheKey& key, std::string* record, std::uint64_t* as_of) const {
  if (!enabled()) return CacheLookup::kMiss;
  const std::uint64_t h = key.hash();
  const std::string_view want = key.bytes();
  std::uint64_t words[kCachePayloadWords];
  for (std::uint32_t p = 0; p < kCacheProbe; ++p) {
    const CacheSlot& s = slot(h + p);
    for (int attempt = 0;; ++attempt) {
      if (attempt == kCacheSpinBudget) return CacheLookup::kBusy;
      const std::uint64_t s1 = s.seq.load(std::memory_order_acquire);
      if (s1 & 1) {
        CpuRelax();
        continue;
      }
      const std::uint64_t hash = s.hash.load(std::memory_order_relaxed);
      const std::uint64_t at = s.as_of.load(std::memory_order_relaxed);
      const std::uint64_t lengths = s.lengths.load(std::memory_order_relaxed);
      const auto key_size = static_cast<std::uint32_t>(lengths);
      const auto record_size = static_cast<std::uint32_t>(lengths >> 32);
      const bool candidate = hash == h && key_size == want.size() &&
                             std::uint64_t{key_size} + record_size <= kCachePayloadBytes;
      const std::uint32_t n = candidate ? (key_size + record_size + 7) / 8 : 0;
      for (std::uint32_t w = 0; w < n; ++w) words[w] = s.payload[w].load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.seq.load(std::memory_order_relaxed) != s1) continue;  // torn: read again
      if (!candidate) break;                                      // another key: next slot
      const char* bytes = reinterpret_cast<const char*>(words);
      if (std::string_view(bytes, key_size) != want) break;
      record->assign(bytes + key_size, record_size);
      *as_of = at;
      return CacheLookup::kHit;
    }
  }
  return CacheLookup::kMiss;
}

CacheSlot* HotCache::Find(const CacheKey& key) const {
  const std::string_view want = key.bytes();
  for (std::uint32_t p = 0; p < kCacheProbe; ++p) {
    CacheSlot& s = slot(key.hash() + p);
    if (s.hash.load(std::memory_order_relaxed) != key.hash()) continue;
    const std::uint64_t lengths = s.lengths.load(std::memory_order_relaxed);
    if (static_cast<std::uint32_t>(lengths) != want.size()) continue;
    char bytes[kCachePayloadBytes];
    const std::uint32_t n = (static_cast<std::uint32_t>(want.size()) + 7) / 8;
    for (std::uint32_t w = 0; w < n; ++w) {
      const std::uint64_t v = s.payload[w].load(std::memory_order_relaxed);
      std::memcpy(bytes + w * 8, &v, 8);
    }
    if (std::string_view(bytes, want.size()) == want) return &s;
  }
  return nullptr;
}

void HotCache::Write(CacheSlot& s, std::uint64_t hash, std::uint64_t as_of, std::string_view key,
                     std::string_view record) {
  const std::uint64_t seq = s.seq.load(std::memory_order_relaxed);
  s.seq.store(seq | 1, std::memory_order_relaxed);  // odd: being written
  std::atomic_thread_fence(std::memory_order_release);
  s.hash.store(hash, std::memory_order_relaxed);
  s.as_of.store(as_of, std::memory_order_relaxed);
  s.lengths.store(key.size() | (std::uint64_t{record.size()} << 32), std::memory_order_relaxed);
  char bytes[kCachePayloadBytes] = {};
  if (!key.empty()) std::memcpy(bytes, key.data(), key.size());  // an empty view may be null
  if (!record.empty()) std::memcpy(bytes + key.size(), record.data(), record.size());
  const std::size_t words = (key.size() + record.size() + 7) / 8;
  for (std::size_t w = 0; w < words; ++w) {
    std::uint64_t v = 0;
    std::memcpy(&v, bytes + w * 8, 8);
    s.payload[w].store(v, std::memory_order_relaxed);
  }
  s.seq.store((seq | 1) + 1, std::memory_order_release);  // even again, one step on
}

CacheSlot* HotCache::Victim(const CacheKey& key, const CacheAdmission* admission,
                            std::uint32_t* rating) const {
  // An empty slot in the window, else the one rated lowest (ties: written longest ago).
  CacheSlot* target = nullptr;
  std::uint32_t target_rating = 0;
  for (std::uint32_t p = 0; p < kCacheProbe; ++p) {
    CacheSlot& s = slot(key.hash() + p);
    const std::uint64_t hash = s.hash.load(std::memory_order_relaxed);
    if (hash == 0) {
      target = &s;
      target_rating = 0;
      break;
    }
    const std::uint32_t r = admission ? admission->Estimate(hash) : 0;
    if (target == nullptr || r < target_rating ||
        (r == target_rating &&
         s.as_of.load(std::memory_order_relaxed) < target->as_of.load(std::memory_order_relaxed))) {
      target = &s;
      target_rating = r;
    }
  }
  *rating = target->hash.load(std::memory_order_relaxed) == 0 ? 0 : target_rating;
  return target;
}

int HotCache::Put(const CacheKey& key, std::string_view record, std::uint64_t as_of,
                  const CacheAdmission* admission) {
  if (!enabled()) return 0;
  if (key.bytes().size() + record.size() > kCachePayloadBytes) return Erase(key);
  CacheSlot* target = Find(key);
  if (target == nullptr) {
    std::uint32_t rating = 0;
    target = Victim(key, admission, &rating);
    if (admission != nullptr && target->hash.load(std::memory_order_relaxed) != 0 &&
        admission->Estimate(key.hash()) < rating)
      return 0;  // the incumbent is read more
  }
  Write(*target, key.hash(), as_of, key.bytes(), record);
  return 1;
}

bool HotCache::Admits(const CacheKey& key, const CacheAdmission& admission) const {
  if (!enabled() || key.bytes().size() >= kCachePayloadBytes || Find(key) != nullptr) return false;
  std::uint32_t rating = 0;
  const CacheSlot* target = Victim(key, &admission, &rating);
  return target->hash.load(std::memory_order_relaxed) == 0 ||
         admission.Estimate(key.hash()) > rating;
}

int HotCache::Erase(const CacheKey& key) {
  if (!enabled()) return 0;
  CacheSlot* s = Find(key);
  if (s == nullptr) return 0;
  Write(*s, 0, 0, {}, {});
  return 1;
}

std::uint32_t HotCache::Clear() {
  for (std::uint32_t i = 0; i < slot_count(); ++i) Write(slots_[i], 0, 0, {}, {});
  return slot_count();
}

std::uint32_t HotCache::CountMidWrite() const {
  std::uint32_t odd = 0;
  for (std::uint32_t i = 0; i < slot_count(); ++i)
    odd += static_cast<std::uint32_t>(slots_[i].seq.load(std::memory_order_relaxed) & 1);
  return odd;
}

}  // namespace cqrs::shm
