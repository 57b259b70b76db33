#include "store/ordered_value.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace cqrs::store {
namespace {

std::string Encode(const ValueView& v) {
  KeyBuffer k;
  AppendOrderedValue(v, &k);
  return std::string(k.view());
}

}  // namespace

TEST_CASE("Ordered values decode to what was encoded", "[store][ordered]") {
  const std::string s = "status", b("\x00\xff\x01", 3);
  for (const ValueView& v :
       {ValueView::Bool(false), ValueView::Bool(true), ValueView::Int(0), ValueView::Int(-1),
        ValueView::Int(std::numeric_limits<std::int64_t>::min()),
        ValueView::Int(std::numeric_limits<std::int64_t>::max()), ValueView::Double(-2.5),
        ValueView::Double(1e300), ValueView::String(""), ValueView::String(s),
        ValueView::Bytes(b)}) {
    const std::string encoded = Encode(v);  // `back` views into it
    ValueView back;
    REQUIRE(DecodeOrderedValue(encoded, &back));
    CHECK(back == v);
  }
  ValueView back;
  CHECK_FALSE(DecodeOrderedValue("", &back));
  CHECK_FALSE(DecodeOrderedValue(std::string("\x20\x01", 2), &back));
  CHECK_FALSE(DecodeOrderedValue(std::string("\x99", 1), &back));
  // Long strings are cut, and decode as the cut.
  std::string longer(kMaxOrderedBytes + 50, 'x');
  const std::string cut = Encode(ValueView::String(longer));
  REQUIRE(DecodeOrderedValue(cut, &back));
  CHECK(back.bytes.size() == kMaxOrderedBytes);
}

TEST_CASE("Byte order of encodings is the order of values", "[store][ordered]") {
  std::mt19937_64 rng(5);
  std::vector<std::string> strings;
  for (int i = 0; i < 50; ++i)
    strings.push_back(std::string(rng() % 4, static_cast<char>('a' + rng() % 3)));
  std::vector<ValueView> values;
  for (int i = 0; i < 400; ++i) {
    switch (rng() % 5) {
      case 0:
        values.push_back(ValueView::Bool(rng() % 2 == 1));
        break;
      case 1:
        values.push_back(ValueView::Int(static_cast<std::int64_t>(rng() % 21) - 10));
        break;
      case 2:
        values.push_back(
            ValueView::Double(static_cast<double>(static_cast<int>(rng() % 41) - 20) / 2));
        break;
      case 3:
        values.push_back(ValueView::String(strings[rng() % strings.size()]));
        break;
      default:
        values.push_back(ValueView::Bytes(strings[rng() % strings.size()]));
    }
  }
  values.push_back(ValueView::Int(std::numeric_limits<std::int64_t>::min()));
  values.push_back(ValueView::Double(-std::numeric_limits<double>::infinity()));
  values.push_back(ValueView::Double(-0.0));
  int compared = 0, disagreed = 0;
  for (const auto& a : values)
    for (const auto& b : values) {
      int by_value = CompareOrdered(a, b);
      int by_bytes = Encode(a).compare(Encode(b));
      if (by_value == 0) continue;
      ++compared;
      if (by_bytes == 0 || (by_value < 0) != (by_bytes < 0)) ++disagreed;
    }
  CHECK(compared > 100000);
  CHECK(disagreed == 0);
  // Equal numbers of either type are equal values (their encodings differ only in the suffix).
  CHECK(CompareOrdered(ValueView::Int(3), ValueView::Double(3.0)) == 0);
  CHECK(CompareOrdered(ValueView::Int(3), ValueView::Double(3.5)) < 0);
  CHECK(CompareOrdered(ValueView::Bool(true), ValueView::Int(-100)) < 0);
  CHECK(CompareOrdered(ValueView::Double(-0.0), ValueView::Double(0.0)) == 0);
}

}  // namespace cqrs::store
