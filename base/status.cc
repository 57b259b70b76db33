// Names and formatting of status codes.
#include "base/status.h"

#include <array>

namespace cqrs {

std::string_view CodeName(Code code) {
  static constexpr std::array<std::string_view, kCodeCount> kNames = {"Ok",
                                                                      "InvalidArgument",
                                                                      "Unauthenticated",
                                                                      "PermissionDenied",
                                                                      "NotFound",
                                                                      "AlreadyExists",
                                                                      "VersionConflict",
                                                                      "OutOfOrder",
                                                                      "ResourceExhausted",
                                                                      "Unavailable",
                                                                      "DeadlineExceeded",
                                                                      "Internal",
                                                                      "OutOfRange"};
  auto i = static_cast<std::size_t>(code);
  return i < kNames.size() ? kNames[i] : std::string_view("Unknown");
}

std::string Status::ToString() const {
  if (ok()) return "Ok";
  return fmt::format("{}: {}", CodeName(code_), message_);
}

}  // namespace cqrs
