// ParseTomlFile: the one place toml11's parser is instantiated.
#include "base/toml_reader.h"

#include "base/status.h"

namespace cqrs {

Status ParseTomlFile(const std::string& path, std::string_view label, toml::value* root) {
  try {
    *root = toml::parse(path);
  } catch (const toml::syntax_error& e) {
    return Error(Code::kInvalidArgument, "{}{}: {}", label, path, e.what());
  } catch (const std::exception& e) {
    return Error(Code::kUnavailable, "{}{}: {}", label, path, e.what());
  }
  return OkStatus();
}

}  // namespace cqrs
