// Order-preserving encoding of typed values, for secondary-index and aggregate keys: comparing
// two encodings as bytes (LMDB's order) gives the order of the values.
//
//   bool    0x10, then 0x00 (false) or 0x01 (true)
//   number  0x20, then the value as a double in 8 order-preserving bytes (sign bit flipped for
//           positives, all bits flipped for negatives), then 0x00 for a double, or 0x01 and the
//           int64 in 8 order-preserving bytes (sign bit flipped): ints and doubles interleave
//           by numeric value, and an int keeps its exact value and type
//   string  0x30, then the bytes;  bytes  0x40, then the bytes
// Strings and bytes longer than kMaxOrderedBytes are cut there (LMDB keys are at most 511
// bytes); the cut is decoded as the shorter value, and callers that must be exact compare
// with the stored value. Across types: bool < number < string < bytes.
#pragma once

#include <string_view>

#include "base/value.h"
#include "store/key_format.h"

namespace cqrs::store {

inline constexpr std::size_t kMaxOrderedBytes = 400;

// Appends the encoding of `v` (not kNone) to `out`.
void AppendOrderedValue(const ValueView& v, KeyBuffer* out);
// Decodes an encoding that fills `encoded` exactly; false if malformed. Views point into it.
bool DecodeOrderedValue(std::string_view encoded, ValueView* out);
// The order the encoding gives: <0, 0, >0. Numbers compare by numeric value (an int and a double
// of equal value compare equal); different kinds compare by kind.
int CompareOrdered(const ValueView& a, const ValueView& b);
bool IsNumber(const ValueView& v);
// The value as a double (ints converted); 0 for non-numbers.
double NumericValue(const ValueView& v);

}  // namespace cqrs::store
