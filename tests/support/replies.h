// Test support: parsing a CommandReply the way a client does (aligned copy, then verify).
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "wire/aligned_buffer.h"
#include "wire/command_codec.h"

namespace cqrs::testing {

inline wire::CommandReplyData ParseCommandReply(const std::vector<std::uint8_t>& bytes) {
  wire::AlignedBuffer b;
  b.Assign(bytes.data(), bytes.size());
  wire::CommandReplyData r;
  REQUIRE(wire::ParseCommandReply(b.span(), &r).ok());
  return r;
}

}  // namespace cqrs::testing
