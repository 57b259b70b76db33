// Parsing `name=value` arguments of the CLI into typed fields.
#pragma once

#include <string_view>

#include "base/status.h"
#include "wire/value.h"

namespace cqrs::cli {

// `n=5` int, `x=1.5` double, `b=true`/`b=false` bool, `h=0xdeadbeef` bytes (hex, even length),
// `s="5"` string (quotes stripped: how to send a string that looks like a number), anything
// else a string. InvalidArgument naming the argument for a bad name, an int outside int64 or a
// non-finite double.
Result<FieldSpec> ParseFieldArg(std::string_view arg);

}  // namespace cqrs::cli
