// The frame check every decoder starts with.
#include "wire/protocol.h"

#include "base/status.h"
#include "wire/validate.h"

namespace cqrs::wire {

Status CheckFrame(std::span<const std::uint8_t> frame, std::uint32_t max_bytes,
                  const char* identifier, std::string_view what) {
  if (frame.empty()) return Error(Code::kInvalidArgument, "empty frame: expected a {}", what);
  if (frame.size() > max_bytes)
    return Error(Code::kInvalidArgument, "{} is {} bytes, over max_request_bytes {}", what,
                 frame.size(), max_bytes);
  if (frame.size() < kMinMessageBytes)
    return Error(Code::kInvalidArgument, "{} is {} bytes, shorter than the {}-byte minimum", what,
                 frame.size(), kMinMessageBytes);
  if (!flatbuffers::BufferHasIdentifier(frame.data(), identifier)) {
    std::string_view got(reinterpret_cast<const char*>(frame.data()) + 4, 4);
    return Error(Code::kInvalidArgument, "file identifier {} is not {} ({})", Quoted(got),
                 identifier, what);
  }
  return OkStatus();
}

}  // namespace cqrs::wire
