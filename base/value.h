// The data model's values: a typed value as a non-owning view (ValueView, FieldView), what the
// store's record format, the wire codecs and the read side exchange without copying (type
// numbers equal cqrs.fb.Value's); and the owning values and commands C++ callers build (Value,
// FieldSpec, CommandSpec: the client library, the CLI, tests). wire/value_codec.h converts them.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cqrs {

enum class ValueType : std::uint8_t {
  kNone = 0,
  kInt = 1,
  kDouble = 2,
  kString = 3,
  kBytes = 4,
  kBool = 5
};

// A typed value; `bytes` (for kString and kBytes) points into memory owned elsewhere
// (a record, a FlatBuffer): valid as long as that is.
struct ValueView {
  ValueType type = ValueType::kNone;
  std::int64_t i = 0;
  double d = 0;
  bool b = false;
  std::string_view bytes;

  static ValueView Int(std::int64_t v) { return {ValueType::kInt, v, 0, false, {}}; }
  static ValueView Double(double v) { return {ValueType::kDouble, 0, v, false, {}}; }
  static ValueView String(std::string_view v) { return {ValueType::kString, 0, 0, false, v}; }
  static ValueView Bytes(std::string_view v) { return {ValueType::kBytes, 0, 0, false, v}; }
  static ValueView Bool(bool v) { return {ValueType::kBool, 0, 0, v, {}}; }

  friend bool operator==(const ValueView& a, const ValueView& b) {
    if (a.type != b.type) return false;
    switch (a.type) {
      case ValueType::kNone:
        return true;
      case ValueType::kInt:
        return a.i == b.i;
      case ValueType::kDouble:
        return std::memcmp(&a.d, &b.d, sizeof a.d) == 0;
      case ValueType::kString:
      case ValueType::kBytes:
        return a.bytes == b.bytes;
      case ValueType::kBool:
        return a.b == b.b;
    }
    return false;
  }
};

// A named field, non-owning.
struct FieldView {
  std::string_view name;
  ValueView value;  // kNone: "remove this field" in an update
};

enum class Op : std::uint8_t { kCreate = 0, kUpdate = 1, kUpsert = 2, kDelete = 3 };

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

}  // namespace cqrs
