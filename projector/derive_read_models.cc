// Read models (secondary indexes, aggregates) derived from a read store's entities in bulk.
#include "projector/derive_read_models.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "projector/ordered_writer.h"
#include "store/aggregate_group.h"
#include "store/key_format.h"
#include "store/ordered_value.h"
#include "store/read_store_format.h"
#include "store/record_format.h"

namespace cqrs::projector {
namespace {

// The entity keys of one scan, back to back, numbered in scan (= key) order.
class KeyArena {
 public:
  std::uint32_t Add(std::string_view key) {
    at_.push_back(bytes_.size());
    bytes_.append(key);
    return static_cast<std::uint32_t>(at_.size() - 1);
  }
  std::string_view operator[](std::uint32_t i) const {
    const std::size_t end = i + 1 < at_.size() ? at_[i + 1] : bytes_.size();
    return std::string_view(bytes_).substr(at_[i], end - at_[i]);
  }
  std::size_t bytes() const { return bytes_.size() + at_.size() * sizeof(std::size_t); }
  void Clear() {
    at_.clear();
    bytes_.clear();
  }

 private:
  std::vector<std::size_t> at_;
  std::string bytes_;
};

// One index's entries gathered from a scan of its collection's entities: (value group, entity
// number) in scan order, which is key order, which is LMDB's order of duplicates. Writing sorts
// the distinct index keys and places the entries by counting, so no entry is compared.
class IndexGather {
 public:
  IndexGather(std::uint32_t id, std::string field) : id_(id), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

  void Add(const ValueView& value, std::uint32_t entity) {
    scratch_.Clear();
    scratch_.U32(id_);
    store::AppendOrderedValue(value, &scratch_);
    auto [it, added] = groups_.try_emplace(std::string(scratch_.view()),
                                           static_cast<std::uint32_t>(groups_.size()));
    entries_.push_back({it->second, entity});
  }

  std::size_t bytes() const {
    return entries_.size() * sizeof(Entry) + groups_.size() * (scratch_.view().size() + 64);
  }

  Status Write(store::Txn& txn, store::Dbi dbi, const KeyArena& keys) {
    std::vector<const std::pair<const std::string, std::uint32_t>*> order(groups_.size());
    for (const auto& g : groups_) order[g.second] = &g;
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
    // start[g]: where group g's entries begin in key order of the groups.
    std::vector<std::uint32_t> start(groups_.size() + 1, 0);
    for (const Entry& e : entries_) ++start[e.group + 1];
    std::vector<std::uint32_t> sizes(start.begin() + 1, start.end());
    std::uint32_t at = 0;
    for (const auto* g : order) {
      start[g->second] = at;
      at += sizes[g->second];
    }
    std::vector<std::uint32_t> placed(entries_.size());
    for (const Entry& e : entries_) placed[start[e.group]++] = e.entity;
    auto out = OrderedWriter::Open(txn, dbi, /*dupsort=*/true);
    if (!out.ok()) return out.status();
    std::size_t next = 0;
    for (const auto* g : order)
      for (std::uint32_t i = 0; i < sizes[g->second]; ++i, ++next)
        CQRS_RETURN_IF_ERROR(out->Put(g->first, keys[placed[next]], i > 0));
    groups_.clear();
    entries_.clear();
    return OkStatus();
  }

 private:
  struct Entry {
    std::uint32_t group;
    std::uint32_t entity;
  };
  std::uint32_t id_;
  std::string field_;
  store::KeyBuffer scratch_;
  std::unordered_map<std::string, std::uint32_t> groups_;  // index key → group number
  std::vector<Entry> entries_;
};

// One aggregate's cells gathered from a scan; merged into stored cells when written again.
class AggregateGather {
 public:
  AggregateGather(std::uint32_t id, const AggregateSpec& spec) : id_(id), spec_(spec) {}

