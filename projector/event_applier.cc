// Applying events to the read store.
#include "projector/event_applier.h"

#include <algorithm>

#include "store/key_format.h"
#include "store/read_store_format.h"
#include "wire/value.h"

namespace cqrs::projector {
namespace {
std::string_view AsView(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}
}  // namespace

Status EventApplier::Begin(store::Txn& txn) {
  auto c = store_.ReadCheckpoint(txn);
  if (!c.ok()) return c.status();
  checkpoint_ = c.value();
  return OkStatus();
}

Status EventApplier::Apply(store::Txn& txn, const fb::Event& e) {
  if (e.seq() != checkpoint_.applied_seq + 1)
    return Error(Code::kInternal, "event seq {} does not follow the checkpoint {}", e.seq(),
                 checkpoint_.applied_seq);
  std::uint32_t ns = 0;
  CQRS_RETURN_IF_ERROR(
      store_.namespaces().Intern(txn, AsView(e.tenant()), AsView(e.collection()), &ns));
  const store::ReadDbs& dbs = store_.dbs();
  store::KeyBuffer key = store::EntityKey(ns, AsView(e.key()));
  if (e.op() == fb::Op::Delete) {
    Status s = txn.Del(dbs.entities, key.view());
    if (!s.ok() && s.code() != Code::kNotFound) return s;
  } else {
    fields_.clear();
    if (e.fields())
      for (const fb::Field* f : *e.fields())
        fields_.push_back({AsView(f->name()), wire::ValueOf(*f)});
    // The writer stores fields in name order; sort anyway so a record is always well-formed.
    std::sort(fields_.begin(), fields_.end(),
              [](const FieldView& a, const FieldView& b) { return a.name < b.name; });
    record_.Begin(e.version(), e.seq(), /*tombstone=*/false);
    for (const FieldView& f : fields_) record_.Add(f);
    CQRS_RETURN_IF_ERROR(txn.Put(dbs.entities, key.view(), record_.Finish()));
  }
  CQRS_RETURN_IF_ERROR(
      txn.Put(dbs.collection_log, store::CollectionLogKey(ns, e.seq()).view(), {}));
  checkpoint_.applied_seq = e.seq();
  ++checkpoint_.applied_events;
  return OkStatus();
}

Status EventApplier::End(store::Txn& txn) { return store_.WriteCheckpoint(txn, checkpoint_); }

}  // namespace cqrs::projector
