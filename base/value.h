// The data model's typed value, as a non-owning view: what the store's record format, the wire
// codecs and the read side exchange without copying. Type numbers equal cqrs.fb.Value's.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

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

}  // namespace cqrs
