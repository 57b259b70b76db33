// LogSegment: building and verifying the mirror's messages.
#include "wire/log_segment.h"

#include <fmt/format.h>

#include <charconv>

#include "base/status.h"
#include "wire/event_codec.h"
#include "wire/protocol.h"
#include "wire/value_codec.h"

namespace cqrs::wire {

std::string SegmentMsgId(std::uint64_t first_seq, std::uint64_t last_seq) {
  return fmt::format("{}-{}", first_seq, last_seq);
}

Status ParseSegmentMsgId(std::string_view id, std::uint64_t* first_seq, std::uint64_t* last_seq) {
  const char* end = id.data() + id.size();
  auto [dash, e1] = std::from_chars(id.data(), end, *first_seq);
  if (e1 == std::errc() && dash != end && *dash == '-') {
    auto [tail, e2] = std::from_chars(dash + 1, end, *last_seq);
    if (e2 == std::errc() && tail == end && *first_seq >= 1 && *first_seq <= *last_seq)
      return OkStatus();
  }
  return Error(Code::kInvalidArgument, "message id '{}' is not a segment's <first_seq>-<last_seq>",
               id);
}

void LogSegmentBuilder::Begin() {
  fbb_.Clear();
  events_.clear();
}

void LogSegmentBuilder::Add(std::span<const std::uint8_t> event_frame) {
  fbb_.ForceVectorAlignment(event_frame.size(), sizeof(std::uint8_t), 8);
  auto bytes = fbb_.CreateVector(event_frame.data(), event_frame.size());
  events_.push_back(fb::CreateNestedFrame(fbb_, bytes));
}

std::span<const std::uint8_t> LogSegmentBuilder::Finish(std::string_view store_id,
                                                        std::uint64_t first_seq,
                                                        std::uint64_t last_seq) {
  auto events = fbb_.CreateVector(events_);
  auto id = fbb_.CreateString(store_id.data(), store_id.size());
  fbb_.Finish(fb::CreateLogSegment(fbb_, id, first_seq, last_seq, events), kLogSegmentId);
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

Status ForEachSegmentEvent(
    std::span<const std::uint8_t> aligned, std::uint32_t max_bytes, SegmentHeader* header,
    const std::function<Status(const fb::Event&, std::span<const std::uint8_t>)>& each) {
  const fb::LogSegment* segment = nullptr;
  CQRS_RETURN_IF_ERROR(VerifyFrame(aligned, max_bytes, kLogSegmentId, "LogSegment", &segment));
  if (segment->store_id() == nullptr || segment->store_id()->size() == 0)
    return Error(Code::kInvalidArgument, "LogSegment has no store_id");
  header->store_id = AsView(segment->store_id());
  header->first_seq = segment->first_seq();
  header->last_seq = segment->last_seq();
  const auto* events = segment->events();
  const std::size_t count = events == nullptr ? 0 : events->size();
  if (header->first_seq < 1 || header->first_seq > header->last_seq ||
      header->last_seq - header->first_seq + 1 != count)
    return Error(Code::kInvalidArgument,
                 "LogSegment of seqs {}..{} holds {} events: a segment holds one event per seq",
                 header->first_seq, header->last_seq, count);
  // Every event is checked before the first is handed out: a bad segment applies nothing.
  std::uint64_t seq = header->first_seq;
  for (const fb::NestedFrame* nested : *events) {
    const auto* bytes = nested->frame();
    const fb::Event* event = nullptr;
    if (bytes == nullptr) return Error(Code::kInvalidArgument, "LogSegment event {} is empty", seq);
    std::span<const std::uint8_t> frame(bytes->data(), bytes->size());
    if (reinterpret_cast<std::uintptr_t>(frame.data()) % 8 != 0)
      return Error(Code::kInvalidArgument, "LogSegment event {} is not 8-byte aligned", seq);
    Status s = VerifyEvent(frame, &event);
    if (!s.ok()) return Status(s.code(), fmt::format("LogSegment event {}: {}", seq, s.message()));
    if (event->seq() != seq)
      return Error(Code::kInvalidArgument, "LogSegment event {} has seq {}", seq, event->seq());
    ++seq;
  }
  for (const fb::NestedFrame* nested : *events) {
    const auto* bytes = nested->frame();
    std::span<const std::uint8_t> frame(bytes->data(), bytes->size());
    CQRS_RETURN_IF_ERROR(each(*flatbuffers::GetRoot<fb::Event>(frame.data()), frame));
  }
  return OkStatus();
}

}  // namespace cqrs::wire
