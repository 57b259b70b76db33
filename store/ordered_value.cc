// Order-preserving value encoding.
#include "store/ordered_value.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "base/status.h"

namespace cqrs::store {
namespace {

constexpr std::uint8_t kBoolTag = 0x10, kNumberTag = 0x20, kStringTag = 0x30, kBytesTag = 0x40;
constexpr std::uint8_t kDoubleSuffix = 0x00, kIntSuffix = 0x01;

std::uint64_t OrderedDouble(double d) {
  if (d == 0) d = 0;  // -0.0 and 0.0 are one value
  auto bits = std::bit_cast<std::uint64_t>(d);
  return (bits >> 63) ? ~bits : bits | (std::uint64_t{1} << 63);
}
double FromOrderedDouble(std::uint64_t u) {
  return std::bit_cast<double>((u >> 63) ? u & ~(std::uint64_t{1} << 63) : ~u);
}
std::uint64_t OrderedInt(std::int64_t i) {
  return static_cast<std::uint64_t>(i) ^ (std::uint64_t{1} << 63);
}
std::int64_t FromOrderedInt(std::uint64_t u) {
  return static_cast<std::int64_t>(u ^ (std::uint64_t{1} << 63));
}
int Kind(const ValueView& v) {
  switch (v.type) {
    case ValueType::kBool:
      return 1;
    case ValueType::kInt:
    case ValueType::kDouble:
      return 2;
    case ValueType::kString:
      return 3;
    case ValueType::kBytes:
      return 4;
    default:
      return 0;
  }
}
template <typename T>
int Cmp(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

}  // namespace

bool IsNumber(const ValueView& v) {
  return v.type == ValueType::kInt || v.type == ValueType::kDouble;
}

double NumericValue(const ValueView& v) {
  if (v.type == ValueType::kInt) return static_cast<double>(v.i);
  return v.type == ValueType::kDouble ? v.d : 0;
}

void AppendOrderedValue(const ValueView& v, KeyBuffer* out) {
  switch (v.type) {
    case ValueType::kBool:
      out->U8(kBoolTag).U8(v.b ? 1 : 0);
      return;
    case ValueType::kInt:
      out->U8(kNumberTag).U64(OrderedDouble(static_cast<double>(v.i))).U8(kIntSuffix);
      out->U64(OrderedInt(v.i));
      return;
    case ValueType::kDouble:
      out->U8(kNumberTag).U64(OrderedDouble(v.d)).U8(kDoubleSuffix);
      return;
    case ValueType::kString:
    case ValueType::kBytes:
      out->U8(v.type == ValueType::kString ? kStringTag : kBytesTag);
      out->Bytes(v.bytes.substr(0, kMaxOrderedBytes));
      return;
    default:
      CQRS_CHECK_MSG(false, "no ordered encoding for value type {}", static_cast<int>(v.type));
  }
}

bool DecodeOrderedValue(std::string_view e, ValueView* out) {
  if (e.empty()) return false;
  const auto* p = reinterpret_cast<const std::uint8_t*>(e.data());
  switch (p[0]) {
    case kBoolTag:
      if (e.size() != 2 || p[1] > 1) return false;
      *out = ValueView::Bool(p[1] == 1);
      return true;
    case kNumberTag:
      if (e.size() == 10 && p[9] == kDoubleSuffix) {
        *out = ValueView::Double(FromOrderedDouble(GetU64BE(p + 1)));
        return true;
      }
      if (e.size() == 18 && p[9] == kIntSuffix) {
        *out = ValueView::Int(FromOrderedInt(GetU64BE(p + 10)));
        return true;
      }
      return false;
    case kStringTag:
      *out = ValueView::String(e.substr(1));
      return true;
    case kBytesTag:
      *out = ValueView::Bytes(e.substr(1));
      return true;
    default:
      return false;
  }
}

int CompareOrdered(const ValueView& a, const ValueView& b) {
  if (int c = Cmp(Kind(a), Kind(b)); c != 0) return c;
  switch (Kind(a)) {
    case 1:
      return Cmp(a.b, b.b);
    case 2:
      if (a.type == ValueType::kInt && b.type == ValueType::kInt) return Cmp(a.i, b.i);
      return Cmp(OrderedDouble(NumericValue(a)), OrderedDouble(NumericValue(b)));
    case 3:
    case 4: {
      int c = a.bytes.compare(b.bytes);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    default:
      return 0;
  }
}

}  // namespace cqrs::store
