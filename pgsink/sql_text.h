// The text the sink sends PostgreSQL: quoted identifiers, array literals for `unnest`
// parameters, and each field value in the form its column type reads (or the reason it cannot
// be), and the entity as jsonb text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/config.h"
#include "base/value.h"

namespace cqrs::pgsink {

// "name" with any '"' doubled: an identifier exactly as written.
std::string QuoteIdent(std::string_view name);

// A one-dimensional PostgreSQL array literal, built element by element into a reused buffer:
// {"a","b\"c",NULL}. Every element is quoted; '"' and '\' are escaped.
class ArrayLiteral {
 public:
  void Clear() {
    text_.assign(1, '{');
    count_ = 0;
  }
  void AddNull() {
    Separate();
    text_ += "NULL";
  }
  // Appends a quoted element of `s` (escaped).
  void Add(std::string_view s);
  // Opens a quoted element: append its raw text with Raw() (escaped as it goes), then Close().
  void Open() {
    Separate();
    text_.push_back('"');
  }
  void Raw(std::string_view s);
  void Close() { text_.push_back('"'); }
  // The literal; valid until the next Clear().
  const std::string& Finish() {
    text_.push_back('}');
    return text_;
  }
  std::size_t count() const { return count_; }

 private:
  void Separate() {
    if (count_++ > 0) text_.push_back(',');
  }
  std::string text_ = "{";
  std::size_t count_ = 0;
};

// Writes `value` as the text PostgreSQL's input of `type` reads into *out (cleared first).
// Returns "" when it does, else why not (the value is then a poison value: the column is NULL
// and the event parked): the casts of docs/OPERATIONS.md, "PostgreSQL query side".
// `indexed`: the column has an index, whose entries PostgreSQL bounds (kMaxIndexedBytes).
std::string_view CastValue(const ValueView& value, PgType type, bool indexed, std::string* out);

// Text or bytea longer than this in an indexed column is a poison value: a B-tree entry must
// fit a third of a page (2,704 bytes), and the entry also holds the key (at most 507 bytes).
inline constexpr std::size_t kMaxIndexedBytes = 2048;

// Ints beyond ±2^53 become JSON strings in the entity: a JSON number that large is not exact
// in most readers of it.
inline constexpr std::int64_t kMaxJsonSafeInt = (std::int64_t{1} << 53);

// Appends the field `name` = `value` to a jsonb object under construction ("{" already there):
// ints and doubles as numbers (ints past 2^53 and NaN/±Infinity as strings), strings, bools,
// bytes as base64 strings. A string holding NUL (which jsonb cannot hold) becomes null; returns
// false then.
bool AppendJsonField(std::string* json, bool first, std::string_view name, const ValueView& value);

// ns or ms since the Unix epoch as "YYYY-MM-DD HH:MM:SS.ffffff+00" (to the microsecond,
// truncated toward the past). False for a time outside years 1..9999.
bool FormatTimestamp(std::int64_t count, PgType unit, std::string* out);

void AppendBase64(std::string* out, std::string_view bytes);

}  // namespace cqrs::pgsink
