// Layout of the read store (<data>/read), built by the projector from the event log and read by
// the readers. A change to any of it bumps kReadStoreFormatVersion (an older store is refused:
// remove it and it is rebuilt from the log). Its commits are not fsynced by default; see
// ReadStore for how a machine crash is handled.
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
//   indexes         MDB_DUPSORT; index id (u32 BE) ++ ordered value (store/ordered_value.h) →
//                   entity key, one duplicate per entity: a Find is a cursor walk in (value,
//                   key) order. An entity without the field has no entry.
//   aggregates      aggregate id (u32 BE) ++ ordered group value → AggregateCell (24 bytes):
//                   entities in the group and the sums of the summed field; a group whose count
//                   falls to 0 is removed. A string or bytes group over kMaxOrderedBytes is
//                   keyed by its first bytes, a hash and a chain number, with the whole value
//                   after the cell (store/aggregate_group.h)
// Index and aggregate ids are namespace ids (store/namespaces.h) of the names
// "<collection>#i.<field>" and "<collection>#a.<aggregate>", which no collection can have.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/value.h"
#include "store/key_format.h"

namespace cqrs::store {

inline constexpr std::uint32_t kReadStoreFormatVersion = 3;  // 3: long aggregate groups kept whole

inline constexpr const char kMetaAppliedSeq[] = "applied_seq";
inline constexpr const char kMetaAppliedEvents[] = "applied_events";
inline constexpr const char kMetaWriteStoreId[] = "write_store_id";

inline constexpr const char kMetaReadModels[] = "read_models";

// An aggregate group's value: count (u64 LE), the sum of int values (i64 LE, wrapping) and the
// sum of double values (f64 LE); the group's sum is their total.
struct AggregateCell {
  std::uint64_t count = 0;
  std::int64_t int_sum = 0;
  double double_sum = 0;
  static constexpr std::size_t kBytes = 24;
  double sum() const { return static_cast<double>(int_sum) + double_sum; }
};
void EncodeAggregateCell(const AggregateCell& cell, char out[AggregateCell::kBytes]);
// Counts an entity into (delta +1) or out of (-1) the cell, with its summed value (ints and
// doubles are summed, other types are not). Int sums wrap instead of overflowing.
void AdjustAggregateCell(AggregateCell* cell, int delta, const ValueView& summed);
bool DecodeAggregateCell(std::string_view bytes, AggregateCell* cell);

// The name a read model's id is interned under: "<collection>#i.<field>" for an index,
// "<collection>#a.<aggregate>" for an aggregate.
inline constexpr char kIndexModel = 'i';
inline constexpr char kAggregateModel = 'a';
inline void ReadModelName(std::string_view collection, char kind, std::string_view name,
                          std::string* out) {
  out->assign(collection).append(1, '#').append(1, kind).append(1, '.').append(name);
}

inline KeyBuffer CollectionLogKey(std::uint32_t ns, std::uint64_t seq) {
  KeyBuffer k;
  k.U32(ns).U64(seq);
  return k;
}

}  // namespace cqrs::store
