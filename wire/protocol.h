// Wire protocol constants: the file identifier of each root type and the mapping between our
// status codes and cqrs.fb.Status; and the one check every frame goes through before it is read
// (size, identifier, Verifier). docs/PROTOCOL.md is the contract these implement.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/status.h"
#include "schemas/cqrs_generated.h"

namespace cqrs::wire {

inline constexpr const char kCommandRequestId[] = "CQC1";
inline constexpr const char kCommandReplyId[] = "CQR1";
inline constexpr const char kQueryRequestId[] = "CQQ1";
inline constexpr const char kQueryReplyId[] = "CQA1";
inline constexpr const char kQueryBatchId[] = "CQM1";
inline constexpr const char kQueryBatchReplyId[] = "CQN1";
inline constexpr const char kCommandBatchId[] = "CQG1";
inline constexpr const char kCommandBatchReplyId[] = "CQH1";
inline constexpr const char kEventId[] = "CQE1";
// Event.format of every event this build writes; VerifyEvent refuses any other.
inline constexpr std::uint16_t kEventFormat = 1;
inline constexpr const char kReplayRequestId[] = "CQP1";
inline constexpr const char kEventBatchId[] = "CQB1";
inline constexpr const char kLogSegmentId[] = "CQL1";

// Verifier bounds. A legitimate message needs at least a few bytes per table, so tables are
// bounded by size/4: verification cost stays linear in the frame size (docs/DEPENDENCY_FACTS.md
// fact 6).
inline constexpr std::uint32_t kMaxVerifyDepth = 16;
inline std::uint32_t MaxVerifyTables(std::size_t size) {
  return static_cast<std::uint32_t>(size / 4 + 16);
}

// The smallest FlatBuffer with an identifier: root offset + identifier.
inline constexpr std::size_t kMinMessageBytes = 8;

// At most this many frames per message as a server's ROUTER receives it (the routing id it adds,
// the client's envelope, the body): 15 from a client. More is InvalidArgument at the writer.
inline constexpr std::size_t kMaxFrames = 16;

// ZMQ_MAXMSGSIZE of the reader and replay sockets is limits.max_request_bytes plus this (and the
// writer's writer.max_message_bytes defaults to the same), so a request a little over the
// limit is answered InvalidArgument naming it rather than cut off by libzmq.
inline constexpr std::uint32_t kMessageSlackBytes = 64u << 10;

// The size bound for frames our own servers made (replies, events from the log): they are still
// verified, but limited only by what a sane peer could send. Requests are bounded by
// limits.max_request_bytes instead.
inline constexpr std::uint32_t kMaxTrustedFrameBytes = 1u << 30;

// Size (not empty, at most `max_bytes`, at least kMinMessageBytes) and file identifier of a frame
// holding a `what`; InvalidArgument saying which, else Ok.
Status CheckFrame(std::span<const std::uint8_t> frame, std::uint32_t max_bytes,
                  const char* identifier, std::string_view what);

// CheckFrame, then the FlatBuffers Verifier within kMaxVerifyDepth and MaxVerifyTables; sets
// `*root`. `frame` must be 8-byte aligned (docs/DEPENDENCY_FACTS.md fact 5). The Verifier is
// necessary, not sufficient: callers still check what it cannot (fact 6).
template <typename T>
Status VerifyFrame(std::span<const std::uint8_t> frame, std::uint32_t max_bytes,
                   const char* identifier, std::string_view what, const T** root) {
  CQRS_RETURN_IF_ERROR(CheckFrame(frame, max_bytes, identifier, what));
  flatbuffers::Verifier verifier(frame.data(), frame.size(), kMaxVerifyDepth,
                                 MaxVerifyTables(frame.size()));
  if (!verifier.VerifyBuffer<T>(identifier))
    return Error(Code::kInvalidArgument,
                 "{} of {} bytes failed FlatBuffers verification (truncated, bad offsets, or "
                 "over depth {} / {} tables)",
                 what, frame.size(), kMaxVerifyDepth, MaxVerifyTables(frame.size()));
  *root = flatbuffers::GetRoot<T>(frame.data());
  return OkStatus();
}

inline fb::Status ToWire(Code code) { return static_cast<fb::Status>(code); }
inline Code FromWire(fb::Status status) {
  auto v = static_cast<std::uint16_t>(status);
  return v < kCodeCount ? static_cast<Code>(v) : Code::kInternal;
}

static_assert(static_cast<int>(fb::Status::Internal) == static_cast<int>(Code::kInternal));
static_assert(static_cast<int>(fb::Status::OutOfOrder) == static_cast<int>(Code::kOutOfOrder));
static_assert(static_cast<int>(fb::Status::OutOfRange) == static_cast<int>(Code::kOutOfRange));
static_assert(static_cast<int>(fb::Status::MAX) + 1 == kCodeCount);

}  // namespace cqrs::wire
