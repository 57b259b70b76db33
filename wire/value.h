// Owning values and commands as C++ callers build them (client library, CLI, tests), and their
// conversions to and from FlatBuffers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/value.h"
#include "schemas/cqrs_generated.h"

namespace cqrs {

enum class Op : std::uint8_t { kCreate = 0, kUpdate = 1, kUpsert = 2, kDelete = 3 };

namespace wire {
// A FlatBuffers string as a view ("" when absent).
inline std::string_view AsView(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}
}  // namespace wire

struct Bytes {
  std::string data;  // arbitrary bytes
  friend bool operator==(const Bytes&, const Bytes&) = default;
};

// std::monostate: no value (in an update: remove the field).
using Value = std::variant<std::monostate, std::int64_t, double, std::string, Bytes, bool>;

struct FieldSpec {
  std::string name;
  Value value;
  friend bool operator==(const FieldSpec&, const FieldSpec&) = default;
};

struct CommandSpec {
  Op op = Op::kUpsert;
  std::string collection;
  std::string key;
  std::uint64_t expected_version = 0;  // 0: any
  std::vector<FieldSpec> fields;
};

inline CommandSpec Create(std::string collection, std::string key, std::vector<FieldSpec> fields) {
  return {Op::kCreate, std::move(collection), std::move(key), 0, std::move(fields)};
}
inline CommandSpec Update(std::string collection, std::string key, std::vector<FieldSpec> fields,
                          std::uint64_t expected_version = 0) {
  return {Op::kUpdate, std::move(collection), std::move(key), expected_version, std::move(fields)};
}
inline CommandSpec Upsert(std::string collection, std::string key, std::vector<FieldSpec> fields) {
  return {Op::kUpsert, std::move(collection), std::move(key), 0, std::move(fields)};
}
inline CommandSpec Delete(std::string collection, std::string key,
                          std::uint64_t expected_version = 0) {
  return {Op::kDelete, std::move(collection), std::move(key), expected_version, {}};
}

std::string_view OpName(Op op);

namespace wire {

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

}  // namespace wire
}  // namespace cqrs
