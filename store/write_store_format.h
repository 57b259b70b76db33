// Layout of the write store (<data>/write): two LMDB environments and their databases. The
// event log is the source of truth and the only one fsynced per batch; the entity state is a
// cache of it, derived by applying events (store/event_record.h) and never fsynced per batch.
// A change to any layout bumps kWriteStoreFormatVersion; Open() refuses a store of another one.
//
// <data>/write/log   (store/write_store.h)
//   meta      "format"   → u32 LE kWriteStoreFormatVersion
//             "store_id" → 16 random bytes, fixed at creation
//             "last_seq" → u64 LE, seq of the last event (0: none); same txn as the events
//             "first_seq" → u64 LE, seq of the first event the log still holds; absent: 1.
//                        Written with each removal of events below it (writer/log_retention.h),
//                        which never removes the last event
//             "next_ns"  → u32 LE, next namespace id to hand out (store/namespaces.h)
//             "copy_of"  → a read replica's copy only: the NATS stream it is copied from
//             "stream_seq" → a copy only: u64 LE, the stream message holding event last_seq;
//                        same txn as the events (the replica's checkpoint)
//   names     tenant ++ 0x00 ++ collection → u32 LE namespace id (collection "" is the tenant's
//             own namespace, used for its clients' idempotency records; store/namespaces.h)
//   counters  ns (u32 BE) → u64 LE, last collection_seq of that namespace
//   events    seq (u64 BE) → Event FlatBuffer, identifier "CQE1", event format kEventFormat;
//             appended with MDB_APPEND
//   clients   ClientKey = tenant ns (u32 BE) ++ u8 n ++ principal[n] ++ u8 m ++ client_id[m]
//             → u64 LE last definite request id ++ u64 LE wall ns of its last request
//             (idempotency is per authenticated principal: "" when security is off)
//   replies   ClientKey ++ request id (u64 BE) → CommandReply FlatBuffer ("CQR1") as originally
//             sent; the last `remembered_replies` ids of a client are kept
//
// <data>/write/state  (store/state_store.h)
//   meta      "format"    → u32 LE kWriteStoreFormatVersion
//             "store_id"  → the log's store_id (a state of another log is discarded)
//             "state_seq" → u64 LE, the last event applied to `entities`; same txn
//   entities  ns (u32 BE) ++ key → entity record (store/record_format.h); a delete leaves a
//             tombstone so the next create continues the key's versions
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"
#include "store/key_format.h"
#include "store/namespaces.h"

namespace cqrs::store {

// 1: one environment holding entities, events and idempotency records by tenant (until
// 2026-12). 2: log and state apart, idempotency records by principal.
inline constexpr std::uint32_t kWriteStoreFormatVersion = 2;

inline constexpr const char kMetaFormat[] = "format";
inline constexpr const char kMetaStoreId[] = "store_id";
inline constexpr const char kMetaLastSeq[] = "last_seq";
inline constexpr const char kMetaFirstSeq[] = "first_seq";
inline constexpr const char kMetaStateSeq[] = "state_seq";
inline constexpr const char kMetaCopyOf[] = "copy_of";
inline constexpr const char kMetaStreamSeq[] = "stream_seq";

inline KeyBuffer NamespaceCounterKey(std::uint32_t ns) {
  KeyBuffer k;
  k.U32(ns);
  return k;
}

// At most 4 + 1 + 64 (principal names, security/keys.h) + 1 + 255 + 8 bytes: within LMDB's
// 511-byte keys.
inline KeyBuffer ClientKey(std::uint32_t tenant_ns, std::string_view principal,
                           std::string_view client_id) {
  KeyBuffer k;
  k.U32(tenant_ns)
      .U8(static_cast<std::uint8_t>(principal.size()))
      .Bytes(principal)
      .U8(static_cast<std::uint8_t>(client_id.size()))
      .Bytes(client_id);
  return k;
}

inline KeyBuffer ReplyKey(const KeyBuffer& client, std::uint64_t request_id) {
  KeyBuffer k = client;
  k.U64(request_id);
  return k;
}

// The value of a `clients` record.
struct ClientRecord {
  std::uint64_t last_request_id = 0;
  std::uint64_t last_used_ns = 0;
};

struct ClientRecordValue {
  explicit ClientRecordValue(const ClientRecord& r) {
    PutU64LE(reinterpret_cast<std::uint8_t*>(bytes), r.last_request_id);
    PutU64LE(reinterpret_cast<std::uint8_t*>(bytes + 8), r.last_used_ns);
  }
  std::string_view view() const { return {bytes, 16}; }
  char bytes[16];
};

// Internal if `value` is not 16 bytes.
inline Status ReadClientRecord(std::string_view value, ClientRecord* out) {
  if (value.size() != 16)
    return Error(Code::kInternal, "clients record of {} bytes, expected 16", value.size());
  const auto* p = reinterpret_cast<const std::uint8_t*>(value.data());
  out->last_request_id = GetU64LE(p);
  out->last_used_ns = GetU64LE(p + 8);
  return OkStatus();
}

}  // namespace cqrs::store
