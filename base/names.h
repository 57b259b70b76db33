// Name rules shared by the wire protocol and the configuration (read-model declarations).
#pragma once

#include <string_view>

namespace cqrs {

// Collection (and aggregate) names: [a-z0-9_]{1,64}.
bool IsValidCollectionName(std::string_view s);

// Field names: [A-Za-z_][A-Za-z0-9_]{0,63}.
bool IsValidFieldName(std::string_view s);

}  // namespace cqrs
