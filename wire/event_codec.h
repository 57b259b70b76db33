// The event half of the protocol: Event ("CQE1") as stored in the log and published on PUB,
// EventBatch ("CQB1") for heartbeats and replay replies, ReplayRequest ("CQP1").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "schemas/cqrs_generated.h"

namespace cqrs::wire {

// The topic of the heartbeat on the events PUB socket; event topics are "<collection>/<key>".
inline constexpr std::string_view kHeartbeatTopic = "~hb";

// Replay bounds: events per reply, and bytes per reply (a reply stops early past it).
inline constexpr std::uint32_t kDefaultReplayEvents = 1000;
inline constexpr std::uint32_t kMaxReplayEvents = 10000;
inline constexpr std::size_t kMaxReplayBytes = 4u << 20;

// Verifies an aligned Event buffer. InvalidArgument if it is not one; Unavailable naming both
// formats if its Event.format is not kEventFormat (an event of a newer build is never misread).
Status VerifyEvent(std::span<const std::uint8_t> aligned, const fb::Event** event);

// Sets `topic` to "<collection>/<key>", or "<tenant>/<collection>/<key>" `with_tenant` (security
// on), reusing its capacity.
void EventTopic(const fb::Event& event, bool with_tenant, std::string* topic);

// Builds EventBatch messages, copying events in as nested tables. Reuses its buffers.
// Builds a copy of `e` in `fbb` (not finished) with Event.format `format`; `scratch` is reused.
flatbuffers::Offset<fb::Event> CopyEvent(flatbuffers::FlatBufferBuilder& fbb, const fb::Event& e,
                                         std::uint16_t format,
                                         std::vector<flatbuffers::Offset<fb::Field>>* scratch);

class EventBatchBuilder {
 public:
  void Begin();
  void Add(const fb::Event& event);
  std::size_t size() const { return events_.size(); }
  std::size_t bytes() const { return fbb_.GetSize(); }
  // `first_seq`, `snapshot_seq`: an OutOfRange reply's (EventBatch in docs/PROTOCOL.md).
  std::span<const std::uint8_t> Finish(Code status, std::string_view message,
                                       std::uint64_t head_seq, std::uint64_t first_seq = 0,
                                       std::uint64_t snapshot_seq = 0);

 private:
  flatbuffers::FlatBufferBuilder fbb_{1024};
  std::vector<flatbuffers::Offset<fb::Event>> events_;
  std::vector<flatbuffers::Offset<fb::Field>> fields_;
};

// Verifies an aligned EventBatch buffer, and the format of each of its events as VerifyEvent.
Status VerifyEventBatch(std::span<const std::uint8_t> aligned, const fb::EventBatch** batch);

// Client side: encodes a ReplayRequest (valid until the next Encode).
class ReplayRequestEncoder {
 public:
  std::span<const std::uint8_t> Encode(std::uint64_t from_seq, std::uint32_t max_events,
                                       std::string_view collection);

 private:
  flatbuffers::FlatBufferBuilder fbb_{128};
};

struct DecodedReplayRequest {
  Status status;
  std::uint64_t from_seq = 1;  // 0 in the request means 1
  std::uint32_t max_events = kDefaultReplayEvents;
  std::string_view collection;  // empty: every collection; points into the buffer
};

// Verifies and checks a ReplayRequest: InvalidArgument naming the field.
DecodedReplayRequest DecodeReplayRequest(std::span<const std::uint8_t> aligned,
                                         std::uint32_t max_request_bytes);

}  // namespace cqrs::wire
