// Namespace ids: each (tenant, collection) pair is interned into a 4-byte id that prefixes its
// keys (LMDB keys are at most 511 bytes, so the prefix must be short). The write store and the
// read store each keep their own table with this layout:
//   names  tenant ++ 0x00 ++ collection → u32 LE id   (collection "" is the tenant's own)
//   meta   "next_ns" → u32 LE, the next id to hand out (ids start at 1)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/result.h"
#include "store/key_format.h"
#include "store/lmdb.h"

namespace cqrs::store {

inline constexpr const char kMetaNextNs[] = "next_ns";

inline KeyBuffer NameKey(std::string_view tenant, std::string_view collection) {
  KeyBuffer k;
  k.Bytes(tenant).U8(0).Bytes(collection);
  return k;
}

// The interning table of one store: its `names` and `meta` databases.
struct NamespaceTable {
  Dbi names;
  Dbi meta;

  // Writes meta.next_ns = 1 if absent (a new store).
  Status Init(Txn& txn) const;
  // The id of (tenant, collection); NotFound if never interned.
  Status Lookup(const Txn& txn, std::string_view tenant, std::string_view collection,
                std::uint32_t* ns) const;
  // As Lookup, allocating the next id when absent (write txn).
  Status Intern(Txn& txn, std::string_view tenant, std::string_view collection,
                std::uint32_t* ns) const;
  // Every id → its name, tenant ++ 0x00 ++ collection.
  Status ReadAll(const Txn& txn, std::unordered_map<std::uint32_t, std::string>* out) const;
};

// Splits a name of ReadAll into tenant and collection; false if it has no 0x00.
inline bool SplitName(std::string_view name, std::string_view* tenant,
                      std::string_view* collection) {
  const std::size_t nul = name.find('\0');
  if (nul == std::string_view::npos) return false;
  *tenant = name.substr(0, nul);
  *collection = name.substr(nul + 1);
  return true;
}

// Reads a little-endian u32/u64 value; Internal naming `what` if the size is wrong.
Status ReadU32(std::string_view value, std::uint32_t* out, std::string_view what);
Status ReadU64(std::string_view value, std::uint64_t* out, std::string_view what);
// The u64 LE value of `meta_key` in `meta`; `what` names it in errors ("meta.last_seq").
Result<std::uint64_t> GetMetaU64(const Txn& txn, Dbi meta, std::string_view meta_key,
                                 std::string_view what);

// 4/8-byte little-endian values for Put.
struct U32Value {
  explicit U32Value(std::uint32_t v);
  std::string_view view() const { return {bytes, 4}; }
  char bytes[4];
};
struct U64Value {
  explicit U64Value(std::uint64_t v);
  std::string_view view() const { return {bytes, 8}; }
  char bytes[8];
};

}  // namespace cqrs::store