  void Add(std::span<const FieldView> fields) {
    const ValueView group = store::FieldByName(fields, spec_.group_by);
    if (group.type == ValueType::kNone) return;
    const ValueView summed =
        spec_.sum.empty() ? ValueView() : store::FieldByName(fields, spec_.sum);
    if (store::IsLongAggregateGroup(group)) {  // rare: kept by whole value, merged one by one
      std::string whole(1, group.type == ValueType::kString ? 's' : 'b');
      whole.append(group.bytes);
      long_bytes_ += whole.size() + 96;
      store::AdjustAggregateCell(&long_cells_[std::move(whole)], +1, summed);
      return;
    }
    scratch_.Clear();
    scratch_.U32(id_);
    store::AppendOrderedValue(group, &scratch_);
    store::AdjustAggregateCell(&cells_[std::string(scratch_.view())], +1, summed);
  }

  std::size_t bytes() const { return cells_.size() * (scratch_.view().size() + 96) + long_bytes_; }

  Status Write(store::Txn& txn, store::Dbi dbi) {
    std::vector<std::pair<std::string, store::AggregateCell>> sorted(cells_.begin(), cells_.end());
    cells_.clear();
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    {
      auto out = OrderedWriter::Open(txn, dbi, /*dupsort=*/false);
      if (!out.ok()) return out.status();
      for (auto& [key, cell] : sorted) {
        if (written_) {  // an earlier write may hold this group already: add to it
          std::string_view stored;
          Status s = txn.Get(dbi, key, &stored);
          store::AggregateCell old;
          if (s.ok() && !store::DecodeAggregateCell(stored, &old))
            return Status(Code::kInternal, "aggregate cell of the wrong size");
          if (!s.ok() && s.code() != Code::kNotFound) return s;
          Merge(old, &cell);
        }
        char bytes[store::AggregateCell::kBytes];
        store::EncodeAggregateCell(cell, bytes);
        CQRS_RETURN_IF_ERROR(out->Put(key, {bytes, sizeof bytes}, false));
      }
    }
    for (const auto& [whole, cell] : long_cells_) {
      const std::string_view bytes = std::string_view(whole).substr(1);
      const ValueView group = whole[0] == 's' ? ValueView::String(bytes) : ValueView::Bytes(bytes);
      CQRS_RETURN_IF_ERROR(store::FindAggregateGroup(txn, dbi, id_, group, &slot_));
      Merge(cell, &slot_.cell);
      CQRS_RETURN_IF_ERROR(store::PutAggregateGroup(txn, dbi, slot_, group));
    }
    long_cells_.clear();
    long_bytes_ = 0;
    written_ = true;
    return OkStatus();
  }

 private:
  static void Merge(const store::AggregateCell& from, store::AggregateCell* into) {
    into->count += from.count;
    into->int_sum = static_cast<std::int64_t>(static_cast<std::uint64_t>(into->int_sum) +
                                              static_cast<std::uint64_t>(from.int_sum));
    into->double_sum += from.double_sum;
  }

