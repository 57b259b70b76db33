// The one function that turns an event into entity state. The writer's state recovery, the
// projector's live applier, its rebuild and the hot cache all build records with it, so state
// replayed from the log is byte-identical to state built live (tests/writer/state_test.cc).
#pragma once

#include <string_view>
#include <vector>

#include "base/value.h"
#include "schemas/cqrs_generated.h"
#include "store/record_format.h"

namespace cqrs::store {

// An event's after-image as fields sorted by name (none for a delete), into `*fields`. Views
// point into the event.
void EventFields(const fb::Event& event, std::vector<FieldView>* fields);

// The entity record (store/record_format.h) an event leaves, built in `*record`: its version,
// its seq and its fields, or a tombstone (no fields) for a delete. `*fields` is scratch. The
// read store drops a deleted key instead of keeping the tombstone; the writer's state keeps it.
std::string_view EventRecord(const fb::Event& event, std::vector<FieldView>* fields,
                             RecordBuilder* record);
// The same from `fields` that EventFields(event, ...) already filled (no second decode and sort).
std::string_view EventRecordFrom(const fb::Event& event, const std::vector<FieldView>& fields,
                                 RecordBuilder* record);

}  // namespace cqrs::store
