// The sink's SQL text: identifiers, array literals, the casts of each column type and the
// entity's jsonb, checked against literal expectations.
#include "pgsink/sql_text.h"

#include <catch2/catch.hpp>
#include <cmath>

namespace cqrs::pgsink {
namespace {

std::string Cast(const ValueView& v, PgType t, bool indexed = false) {
  std::string out;
  std::string_view why = CastValue(v, t, indexed, &out);
  return why.empty() ? out : "poison: " + std::string(why);
}

std::string Json(const ValueView& v) {
  std::string out = "{";
  AppendJsonField(&out, true, "f", v);
  return out + "}";
}

}  // namespace

TEST_CASE("Identifiers are quoted with '\"' doubled", "[pgsink]") {
  CHECK(QuoteIdent("orders") == "\"orders\"");
  CHECK(QuoteIdent("a\"b") == "\"a\"\"b\"");
}

TEST_CASE("Array literals quote every element and escape '\"' and '\\'", "[pgsink]") {
  ArrayLiteral a;
  a.Clear();
  CHECK(a.Finish() == "{}");
  a.Clear();
  a.Add("plain");
  a.AddNull();
  a.Add("q\"uote\\back,{}");
  a.Add("");
  CHECK(a.count() == 4);
  CHECK(a.Finish() == R"({"plain",NULL,"q\"uote\\back,{}",""})");
}

TEST_CASE("Values cast to their declared column types, or are poison", "[pgsink]") {
  CHECK(Cast(ValueView::Int(-42), PgType::kBigint) == "-42");
  CHECK(Cast(ValueView::Int(7), PgType::kDouble) == "7");
  CHECK(Cast(ValueView::Double(2.5), PgType::kDouble) == "2.5");
  CHECK(Cast(ValueView::Double(NAN), PgType::kDouble) == "NaN");
  CHECK(Cast(ValueView::Double(-INFINITY), PgType::kDouble) == "-Infinity");
  CHECK(Cast(ValueView::String("open"), PgType::kText) == "open");
  CHECK(Cast(ValueView::Bool(true), PgType::kBoolean) == "t");
  CHECK(Cast(ValueView::Bytes(std::string_view("\x01\xff", 2)), PgType::kBytea) == "\\x01ff");
  CHECK(Cast(ValueView::Int(1'700'000'000'123'456'789), PgType::kTimestampNs) ==
        "2023-11-14 22:13:20.123456+00");
  CHECK(Cast(ValueView::Int(-1), PgType::kTimestampNs) == "1969-12-31 23:59:59.999999+00");
  CHECK(Cast(ValueView::Int(1'700'000'000'123), PgType::kTimestampMs) ==
        "2023-11-14 22:13:20.123000+00");

  CHECK(Cast(ValueView::Double(1.5), PgType::kBigint) == "poison: a double in a bigint column");
  CHECK(Cast(ValueView::String("12"), PgType::kDouble) ==
        "poison: a string in a double precision column");
  CHECK(Cast(ValueView::Int(1), PgType::kText) == "poison: an int in a text column");
  CHECK(Cast(ValueView::Int(1), PgType::kBoolean) == "poison: an int in a boolean column");
  CHECK(Cast(ValueView::String(std::string_view("a\0b", 3)), PgType::kText) ==
        "poison: a string holding NUL (PostgreSQL text cannot)");
  const std::string longer(kMaxIndexedBytes + 1, 'x');
  CHECK(Cast(ValueView::String(longer), PgType::kText) == longer);
  CHECK(Cast(ValueView::String(longer), PgType::kText, true) ==
        "poison: a string longer than 2048 bytes in an indexed column");
  CHECK(Cast(ValueView::Int(INT64_MAX), PgType::kTimestampMs) ==
        "poison: a time outside the years 1..9999");
}

TEST_CASE(
    "The entity's jsonb: numbers, big ints and non-finite doubles as strings, bytes as "
    "base64",
    "[pgsink]") {
  CHECK(Json(ValueView::Int(9007199254740992)) == R"({"f":9007199254740992})");
  CHECK(Json(ValueView::Int(9007199254740993)) == R"({"f":"9007199254740993"})");
  CHECK(Json(ValueView::Int(-9007199254740993)) == R"({"f":"-9007199254740993"})");
  CHECK(Json(ValueView::Double(0.1)) == R"({"f":0.1})");
  CHECK(Json(ValueView::Double(INFINITY)) == R"({"f":"Infinity"})");
  CHECK(Json(ValueView::String("a\"b\n")) == R"({"f":"a\"b\n"})");
  CHECK(Json(ValueView::Bool(false)) == R"({"f":false})");
  CHECK(Json(ValueView::Bytes("")) == R"({"f":""})");
  CHECK(Json(ValueView::Bytes("f")) == R"({"f":"Zg=="})");
  CHECK(Json(ValueView::Bytes("fo")) == R"({"f":"Zm8="})");
  CHECK(Json(ValueView::Bytes("foo")) == R"({"f":"Zm9v"})");
  std::string out = "{";
  CHECK_FALSE(AppendJsonField(&out, true, "f", ValueView::String(std::string_view("\0", 1))));
  CHECK(out == R"({"f":null)");
}

}  // namespace cqrs::pgsink
