// cqrs::Version(): the library's version as built.
#include "base/version.h"

namespace cqrs {
std::string_view Version() { return CQRS_VERSION_STRING; }
}  // namespace cqrs
