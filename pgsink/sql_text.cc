// SQL text for the sink: identifiers, array literals, casts, jsonb, timestamps.
#include "pgsink/sql_text.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "base/json.h"

namespace cqrs::pgsink {

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void ArrayLiteral::Raw(std::string_view s) {
  for (char c : s) {
    if (c == '"' || c == '\\') text_.push_back('\\');
    text_.push_back(c);
  }
}

void ArrayLiteral::Add(std::string_view s) {
  Open();
  Raw(s);
  Close();
}

namespace {

void AppendDouble(std::string* out, double d) {
  if (std::isnan(d))
    *out += "NaN";
  else if (std::isinf(d))
    *out += d > 0 ? "Infinity" : "-Infinity";
  else
    fmt::format_to(std::back_inserter(*out), "{}", d);
}

std::string_view TypeName(ValueType t) {
  switch (t) {
    case ValueType::kNone:
      return "no value";
    case ValueType::kInt:
      return "an int";
    case ValueType::kDouble:
      return "a double";
    case ValueType::kString:
      return "a string";
    case ValueType::kBytes:
      return "bytes";
    case ValueType::kBool:
      return "a bool";
  }
  return "?";
}

}  // namespace

bool FormatTimestamp(std::int64_t count, PgType unit, std::string* out) {
  using namespace std::chrono;
  // Microseconds since the epoch, floored; ms counts this far out do not overflow (±2^63 µs is
  // ±292,000 years).
  std::int64_t us;
  if (unit == PgType::kTimestampNs) {
    us = count / 1000;
    if (count % 1000 < 0) --us;
  } else {
    if (count > INT64_MAX / 1000 || count < INT64_MIN / 1000) return false;
    us = count * 1000;
  }
  const sys_time<microseconds> t{microseconds(us)};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  if (ymd.year() < year(1) || ymd.year() > year(9999)) return false;
  const hh_mm_ss<microseconds> hms{t - day};
  fmt::format_to(std::back_inserter(*out), "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
                 static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                 static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(),
                 hms.seconds().count(), hms.subseconds().count());
  return true;
}

std::string_view CastValue(const ValueView& v, PgType type, bool indexed, std::string* out) {
  out->clear();
  const bool matches = [&] {
    switch (type) {
      case PgType::kText:
        return v.type == ValueType::kString;
      case PgType::kBigint:
      case PgType::kTimestampNs:
      case PgType::kTimestampMs:
        return v.type == ValueType::kInt;
      case PgType::kDouble:
        return v.type == ValueType::kInt || v.type == ValueType::kDouble;
      case PgType::kBoolean:
        return v.type == ValueType::kBool;
      case PgType::kBytea:
        return v.type == ValueType::kBytes;
    }
    return false;
  }();
  if (!matches) {
    // Written so that a reader sees the kinds: "a string in a bigint column".
    static thread_local std::string reason;
    reason = fmt::format("{} in a {} column", TypeName(v.type), PgTypeName(type));
    return reason;
  }
  switch (type) {
    case PgType::kText:
      if (v.bytes.find('\0') != std::string_view::npos)
        return "a string holding NUL (PostgreSQL text cannot)";
      if (indexed && v.bytes.size() > kMaxIndexedBytes)
        return "a string longer than 2048 bytes in an indexed column";
      out->append(v.bytes);
      return {};
    case PgType::kBigint:
      fmt::format_to(std::back_inserter(*out), "{}", v.i);
      return {};
    case PgType::kDouble:
      if (v.type == ValueType::kInt)
        fmt::format_to(std::back_inserter(*out), "{}", v.i);
      else
        AppendDouble(out, v.d);
      return {};
    case PgType::kBoolean:
      out->push_back(v.b ? 't' : 'f');
      return {};
    case PgType::kBytea:
      if (indexed && v.bytes.size() > kMaxIndexedBytes)
        return "bytes longer than 2048 in an indexed column";
      *out += "\\x";
      AppendHex(out, v.bytes);
      return {};
    case PgType::kTimestampNs:
    case PgType::kTimestampMs:
      if (!FormatTimestamp(v.i, type, out)) {
        out->clear();
        return "a time outside the years 1..9999";
      }
      return {};
  }
  return "an unknown column type";
}

void AppendBase64(std::string* out, std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  auto at = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out->push_back(kAlphabet[(n >> 18) & 63]);
    out->push_back(kAlphabet[(n >> 12) & 63]);
    out->push_back(kAlphabet[(n >> 6) & 63]);
    out->push_back(kAlphabet[n & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 0) return;
  std::uint32_t n = at(i) << 16;
  if (rest == 2) n |= at(i + 1) << 8;
  out->push_back(kAlphabet[(n >> 18) & 63]);
  out->push_back(kAlphabet[(n >> 12) & 63]);
  out->push_back(rest == 2 ? kAlphabet[(n >> 6) & 63] : '=');
  out->push_back('=');
}

bool AppendJsonField(std::string* json, bool first, std::string_view name, const ValueView& v) {
  if (!first) json->push_back(',');
  AppendJsonString(json, name);
  json->push_back(':');
  switch (v.type) {
    case ValueType::kNone:
      *json += "null";
      return true;
    case ValueType::kInt:
      if (v.i > kMaxJsonSafeInt || v.i < -kMaxJsonSafeInt)
        fmt::format_to(std::back_inserter(*json), "\"{}\"", v.i);
      else
        fmt::format_to(std::back_inserter(*json), "{}", v.i);
      return true;
    case ValueType::kDouble:
      if (std::isfinite(v.d)) {
        fmt::format_to(std::back_inserter(*json), "{}", v.d);
      } else {
        json->push_back('"');
        AppendDouble(json, v.d);
        json->push_back('"');
      }
      return true;
    case ValueType::kString:
      if (v.bytes.find('\0') != std::string_view::npos) {
        *json += "null";
        return false;
      }
      AppendJsonString(json, v.bytes);
      return true;
    case ValueType::kBytes:
      json->push_back('"');
      AppendBase64(json, v.bytes);
      json->push_back('"');
      return true;
    case ValueType::kBool:
      *json += v.b ? "true" : "false";
      return true;
  }
  return true;
}

}  // namespace cqrs::pgsink
