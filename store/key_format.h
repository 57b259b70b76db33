// Byte encodings of LMDB keys shared by the write and read stores. Big-endian integers so that
// LMDB's byte order is numeric order; fixed-capacity buffers so encoding never allocates.
//
//   namespace id   u32 BE          one per (tenant, collection); collection "" is the tenant's own
//   entity key     ns(4) ++ key    key bytes as sent, so a collection's keys sort as byte strings
//   seq key        u64 BE
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/check.h"

namespace cqrs::store {

inline constexpr std::size_t kMaxLmdbKeyBytes = 511;

inline void PutU32BE(std::uint8_t* p, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
inline void PutU64BE(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
inline std::uint32_t GetU32BE(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t GetU64BE(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
inline void PutU64LE(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
inline std::uint64_t GetU64LE(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A key under construction, at most LMDB's maximum key size. Appending past it is a bug
// (validation bounds every input first).
class KeyBuffer {
 public:
  KeyBuffer& U32(std::uint32_t v) {
    Grow(4);
    PutU32BE(bytes_.data() + size_, v);
    size_ += 4;
    return *this;
  }
  KeyBuffer& U64(std::uint64_t v) {
    Grow(8);
    PutU64BE(bytes_.data() + size_, v);
    size_ += 8;
    return *this;
  }
  KeyBuffer& U8(std::uint8_t v) {
    Grow(1);
    bytes_[size_++] = v;
    return *this;
  }
  KeyBuffer& Bytes(std::string_view s) {
    Grow(s.size());
    if (!s.empty()) std::memcpy(bytes_.data() + size_, s.data(), s.size());
    size_ += s.size();
    return *this;
  }
  void Clear() { size_ = 0; }
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes_.data()), size_}; }
  std::size_t size() const { return size_; }

 private:
  void Grow(std::size_t n) {
    CQRS_CHECK(size_ + n <= bytes_.size());  // kMaxLmdbKeyBytes
  }
  std::array<std::uint8_t, kMaxLmdbKeyBytes> bytes_;
  std::size_t size_ = 0;
};

inline KeyBuffer EntityKey(std::uint32_t ns, std::string_view key) {
  KeyBuffer k;
  k.U32(ns).Bytes(key);
  return k;
}

inline KeyBuffer SeqKey(std::uint64_t seq) {
  KeyBuffer k;
  k.U64(seq);
  return k;
}

inline std::uint64_t DecodeSeqKey(std::string_view key) {
  CQRS_CHECK(key.size() == 8);
  return GetU64BE(reinterpret_cast<const std::uint8_t*>(key.data()));
}

}  // namespace cqrs::store
