// Events to entity records.
#include "store/event_record.h"

#include <algorithm>

#include "wire/value_codec.h"

namespace cqrs::store {

void EventFields(const fb::Event& e, std::vector<FieldView>* fields) {
  fields->clear();
  if (e.op() == fb::Op::Delete || !e.fields()) return;
  for (const fb::Field* f : *e.fields())
    fields->push_back({wire::AsView(f->name()), wire::ValueOf(*f)});
  // The writer stores fields in name order; sort anyway so a record is always well-formed.
  std::sort(fields->begin(), fields->end(),
            [](const FieldView& a, const FieldView& b) { return a.name < b.name; });
}

std::string_view EventRecord(const fb::Event& e, std::vector<FieldView>* fields,
                             RecordBuilder* record) {
  EventFields(e, fields);
  return EventRecordFrom(e, *fields, record);
}

std::string_view EventRecordFrom(const fb::Event& e, const std::vector<FieldView>& fields,
                                 RecordBuilder* record) {
  record->Begin(e.version(), e.seq(), /*tombstone=*/e.op() == fb::Op::Delete);
  for (const FieldView& f : fields) record->Add(f);
  return record->Finish();
}

}  // namespace cqrs::store
