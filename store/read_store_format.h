// Layout of the read store (<data>/read), built by the projector from the event log and read by
// the readers. A change to any of it bumps kReadStoreFormatVersion; the store is rebuildable
// from the log, so MDB_NOMETASYNC is enough durability for it.
//
//   meta            "format"          → u32 LE kReadStoreFormatVersion
//                   "applied_seq"     → u64 LE, the checkpoint: seq of the last applied event,
//                                       written in the same transaction as the data it covers
//                   "applied_events"  → u64 LE, events applied (equals applied_seq: an event
//                                       applied twice would make it larger)
//                   "write_store_id"  → the store_id of the write store this one follows
//                   "next_ns"         → u32 LE (store/namespaces.h)
//   names           tenant ++ 0x00 ++ collection → u32 LE namespace id (its own ids)
//   entities        ns (u32 BE) ++ key → entity record (store/record_format.h); a delete removes
//                   the key, so a Scan is a plain cursor walk over live entities
//   collection_log  ns (u32 BE) ++ seq (u64 BE) → empty: the seqs of each collection's events,
//                   so a replay filtered to one collection walks only its own events
#pragma once

#include <cstdint>

#include "store/key_format.h"

namespace cqrs::store {

inline constexpr std::uint32_t kReadStoreFormatVersion = 1;

inline constexpr const char kMetaAppliedSeq[] = "applied_seq";
inline constexpr const char kMetaAppliedEvents[] = "applied_events";
inline constexpr const char kMetaWriteStoreId[] = "write_store_id";

inline KeyBuffer CollectionLogKey(std::uint32_t ns, std::uint64_t seq) {
  KeyBuffer k;
  k.U32(ns).U64(seq);
  return k;
}

}  // namespace cqrs::store
