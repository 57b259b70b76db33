// Values and fields to and from FlatBuffers (cqrs.fb.Value unions, Fields), and between owning
// values and value views (base/value.h holds both kinds).
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "base/value.h"
#include "schemas/cqrs_generated.h"

namespace cqrs::wire {

// A FlatBuffers string as a view ("" when absent).
inline std::string_view AsView(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}

ValueView ToView(const Value& v);
Value ToValue(const ValueView& v);

// Creates a Value union member in `fbb`; kNone gives {NONE, 0}.
std::pair<fb::Value, flatbuffers::Offset<void>> CreateValue(flatbuffers::FlatBufferBuilder& fbb,
                                                            const ValueView& v);

// The value of a verified Value union member (kNone for NONE or no table).
ValueView ValueOf(fb::Value type, const void* value);
// The value of a verified Field (kNone when it has none).
inline ValueView ValueOf(const fb::Field& field) {
  return ValueOf(field.value_type(), field.value());
}

// Appends to `out` a Field for each FieldView that `next(&field)` yields until it returns
// false: how stored records (store::RecordFieldReader) become events and query replies.
template <typename Next>
void CreateFields(flatbuffers::FlatBufferBuilder& fbb, Next&& next,
                  std::vector<flatbuffers::Offset<fb::Field>>* out) {
  FieldView f;
  while (next(&f)) {
    auto name = fbb.CreateString(f.name.data(), f.name.size());
    auto [type, value] = CreateValue(fbb, f.value);
    out->push_back(fb::CreateField(fbb, name, type, value));
  }
}

}  // namespace cqrs::wire
