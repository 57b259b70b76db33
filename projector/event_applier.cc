// Applying events to the read store.
#include "projector/event_applier.h"

#include <algorithm>

#include "base/status.h"
#include "store/key_format.h"
#include "store/ordered_value.h"
#include "store/read_store_format.h"
#include "wire/value_codec.h"

namespace cqrs::projector {
namespace {
using wire::AsView;

// The value of field `name` in an encoded record ("" record: none); kNone if absent.
ValueView RecordField(std::string_view record, std::string_view name) {
  if (record.empty()) return {};
  store::RecordFieldReader reader(record);
  FieldView f;
  while (reader.Next(&f)) {
    if (f.name == name) return f.value;
    if (f.name > name) break;  // fields are in name order
  }
  return {};
}

bool Present(const ValueView& v) { return v.type != ValueType::kNone; }
}  // namespace

Status EventApplier::Begin(store::Txn& txn) {
  model_ids_.clear();  // ids interned in an aborted batch must not be reused
  last_ns_ = 0;
  auto c = store_.ReadCheckpoint(txn);
  if (!c.ok()) return c.status();
  checkpoint_ = c.value();
  return OkStatus();
}

Status EventApplier::Apply(store::Txn& txn, const fb::Event& e) {
  if (e.seq() != checkpoint_.applied_seq + 1)
    return Error(Code::kInternal, "event seq {} does not follow the checkpoint {}", e.seq(),
                 checkpoint_.applied_seq);
  // The namespace of the batch's previous event is usually this one's: skip the names lookup.
  std::uint32_t ns = last_ns_;
  if (ns == 0 || AsView(e.tenant()) != last_tenant_ || AsView(e.collection()) != last_collection_) {
    CQRS_RETURN_IF_ERROR(
        store_.namespaces().Intern(txn, AsView(e.tenant()), AsView(e.collection()), &ns));
    last_tenant_.assign(AsView(e.tenant()));
    last_collection_.assign(AsView(e.collection()));
    last_ns_ = ns;
  }
  const store::ReadDbs& dbs = store_.dbs();
  store::KeyBuffer key = store::EntityKey(ns, AsView(e.key()));
  const bool deleted = e.op() == fb::Op::Delete;
  store::EventFields(e, &fields_);  // for the read models and the record below
  const CollectionSpec* spec = FindCollectionSpec(models_, AsView(e.collection()));
  if (spec != nullptr && (!spec->indexes.empty() || !spec->aggregates.empty())) {
    std::string_view before;
    Status got = txn.Get(dbs.entities, key.view(), &before);
    if (!got.ok() && got.code() != Code::kNotFound) return got;
    before_.assign(got.ok() ? before : std::string_view());  // copied: writes move pages
    CQRS_RETURN_IF_ERROR(ApplyReadModels(txn, *spec, AsView(e.tenant()), AsView(e.key()), deleted));
  }
  if (deleted) {
    Status s = txn.Del(dbs.entities, key.view());
    if (!s.ok() && s.code() != Code::kNotFound) return s;
  } else {
    CQRS_RETURN_IF_ERROR(
        txn.Put(dbs.entities, key.view(), store::EventRecordFrom(e, fields_, &record_)));
  }
  // Seqs grow, so a collection's entries are appended; with one collection (or the newest
  // namespace) the whole DB is in key order and MDB_APPEND skips the descent. LMDB refuses an
  // append below its last key (MDB_KEYEXIST): then an ordinary put.
  const store::KeyBuffer log_key = store::CollectionLogKey(ns, e.seq());
  Status appended = txn.Put(dbs.collection_log, log_key.view(), {}, MDB_APPEND);
  if (appended.code() == Code::kAlreadyExists)
    appended = txn.Put(dbs.collection_log, log_key.view(), {});
  CQRS_RETURN_IF_ERROR(appended);
  checkpoint_.applied_seq = e.seq();
  ++checkpoint_.applied_events;
  return OkStatus();
}

Status EventApplier::End(store::Txn& txn) { return store_.WriteCheckpoint(txn, checkpoint_); }

Status EventApplier::ModelId(store::Txn& txn, std::string_view tenant, std::string_view collection,
                             char kind, std::string_view name, std::uint32_t* id) {
  store::ReadModelName(collection, kind, name, &model_name_);
  for (const auto& [cached_tenant, cached, cached_id] : model_ids_)
    if (cached == model_name_ && cached_tenant == tenant) {
      *id = cached_id;
      return OkStatus();
    }
  CQRS_RETURN_IF_ERROR(store_.namespaces().Intern(txn, tenant, model_name_, id));
  model_ids_.emplace_back(std::string(tenant), model_name_, *id);
  return OkStatus();
}

Status EventApplier::ApplyReadModels(store::Txn& txn, const CollectionSpec& spec,
                                     std::string_view tenant, std::string_view key, bool deleted) {
  const store::ReadDbs& dbs = store_.dbs();
  auto after = [&](std::string_view field) {
    return deleted ? ValueView() : store::FieldByName(fields_, field);
  };
  for (const std::string& field : spec.indexes) {
    const ValueView old_value = RecordField(before_, field), new_value = after(field);
    if (old_value == new_value) continue;  // same type and value, or absent both times
    std::uint32_t id = 0;
    CQRS_RETURN_IF_ERROR(ModelId(txn, tenant, spec.name, store::kIndexModel, field, &id));
    store::KeyBuffer k;
    if (Present(old_value)) {
      k.U32(id);
      store::AppendOrderedValue(old_value, &k);
      Status s = txn.Del(dbs.indexes, k.view(), key);
      if (!s.ok() && s.code() != Code::kNotFound) return s;
    }
    if (Present(new_value)) {
      k.Clear();
      k.U32(id);
      store::AppendOrderedValue(new_value, &k);
      Status s = txn.Put(dbs.indexes, k.view(), key, MDB_NODUPDATA);
      if (!s.ok() && s.code() != Code::kAlreadyExists) return s;
    }
  }
  for (const AggregateSpec& a : spec.aggregates) {
    const ValueView old_group = RecordField(before_, a.group_by), new_group = after(a.group_by);
    const ValueView old_sum = a.sum.empty() ? ValueView() : RecordField(before_, a.sum);
    const ValueView new_sum = a.sum.empty() ? ValueView() : after(a.sum);
    if (old_group == new_group && old_sum == new_sum) continue;
    std::uint32_t id = 0;
    CQRS_RETURN_IF_ERROR(ModelId(txn, tenant, spec.name, store::kAggregateModel, a.name, &id));
    if (Present(old_group)) CQRS_RETURN_IF_ERROR(AdjustGroup(txn, id, old_group, -1, old_sum));
    if (Present(new_group)) CQRS_RETURN_IF_ERROR(AdjustGroup(txn, id, new_group, +1, new_sum));
  }
  return OkStatus();
}

Status EventApplier::AdjustGroup(store::Txn& txn, std::uint32_t id, const ValueView& group,
                                 int delta, const ValueView& summed) {
  const store::ReadDbs& dbs = store_.dbs();
  CQRS_RETURN_IF_ERROR(store::FindAggregateGroup(txn, dbs.aggregates, id, group, &group_));
  if (delta < 0 && group_.cell.count == 0)
    return Status(Code::kInternal, "aggregate group count would go below 0");
  store::AdjustAggregateCell(&group_.cell, delta, summed);
  return store::PutAggregateGroup(txn, dbs.aggregates, group_, group);
}

}  // namespace cqrs::projector
