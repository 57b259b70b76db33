// Byte-level validators used by every decoder.
#include "wire/validate.h"

#include <fmt/format.h>

#include <cstdint>

#include "base/config.h"

namespace cqrs::wire {

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    std::uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += extra + 1;
  }
  return true;
}

std::string Quoted(std::string_view s) {
  constexpr std::size_t kMax = 40;
  bool printable = IsValidUtf8(s);
  for (char c : s) printable = printable && (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  if (!printable) return fmt::format("{} bytes, not printable UTF-8", s.size());
  if (s.size() <= kMax) return fmt::format("'{}'", s);
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // whole chars
  return fmt::format("'{}...'", s.substr(0, cut));
}

}  // namespace cqrs::wire
