// CLI field argument parsing.
#include "cli/field_parse.h"

#include <charconv>
#include <cmath>

#include "base/status.h"
#include "wire/validate.h"

namespace cqrs::cli {
namespace {

bool IsIntText(std::string_view s) {
  std::size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// Digits with one '.' or an exponent: 1.5, -0.25, 1e9, 2.5E-3.
bool IsDoubleText(std::string_view s) {
  std::size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  bool digits = false, dot = false, exp = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      digits = true;
    } else if (c == '.' && !dot && !exp) {
      dot = true;
    } else if ((c == 'e' || c == 'E') && digits && !exp) {
      exp = true;
      digits = false;
      if (i + 1 < s.size() && (s[i + 1] == '+' || s[i + 1] == '-')) ++i;
    } else {
      return false;
    }
  }
  return digits && (dot || exp);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<FieldSpec> ParseFieldArg(std::string_view arg) {
  auto eq = arg.find('=');
  if (eq == std::string_view::npos)
    return Error(Code::kInvalidArgument, "field argument {} is not name=value", wire::Quoted(arg));
  std::string_view name = arg.substr(0, eq);
  std::string_view text = arg.substr(eq + 1);
  if (!wire::IsValidFieldName(name))
    return Error(Code::kInvalidArgument, "field name {} must match [A-Za-z_][A-Za-z0-9_]{{0,63}}",
                 wire::Quoted(name));
  FieldSpec f{std::string(name), std::monostate{}};
  if (text == "true" || text == "false") {
    f.value = text == "true";
  } else if (IsIntText(text)) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size())
      return Error(Code::kInvalidArgument, "field {}: {} is outside the int64 range", name, text);
    f.value = v;
  } else if (IsDoubleText(text)) {
    double v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v))
      return Error(Code::kInvalidArgument, "field {}: {} is not a finite double", name, text);
    f.value = v;
  } else if (text.size() >= 2 && text.substr(0, 2) == "0x") {
    std::string_view hex = text.substr(2);
    if (hex.size() % 2 != 0)
      return Error(Code::kInvalidArgument, "field {}: hex bytes need an even number of digits",
                   name);
    std::string bytes;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      int hi = HexDigit(hex[i]), lo = HexDigit(hex[i + 1]);
      if (hi < 0 || lo < 0)
        return Error(Code::kInvalidArgument, "field {}: {} is not hex", name, wire::Quoted(text));
      bytes.push_back(static_cast<char>(hi * 16 + lo));
    }
    f.value = Bytes{std::move(bytes)};
  } else if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    f.value = std::string(text.substr(1, text.size() - 2));
  } else {
    f.value = std::string(text);
  }
  return f;
}

Result<FindPredicate> ParseFindArg(std::string_view arg) {
  auto eq = arg.find('=');
  if (eq == std::string_view::npos)
    return Error(Code::kInvalidArgument, "find argument {} is not field=value or field=lo..hi",
                 wire::Quoted(arg));
  std::string name(arg.substr(0, eq));
  std::string_view text = arg.substr(eq + 1);
  auto typed = [&](std::string_view value) -> Result<Value> {
    auto f = ParseFieldArg(name + "=" + std::string(value));
    if (!f.ok()) return f.status();
    return std::move(f.value().value);
  };
  FindPredicate p{name, {}, {}, {}};
  auto dots = text.find("..");
  if (text.starts_with('"') || dots == std::string_view::npos) {
    auto v = typed(text);
    if (!v.ok()) return v.status();
    p.eq = std::move(v).value();
    return p;
  }
  std::string_view lo = text.substr(0, dots), hi = text.substr(dots + 2);
  if (lo.empty() && hi.empty())
    return Error(Code::kInvalidArgument, "find argument {} has a range without bounds",
                 wire::Quoted(arg));
  if (!lo.empty()) {
    auto v = typed(lo);
    if (!v.ok()) return v.status();
    p.lo = std::move(v).value();
  }
  if (!hi.empty()) {
    auto v = typed(hi);
    if (!v.ok()) return v.status();
    p.hi = std::move(v).value();
  }
  return p;
}

}  // namespace cqrs::cli
