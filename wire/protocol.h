// Wire protocol constants: the file identifier of each root type and the mapping between our
// status codes and cqrs.fb.Status. docs/PROTOCOL.md is the contract these implement.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "schemas/cqrs_generated.h"

namespace cqrs::wire {

inline constexpr const char kCommandRequestId[] = "CQC1";
inline constexpr const char kCommandReplyId[] = "CQR1";
inline constexpr const char kQueryRequestId[] = "CQQ1";
inline constexpr const char kQueryReplyId[] = "CQA1";
inline constexpr const char kEventId[] = "CQE1";
// Event.format of every event this build writes; VerifyEvent refuses any other.
inline constexpr std::uint16_t kEventFormat = 1;
inline constexpr const char kReplayRequestId[] = "CQP1";
inline constexpr const char kEventBatchId[] = "CQB1";

// Verifier bounds. A legitimate message needs at least a few bytes per table, so tables are
// bounded by size/4: verification cost stays linear in the frame size (docs/DEPENDENCY_FACTS.md
// fact 6).
inline constexpr std::uint32_t kMaxVerifyDepth = 16;
inline std::uint32_t MaxVerifyTables(std::size_t size) {
  return static_cast<std::uint32_t>(size / 4 + 16);
}

// The smallest FlatBuffer with an identifier: root offset + identifier.
inline constexpr std::size_t kMinMessageBytes = 8;

// At most this many frames per message (routing envelope + body); more is InvalidArgument.
inline constexpr std::size_t kMaxFrames = 16;

inline fb::Status ToWire(Code code) { return static_cast<fb::Status>(code); }
inline Code FromWire(fb::Status status) {
  auto v = static_cast<std::uint16_t>(status);
  return v < kCodeCount ? static_cast<Code>(v) : Code::kInternal;
}

static_assert(static_cast<int>(fb::Status::Internal) == static_cast<int>(Code::kInternal));
static_assert(static_cast<int>(fb::Status::OutOfOrder) == static_cast<int>(Code::kOutOfOrder));
static_assert(static_cast<int>(fb::Status::MAX) + 1 == kCodeCount);

}  // namespace cqrs::wire
