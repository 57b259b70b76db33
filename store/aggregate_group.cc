// Aggregate group entries: short groups keyed by value, long ones by prefix, hash and chain.
#include "store/aggregate_group.h"

#include <string>

#include "base/hash.h"
#include "store/ordered_value.h"

namespace cqrs::store {
namespace {

// Tag, cut value, hash, chain: the part of a long group's key after the aggregate id.
constexpr std::size_t kLongKeyBytes = 1 + kMaxOrderedBytes + 8 + 2;
static_assert(4 + kLongKeyBytes <= kMaxLmdbKeyBytes);

bool IsBytesLike(const ValueView& v) {
  return v.type == ValueType::kString || v.type == ValueType::kBytes;
}

}  // namespace

bool IsLongAggregateGroup(const ValueView& group) {
#ifdef CQRS_MISTAKE_AGGREGATE_GROUP_CUT  // the injected mistake of issue #15 (make mistakes)
  return false;
#endif
  return IsBytesLike(group) && group.bytes.size() > kMaxOrderedBytes;
}

Status FindAggregateGroup(const Txn& txn, Dbi aggregates, std::uint32_t id, const ValueView& group,
                          AggregateGroupSlot* slot) {
  slot->key.Clear();
  slot->key.U32(id);
  slot->cell = AggregateCell();
  slot->found = false;
  AppendOrderedValue(group, &slot->key);  // a long value: tag and its first kMaxOrderedBytes
  if (!IsLongAggregateGroup(group)) {
    std::string_view stored;
    Status s = txn.Get(aggregates, slot->key.view(), &stored);
    if (s.code() == Code::kNotFound) return OkStatus();
    CQRS_RETURN_IF_ERROR(s);
    if (!DecodeAggregateCell(stored, &slot->cell))
      return Status(Code::kInternal, "aggregate cell of the wrong size");
    slot->found = true;
    return OkStatus();
  }
  slot->key.U64(Fnv1a64(group.bytes));
  const std::size_t chain_at = slot->key.size();
  // Walk the chain of this prefix and hash: the whole value decides.
  auto cursor = Cursor::Open(txn, aggregates);
  if (!cursor.ok()) return cursor.status();
  const std::string_view base = slot->key.view();
  std::string_view k = base, v;
  std::uint32_t next_chain = 0;
  Status s = cursor->Get(MDB_SET_RANGE, &k, &v);
  for (; s.ok() && k.size() == chain_at + 2 && k.substr(0, chain_at) == base;
       s = cursor->Get(MDB_NEXT, &k, &v)) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(k.data()) + chain_at;
    const std::uint32_t chain = (std::uint32_t{p[0]} << 8) | p[1];
    next_chain = chain + 1;
    if (v.size() < AggregateCell::kBytes ||
        !DecodeAggregateCell(v.substr(0, AggregateCell::kBytes), &slot->cell))
      return Status(Code::kInternal, "aggregate cell of the wrong size");
    if (v.substr(AggregateCell::kBytes) == group.bytes) {
      slot->key.U8(p[0]).U8(p[1]);
      slot->found = true;
      return OkStatus();
    }
  }
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  if (next_chain > 0xffff)
    return Status(Code::kInternal, "more than 65536 aggregate groups share a prefix and hash");
  slot->cell = AggregateCell();
  slot->key.U8(static_cast<std::uint8_t>(next_chain >> 8))
      .U8(static_cast<std::uint8_t>(next_chain));
  return OkStatus();
}

Status PutAggregateGroup(Txn& txn, Dbi aggregates, const AggregateGroupSlot& slot,
                         const ValueView& group) {
  if (slot.cell.count == 0) {
    Status s = txn.Del(aggregates, slot.key.view());
    return s.code() == Code::kNotFound ? OkStatus() : s;
  }
  char bytes[AggregateCell::kBytes];
  EncodeAggregateCell(slot.cell, bytes);
  if (!IsLongAggregateGroup(group))
    return txn.Put(aggregates, slot.key.view(), {bytes, sizeof bytes});
  std::string value(bytes, sizeof bytes);
  value.append(group.bytes);
  return txn.Put(aggregates, slot.key.view(), value);
}

bool DecodeAggregateGroup(std::string_view key, std::string_view value, ValueView* group,
                          AggregateCell* cell) {
  if (key.size() != kLongKeyBytes) {
    return value.size() == AggregateCell::kBytes && DecodeOrderedValue(key, group) &&
           DecodeAggregateCell(value, cell);
  }
  if (value.size() <= AggregateCell::kBytes + kMaxOrderedBytes ||
      !DecodeAggregateCell(value.substr(0, AggregateCell::kBytes), cell) ||
      !DecodeOrderedValue(key.substr(0, 1), group) || !IsBytesLike(*group))
    return false;
  group->bytes = value.substr(AggregateCell::kBytes);
  return true;
}

}  // namespace cqrs::store
