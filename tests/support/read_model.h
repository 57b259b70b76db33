// Test support: what Find and Aggregate must answer, computed from a plain in-memory model of
// the entities (key → fields), for the model-based read-model tests.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "store/ordered_value.h"
#include "wire/value_codec.h"

namespace cqrs::testing {

using ModelFields = std::map<std::string, Value>;
using Model = std::map<std::string, ModelFields>;

// The value's order-preserving encoding: sorts as the index does.
inline std::string Ordered(const Value& v) {
  store::KeyBuffer k;
  store::AppendOrderedValue(wire::ToView(v), &k);
  return std::string(k.view());
}

inline int ValueKind(const Value& v) {
  if (std::holds_alternative<bool>(v)) return 1;
  if (std::holds_alternative<std::int64_t>(v) || std::holds_alternative<double>(v)) return 2;
  return std::holds_alternative<std::string>(v) ? 3 : 4;
}

// Keys a Find of `field` in [lo, hi] returns (std::monostate: open), in (value, key) order:
// values of the bound's kind only.
inline std::vector<std::string> ExpectedFind(const Model& model, const std::string& field,
                                             const Value& lo, const Value& hi) {
  const Value& bound = std::holds_alternative<std::monostate>(lo) ? hi : lo;
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& [key, fields] : model) {
    auto it = fields.find(field);
    if (it == fields.end() || ValueKind(it->second) != ValueKind(bound)) continue;
    ValueView v = wire::ToView(it->second);
    if (!std::holds_alternative<std::monostate>(lo) &&
        store::CompareOrdered(v, wire::ToView(lo)) < 0)
      continue;
    if (!std::holds_alternative<std::monostate>(hi) &&
        store::CompareOrdered(v, wire::ToView(hi)) > 0)
      continue;
    rows.emplace_back(Ordered(it->second), key);
  }
  std::sort(rows.begin(), rows.end());
  std::vector<std::string> keys;
  for (auto& r : rows) keys.push_back(r.second);
  return keys;
}

struct ModelGroup {
  std::uint64_t count = 0;
  double sum = 0;
};

// The groups of an aggregate (by ordered group value): count, and the sum of the numeric
// values of `sum` ("" for none).
inline std::map<std::string, ModelGroup> ExpectedGroups(const Model& model,
                                                        const std::string& group_by,
                                                        const std::string& sum) {
  std::map<std::string, ModelGroup> groups;
  for (const auto& [key, fields] : model) {
    auto g = fields.find(group_by);
    if (g == fields.end()) continue;
    ModelGroup& group = groups[Ordered(g->second)];
    ++group.count;
    auto s = sum.empty() ? fields.end() : fields.find(sum);
    if (s != fields.end()) {
      if (auto* i = std::get_if<std::int64_t>(&s->second)) group.sum += static_cast<double>(*i);
      if (auto* d = std::get_if<double>(&s->second)) group.sum += *d;
    }
  }
  return groups;
}

}  // namespace cqrs::testing