  std::uint32_t id_;
  const AggregateSpec& spec_;
  store::KeyBuffer scratch_;
  std::unordered_map<std::string, store::AggregateCell> cells_;
  // Groups too long for a key, by type letter ++ whole value.
  std::map<std::string, store::AggregateCell> long_cells_;
  std::size_t long_bytes_ = 0;
  store::AggregateGroupSlot slot_;
  bool written_ = false;
};

// Derives one namespace's read models from its entities.
Status DeriveNamespace(store::Txn& txn, const store::ReadStore& store, std::string_view tenant,
                       std::uint32_t ns, const CollectionSpec& spec, std::size_t budget_bytes) {
  const store::ReadDbs& dbs = store.dbs();
  std::string name;
  std::vector<IndexGather> indexes;
  std::vector<AggregateGather> aggregates;
  for (const std::string& field : spec.indexes) {
    std::uint32_t id = 0;
    store::ReadModelName(spec.name, store::kIndexModel, field, &name);
    CQRS_RETURN_IF_ERROR(store.namespaces().Intern(txn, tenant, name, &id));
    indexes.emplace_back(id, field);
  }
  for (const AggregateSpec& a : spec.aggregates) {
    std::uint32_t id = 0;
    store::ReadModelName(spec.name, store::kAggregateModel, a.name, &name);
    CQRS_RETURN_IF_ERROR(store.namespaces().Intern(txn, tenant, name, &id));
    aggregates.emplace_back(id, a);
  }
  KeyArena keys;
  auto write_all = [&]() -> Status {
    for (IndexGather& g : indexes) CQRS_RETURN_IF_ERROR(g.Write(txn, dbs.indexes, keys));
    for (AggregateGather& g : aggregates) CQRS_RETURN_IF_ERROR(g.Write(txn, dbs.aggregates));
    keys.Clear();
    return OkStatus();
  };
  auto cursor = store::Cursor::Open(txn, dbs.entities);
  if (!cursor.ok()) return cursor.status();
  store::KeyBuffer prefix;
  prefix.U32(ns);
  std::string_view k = prefix.view(), v;
  std::vector<FieldView> fields;
  for (Status s = cursor->Get(MDB_SET_RANGE, &k, &v);; s = cursor->Get(MDB_NEXT, &k, &v)) {
    if (s.code() == Code::kNotFound) break;
    CQRS_RETURN_IF_ERROR(s);
    if (!k.starts_with(prefix.view())) break;
    const std::string_view key = k.substr(prefix.view().size());
    fields.clear();
    store::RecordFieldReader reader(v);
    FieldView f;
    while (reader.Next(&f)) fields.push_back(f);
    if (!reader.ok())
      return Error(Code::kInternal, "entity '{}' of {} has a malformed record", key, spec.name);
    std::uint32_t entity = UINT32_MAX;  // numbered once some index has it
    for (IndexGather& g : indexes) {
      const ValueView value = store::FieldByName(fields, g.field());
      if (value.type == ValueType::kNone) continue;
      if (entity == UINT32_MAX) entity = keys.Add(key);
      g.Add(value, entity);
    }
    for (AggregateGather& g : aggregates) g.Add(fields);
    std::size_t bytes = keys.bytes();
    for (const IndexGather& g : indexes) bytes += g.bytes();
    for (const AggregateGather& g : aggregates) bytes += g.bytes();
    // Writing leaves the entities cursor where it is (other databases' pages).
    if (bytes > budget_bytes) CQRS_RETURN_IF_ERROR(write_all());
  }
  return write_all();
}

}  // namespace

Status DeriveReadModels(store::ReadStore& store, const std::vector<CollectionSpec>& models,
                        std::size_t budget_bytes) {
  for (;;) {
    auto begun = store::Txn::BeginWrite(store.env());
    if (!begun.ok()) return begun.status();
    store::Txn txn = std::move(begun).value();
    // The namespaces first (tenant, collection, id), then each one's entities.
    std::vector<std::tuple<std::string, const CollectionSpec*, std::uint32_t>> namespaces;
    {
      auto cursor = store::Cursor::Open(txn, store.dbs().names);
      if (!cursor.ok()) return cursor.status();
      std::string_view k, v;
      for (Status s = cursor->Get(MDB_FIRST, &k, &v);; s = cursor->Get(MDB_NEXT, &k, &v)) {
        if (s.code() == Code::kNotFound) break;
        CQRS_RETURN_IF_ERROR(s);
        const std::size_t zero = k.find('\0');
        if (zero == std::string_view::npos) continue;
        const CollectionSpec* spec = FindCollectionSpec(models, k.substr(zero + 1));
        if (spec == nullptr || (spec->indexes.empty() && spec->aggregates.empty())) continue;
        std::uint32_t ns = 0;
        CQRS_RETURN_IF_ERROR(store::ReadU32(v, &ns, "namespace id"));
        namespaces.emplace_back(std::string(k.substr(0, zero)), spec, ns);
      }
    }
    Status s;
    for (const auto& [tenant, spec, ns] : namespaces) {
      s = DeriveNamespace(txn, store, tenant, ns, *spec, budget_bytes);
      if (!s.ok()) break;
    }
    if (s.ok()) s = txn.Commit();
    if (s.ok()) return s;
    txn.Abort();
    if (!store::IsMapFull(s)) return s;
    CQRS_RETURN_IF_ERROR(store.Grow());
  }
}

}  // namespace cqrs::projector
