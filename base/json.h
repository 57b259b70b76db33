// Minimal JSON output helpers for the CLI and tools (one line of JSON per result).
#pragma once

#include <string>
#include <string_view>

namespace cqrs {

// Appends `s` as a JSON string literal. Valid UTF-8 passes through; control characters are
// escaped; bytes that are not valid UTF-8 become U+FFFD.
void AppendJsonString(std::string* out, std::string_view s);

// Appends `bytes` as lowercase hex, two digits a byte.
void AppendHex(std::string* out, std::string_view bytes);

}  // namespace cqrs
