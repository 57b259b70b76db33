// TableReader: reads the known keys of one TOML table (toml11) into typed fields and reports the
// first unknown or mistyped key by its full name. Used for the config and the principals file.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <toml.hpp>
#include <type_traits>
#include <vector>

#include "base/config.h"
#include "base/status.h"

namespace cqrs {

// Parses the TOML file at `path` into `root`. InvalidArgument "<label><path>: <error>" for a
// syntax error, Unavailable for a file that cannot be read. Defined in toml_reader.cc: toml11's
// parser is the costliest template in the build, so it is instantiated once.
Status ParseTomlFile(const std::string& path, std::string_view label, toml::value* root);

// Reads known keys of one TOML table and reports the first unknown or mistyped one.
class TableReader {
 public:
  // Messages read "<noun> <prefix><key> must be ..." and "unknown <noun> <prefix><key>".
  TableReader(const toml::value& table, std::string prefix, std::string noun = "config key")
      : table_(table), prefix_(std::move(prefix)), noun_(std::move(noun)) {}

  template <typename T>
  void Read(const char* key, T* out) {
    seen_.insert(key);
    if (!status_.ok() || !table_.contains(key)) return;
    const toml::value& v = table_.at(key);
    if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) return Fail(key, "a string");
      *out = v.as_string().str;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) return Fail(key, "true or false");
      *out = v.as_boolean();
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_integer()) return Fail(key, "an integer");
      std::int64_t i = v.as_integer();
      if (i < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
          static_cast<std::uint64_t>(i) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        return Fail(key, "an integer in range");
      *out = static_cast<T>(i);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      if (!v.is_array()) return Fail(key, "an array of strings");
      out->clear();
      for (const auto& item : v.as_array()) {
        if (!item.is_string()) return Fail(key, "an array of strings");
        out->push_back(item.as_string().str);
      }
    } else if constexpr (std::is_same_v<T, Durability>) {
      if (!v.is_string()) return Fail(key, "\"sync\" or \"nosync\"");
      auto d = ParseDurability(v.as_string().str);
      if (!d) return Fail(key, "\"sync\" or \"nosync\"");
      *out = *d;
    }
  }

  // An array of tables (TOML's [[key]] or key = [{...}, ...]); absent is fine.
  const toml::array* Tables(const char* key) {
    seen_.insert(key);
    if (!status_.ok() || !table_.contains(key)) return nullptr;
    const toml::value& v = table_.at(key);
    if (!v.is_array()) {
      Fail(key, "an array of tables");
      return nullptr;
    }
    for (const auto& item : v.as_array())
      if (!item.is_table()) {
        Fail(key, "an array of tables");
        return nullptr;
      }
    return &v.as_array();
  }
  // Descends into a sub-table; absent is fine.
  const toml::value* Table(const char* key) {
    seen_.insert(key);
    if (!status_.ok() || !table_.contains(key)) return nullptr;
    const toml::value& v = table_.at(key);
    if (!v.is_table()) {
      Fail(key, "a table");
      return nullptr;
    }
    return &v;
  }

  void Adopt(const Status& s) {
    if (status_.ok() && !s.ok()) status_ = s;
  }

  Status Finish() {
    if (!status_.ok()) return status_;
    for (const auto& [key, value] : table_.as_table()) {
      if (!seen_.count(key))
        return Error(Code::kInvalidArgument, "unknown {} {}{}", noun_, prefix_, key);
    }
    return OkStatus();
  }

 private:
  void Fail(const char* key, const char* what) {
    status_ = Error(Code::kInvalidArgument, "{} {}{} must be {}", noun_, prefix_, key, what);
  }

  const toml::value& table_;
  std::string prefix_;
  std::string noun_;
  std::set<std::string> seen_;
  Status status_;
};

}  // namespace cqrs
