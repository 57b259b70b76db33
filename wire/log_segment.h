// LogSegment ("CQL1"): one message of the event log's NATS JetStream mirror. cqrs-mirror packs
// the events it reads from the log into segments; a read replica verifies each segment and
// applies its events. A segment's JetStream message id is "<first_seq>-<last_seq>"
// (docs/PROTOCOL.md, "The event log on NATS JetStream").
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "schemas/cqrs_generated.h"

namespace cqrs::wire {

// The message id of the segment of events first..last: "<first>-<last>".
std::string SegmentMsgId(std::uint64_t first_seq, std::uint64_t last_seq);
// Parses a SegmentMsgId; InvalidArgument if `id` is not one (first ≤ last, both ≥ 1).
Status ParseSegmentMsgId(std::string_view id, std::uint64_t* first_seq, std::uint64_t* last_seq);

// Builds segments from Event frames, reusing its buffers.
class LogSegmentBuilder {
 public:
  void Begin();
  // Copies an Event frame in (8-byte aligned); the caller adds events in seq order, no gap.
  void Add(std::span<const std::uint8_t> event_frame);
  std::size_t count() const { return events_.size(); }
  // The segment's size so far, near enough to decide when to stop adding.
  std::size_t size() const { return fbb_.GetSize() + 16 * events_.size() + 64; }
  // The finished segment (valid until the next Begin).
  std::span<const std::uint8_t> Finish(std::string_view store_id, std::uint64_t first_seq,
                                       std::uint64_t last_seq);

 private:
  flatbuffers::FlatBufferBuilder fbb_{4096};
  std::vector<flatbuffers::Offset<fb::NestedFrame>> events_;
};

struct SegmentHeader {
  std::string_view store_id;  // points into the segment
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
};

// Verifies an aligned segment of at most `max_bytes`: its identifier and FlatBuffers, a store
// id, 1 ≤ first_seq ≤ last_seq, one event per seq of the range, each a valid Event
// (VerifyEvent) whose seq is the next of the range. Then calls `each` with every event and its
// frame, in order, stopping at the first error it returns. InvalidArgument naming the failed
// check (Unavailable for an event of an unknown format), before any call of `each`.
Status ForEachSegmentEvent(
    std::span<const std::uint8_t> aligned, std::uint32_t max_bytes, SegmentHeader* header,
    const std::function<Status(const fb::Event&, std::span<const std::uint8_t>)>& each);

}  // namespace cqrs::wire
