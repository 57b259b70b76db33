// Semantic checks the FlatBuffers Verifier does not make: names, UTF-8, embedded NULs.
#pragma once

#include <string>
#include <string_view>

#include "base/names.h"

namespace cqrs::wire {

// Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Collection and field names: base/names.h.
using cqrs::IsValidCollectionName;
using cqrs::IsValidFieldName;

// Identifiers (keys, client ids): valid UTF-8 without NUL.
inline bool IsValidIdentifierText(std::string_view s) {
  return s.find('\0') == std::string_view::npos && IsValidUtf8(s);
}

// User input quoted for an error message: 'text' (cut at 40 bytes) when it is printable UTF-8,
// else a description ("37 bytes, not printable UTF-8"); replies never carry invalid UTF-8.
std::string Quoted(std::string_view s);

}  // namespace cqrs::wire
