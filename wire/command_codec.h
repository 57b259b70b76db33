// Building and parsing the command half of the protocol: CommandRequest ("CQC1") on the client
// side, CommandReply ("CQR1") on both sides.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "wire/value.h"

namespace cqrs::wire {

// Encodes CommandRequests, reusing its builder and scratch space: once warm, encoding allocates
// nothing. Not thread-safe. The returned bytes are valid until the next Encode().
class CommandRequestEncoder {
 public:
  std::span<const std::uint8_t> Encode(std::string_view client_id, std::uint64_t request_id,
                                       std::string_view token,
                                       std::span<const CommandSpec> commands);

 private:
  flatbuffers::FlatBufferBuilder fbb_{1024};
  std::vector<flatbuffers::Offset<fb::Command>> commands_;
  std::vector<flatbuffers::Offset<fb::Field>> fields_;
};

// Clears `fbb` and builds a finished CommandReply in it.
void BuildCommandReply(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t request_id, Code status,
                       std::string_view message, int failed_index, std::uint64_t seq,
                       std::span<const std::uint64_t> versions,
                       std::uint64_t expected_request_id = 0);

// A CommandReply, owned.
struct CommandReplyData {
  std::uint64_t request_id = 0;
  Code status = Code::kOk;
  std::string message;
  int failed_index = -1;
  std::uint64_t seq = 0;
  std::vector<std::uint64_t> versions;
  std::uint64_t expected_request_id = 0;  // OutOfOrder: the id the writer expects next
};

// Parses a CommandReply from an aligned frame. InvalidArgument if it is not one.
Status ParseCommandReply(std::span<const std::uint8_t> aligned, CommandReplyData* out);

}  // namespace cqrs::wire
