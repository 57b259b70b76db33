// Event, EventBatch and ReplayRequest encoding and checks.
#include "wire/event_codec.h"

#include "base/status.h"
#include "wire/command_codec.h"
#include "wire/protocol.h"
#include "wire/validate.h"
#include "wire/value_codec.h"

namespace cqrs::wire {
Status CheckEventFormat(const fb::Event& event) {
  if (event.format() == kEventFormat) return OkStatus();
  return Error(Code::kUnavailable,
               "event seq {} is of event format {}; this build reads event format {} only: "
               "upgrade this program",
               event.seq(), event.format(), kEventFormat);
}

Status VerifyEvent(std::span<const std::uint8_t> aligned, const fb::Event** event) {
  CQRS_RETURN_IF_ERROR(VerifyFrame(aligned, kMaxTrustedFrameBytes, kEventId, "Event", event));
  return CheckEventFormat(**event);
}

Status VerifyEventBatch(std::span<const std::uint8_t> aligned, const fb::EventBatch** batch) {
  CQRS_RETURN_IF_ERROR(
      VerifyFrame(aligned, kMaxTrustedFrameBytes, kEventBatchId, "EventBatch", batch));
  if (const auto* events = (*batch)->events())
    for (const fb::Event* e : *events) CQRS_RETURN_IF_ERROR(CheckEventFormat(*e));
  return OkStatus();
}

void EventTopic(const fb::Event& event, bool with_tenant, std::string* topic) {
  topic->clear();
  if (with_tenant) {
    topic->append(AsView(event.tenant()));
    topic->push_back('/');
  }
  topic->append(AsView(event.collection()));
  topic->push_back('/');
  topic->append(AsView(event.key()));
}

void EventBatchBuilder::Begin() {
  fbb_.Clear();
  events_.clear();
}

flatbuffers::Offset<fb::Event> CopyEvent(flatbuffers::FlatBufferBuilder& fbb, const fb::Event& e,
                                         std::uint16_t format,
                                         std::vector<flatbuffers::Offset<fb::Field>>* scratch) {
  scratch->clear();
  if (e.fields()) {
    for (const fb::Field* f : *e.fields()) {
      auto name = fbb.CreateString(AsView(f->name()));
      auto [type, value] = CreateValue(fbb, ValueOf(*f));
      scratch->push_back(fb::CreateField(fbb, name, type, value));
    }
  }
  auto fields = scratch->empty() ? 0 : fbb.CreateVector(*scratch);
  auto str = [&fbb](const flatbuffers::String* s) { return s ? fbb.CreateString(AsView(s)) : 0; };
  auto tenant = str(e.tenant());
  auto collection = str(e.collection());
  auto key = str(e.key());
  auto client_id = str(e.client_id());
  return fb::CreateEvent(fbb, e.seq(), e.collection_seq(), e.timestamp_ns(), tenant, collection,
                         key, e.op(), e.version(), fields, client_id, e.request_id(), format);
}

void EventBatchBuilder::Add(const fb::Event& e) {
  events_.push_back(CopyEvent(fbb_, e, e.format(), &fields_));
}

std::span<const std::uint8_t> EventBatchBuilder::Finish(Code status, std::string_view message,
                                                        std::uint64_t head_seq,
                                                        std::uint64_t first_seq,
                                                        std::uint64_t snapshot_seq) {
  auto msg = message.empty() ? 0 : fbb_.CreateString(message);
  auto events = events_.empty() ? 0 : fbb_.CreateVector(events_);
  fbb_.Finish(
      fb::CreateEventBatch(fbb_, ToWire(status), msg, head_seq, events, first_seq, snapshot_seq),
      kEventBatchId);
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

std::span<const std::uint8_t> ReplayRequestEncoder::Encode(std::uint64_t from_seq,
                                                           std::uint32_t max_events,
                                                           std::string_view collection) {
  fbb_.Clear();
  auto c = collection.empty() ? 0 : fbb_.CreateString(collection);
  fbb_.Finish(fb::CreateReplayRequest(fbb_, from_seq, max_events, c), kReplayRequestId);
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

DecodedReplayRequest DecodeReplayRequest(std::span<const std::uint8_t> aligned,
                                         std::uint32_t max_request_bytes) {
  DecodedReplayRequest out;
  const fb::ReplayRequest* r = nullptr;
  out.status = VerifyFrame(aligned, max_request_bytes, kReplayRequestId, "ReplayRequest", &r);
  if (!out.status.ok()) return out;
  out.from_seq = r->from_seq() == 0 ? 1 : r->from_seq();
  out.max_events = r->max_events() == 0 ? kDefaultReplayEvents : r->max_events();
  if (out.max_events > kMaxReplayEvents) {
    out.status = Error(Code::kInvalidArgument, "max_events {} is over the maximum {}",
                       r->max_events(), kMaxReplayEvents);
    return out;
  }
  out.collection = AsView(r->collection());
  if (!out.collection.empty() && !IsValidCollectionName(out.collection))
    out.status = Error(Code::kInvalidArgument, "collection {} must match [a-z0-9_]{{1,64}}",
                       Quoted(out.collection));
  return out;
}

}  // namespace cqrs::wire
