// Layout of the write store (<data>/write): the databases, their keys and values. A change to
// any of them bumps kWriteStoreFormatVersion; Open() refuses a store of another version.
//
//   meta      "format"   → u32 LE kWriteStoreFormatVersion
//             "store_id" → 16 random bytes, fixed at creation
//             "last_seq" → u64 LE, seq of the last event (0: none); same txn as the events
//             "next_ns"  → u32 LE, next namespace id to hand out (store/namespaces.h)
//   names     tenant ++ 0x00 ++ collection → u32 LE namespace id (collection "" is the tenant's
//             own namespace, used for its clients' idempotency records; store/namespaces.h)
//   counters  ns (u32 BE) → u64 LE, last collection_seq of that namespace
//   entities  ns (u32 BE) ++ key → entity record (store/record_format.h)
//   events    seq (u64 BE) → Event FlatBuffer, identifier "CQE1"; appended with MDB_APPEND
//   requests  ns (u32 BE) ++ u8 n ++ client_id[n]             → u64 LE last definite request id
//             ns (u32 BE) ++ u8 n ++ client_id[n] ++ id (u64 BE) → CommandReply FlatBuffer
//             ("CQR1") as originally sent; the last `remembered_replies` ids are kept
#pragma once

#include <cstdint>
#include <string_view>

#include "store/key_format.h"
#include "store/namespaces.h"

namespace cqrs::store {

inline constexpr std::uint32_t kWriteStoreFormatVersion = 1;

inline constexpr const char kMetaFormat[] = "format";
inline constexpr const char kMetaStoreId[] = "store_id";
inline constexpr const char kMetaLastSeq[] = "last_seq";

inline KeyBuffer NamespaceCounterKey(std::uint32_t ns) {
  KeyBuffer k;
  k.U32(ns);
  return k;
}

inline KeyBuffer RequestHeadKey(std::uint32_t tenant_ns, std::string_view client_id) {
  KeyBuffer k;
  k.U32(tenant_ns).U8(static_cast<std::uint8_t>(client_id.size())).Bytes(client_id);
  return k;
}

inline KeyBuffer RequestEntryKey(std::uint32_t tenant_ns, std::string_view client_id,
                                 std::uint64_t request_id) {
  KeyBuffer k = RequestHeadKey(tenant_ns, client_id);
  k.U64(request_id);
  return k;
}

}  // namespace cqrs::store
