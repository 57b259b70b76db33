// Name rules.
#include "base/names.h"

#include "base/config.h"

namespace cqrs {

bool IsValidCollectionName(std::string_view s) {
  if (s.empty() || s.size() > kMaxCollectionBytes) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool IsValidFieldName(std::string_view s) {
  if (s.empty() || s.size() > kMaxFieldNameBytes) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(s[0])) return false;
  for (char c : s.substr(1)) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace cqrs
