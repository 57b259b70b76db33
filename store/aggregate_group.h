// Where an aggregate's group lives in the read store's `aggregates` database, and what it holds
// (read_store_format.h). A group value short enough for a key is its own key; a longer string or
// bytes value (over kMaxOrderedBytes) cannot be, so its key is its first kMaxOrderedBytes, a
// stable hash of the whole value and a chain number, and the whole value is stored beside the
// cell: two values that share their first bytes stay two groups, and each is returned whole.
//
//   short group   id (u32 BE) ++ ordered value (≤ 1 + kMaxOrderedBytes)  → cell (24 bytes)
//   long group    id (u32 BE) ++ tag ++ first kMaxOrderedBytes ++ FNV-1a 64 of the whole value
//                 (u64 BE) ++ chain (u16 BE)                           → cell ++ whole value
// Values with the same first bytes and hash (only a crafted collision) take chain 0, 1, ...;
// a lookup walks the chain comparing whole values. Groups sharing their first kMaxOrderedBytes
// are returned in hash order among themselves.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"
#include "base/value.h"
#include "store/key_format.h"
#include "store/lmdb.h"
#include "store/read_store_format.h"

namespace cqrs::store {

// The key and stored cell of one group, as FindAggregateGroup found it.
struct AggregateGroupSlot {
  KeyBuffer key;       // the group's key: found, or the one it is to be stored under
  AggregateCell cell;  // zero when not found
  bool found = false;
};

// Whether `group` is stored in the long form.
bool IsLongAggregateGroup(const ValueView& group);

// Finds the entry of `group` (not kNone) of aggregate `id`. OK whether found or not; Internal
// for a malformed entry; LMDB errors as they come. Does not allocate.
Status FindAggregateGroup(const Txn& txn, Dbi aggregates, std::uint32_t id, const ValueView& group,
                          AggregateGroupSlot* slot);

// Stores `slot.cell` for `group` under `slot.key`, or removes the entry when its count is 0.
// Allocates only for a long group (the cell and the value in one buffer).
Status PutAggregateGroup(Txn& txn, Dbi aggregates, const AggregateGroupSlot& slot,
                         const ValueView& group);

// Decodes one entry: `key` without its aggregate id, `value` as stored. Views point into the
// entry (valid as long as the transaction that read it). False if malformed.
bool DecodeAggregateGroup(std::string_view key, std::string_view value, ValueView* group,
                          AggregateCell* cell);

}  // namespace cqrs::store
