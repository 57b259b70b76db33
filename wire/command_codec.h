// The command half of the protocol: CommandRequest ("CQC1") built on the client side and decoded
// by the writer (CommandDecoder: size, identifier, Verifier with tight limits, then the checks
// the Verifier cannot make: names, UTF-8, enums, unions, limits), CommandReply ("CQR1") on both
// sides.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/result.h"
#include "schemas/cqrs_generated.h"
#include "wire/value_codec.h"

namespace cqrs::wire {

struct DecodedCommandRequest {
  Status status;                 // OK, or InvalidArgument naming the field or limit
  int failed_index = -1;         // the offending command, -1 when the request as a whole is refused
  std::uint64_t request_id = 0;  // 0 unless the buffer verified
  // Set when the buffer verified and its client_id is valid, so the request can be sequenced
  // and its refusal remembered even when `status` is not OK. Points into the buffer.
  const fb::CommandRequest* root = nullptr;
  // Set (== root) only when status is OK.
  const fb::CommandRequest* request = nullptr;
};

// Not thread-safe (reuses scratch space); one per writer thread. Allocates nothing on the
// success path once warm; error messages allocate.
class CommandDecoder {
 public:
  explicit CommandDecoder(const Limits& limits) : limits_(limits) {}

  // `frame` must be 8-byte aligned (copy it into an AlignedBuffer first) and stay alive as long
  // as the returned pointer is used.
  DecodedCommandRequest Decode(std::span<const std::uint8_t> frame);

 private:
  Status CheckCommand(const fb::Command& command, std::size_t index);
  Status CheckField(const fb::Field& field, fb::Op op, std::size_t index, std::size_t j);

  Limits limits_;
  std::vector<std::string_view> names_;  // duplicate-field scratch
};

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
