// CommandDecoder: turns one received frame into a verified, semantically checked CommandRequest,
// or into the exact InvalidArgument a client gets back. Steps: size, identifier, Verifier with
// tight limits, then the checks the Verifier cannot make (names, UTF-8, enums, unions, limits).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "schemas/cqrs_generated.h"

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

}  // namespace cqrs::wire
