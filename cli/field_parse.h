// Parsing `name=value` arguments of the CLI into typed fields.
#pragma once

#include <string_view>

#include "base/status.h"
#include "wire/value_codec.h"

namespace cqrs::cli {

// `n=5` int, `x=1.5` double, `b=true`/`b=false` bool, `h=0xdeadbeef` bytes (hex, even length),
// `s="5"` string (quotes stripped: how to send a string that looks like a number), anything
// else a string. InvalidArgument naming the argument for a bad name, an int outside int64 or a
// non-finite double.
Result<FieldSpec> ParseFieldArg(std::string_view arg);

// `cqrs find` predicates: `field=value` (equality) or `field=lo..hi`, `field=lo..`, `field=..hi`
// (inclusive range; each side typed as ParseFieldArg types a value; a quoted value is never a
// range). `field` names the field, `eq` or `lo`/`hi` hold values (std::monostate: absent).
struct FindPredicate {
  std::string field;
  Value eq, lo, hi;
};
Result<FindPredicate> ParseFindArg(std::string_view arg);

}  // namespace cqrs::cli
