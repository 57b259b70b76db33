// Event, EventBatch and ReplayRequest encoding and checks.
#include "wire/event_codec.h"

#include "wire/command_decoder.h"
#include "wire/protocol.h"
#include "wire/validate.h"
#include "wire/value.h"

namespace cqrs::wire {
namespace {

template <typename T>
Status Verify(std::span<const std::uint8_t> aligned, const char* identifier, std::string_view what,
              const T** out) {
  CQRS_RETURN_IF_ERROR(CheckFrame(aligned, 1u << 30, identifier, what));
  flatbuffers::Verifier verifier(aligned.data(), aligned.size(), kMaxVerifyDepth,
                                 MaxVerifyTables(aligned.size()));
  if (!verifier.VerifyBuffer<T>(identifier))
    return Error(Code::kInvalidArgument, "{} failed FlatBuffers verification", what);
  *out = flatbuffers::GetRoot<T>(aligned.data());
  return OkStatus();
}

}  // namespace

Status VerifyEvent(std::span<const std::uint8_t> aligned, const fb::Event** event) {
  return Verify(aligned, kEventId, "Event", event);
}

Status VerifyEventBatch(std::span<const std::uint8_t> aligned, const fb::EventBatch** batch) {
  return Verify(aligned, kEventBatchId, "EventBatch", batch);
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

void EventBatchBuilder::Add(const fb::Event& e) {
  fields_.clear();
  if (e.fields()) {
    for (const fb::Field* f : *e.fields()) {
      auto name = fbb_.CreateString(AsView(f->name()));
      auto [type, value] = CreateValue(fbb_, ValueOf(*f));
      fields_.push_back(fb::CreateField(fbb_, name, type, value));
    }
  }
  auto fields = fields_.empty() ? 0 : fbb_.CreateVector(fields_);
  auto str = [this](const flatbuffers::String* s) { return s ? fbb_.CreateString(AsView(s)) : 0; };
  auto tenant = str(e.tenant());
  auto collection = str(e.collection());
  auto key = str(e.key());
  auto client_id = str(e.client_id());
  events_.push_back(fb::CreateEvent(fbb_, e.seq(), e.collection_seq(), e.timestamp_ns(), tenant,
                                    collection, key, e.op(), e.version(), fields, client_id,
                                    e.request_id()));
}

std::span<const std::uint8_t> EventBatchBuilder::Finish(Code status, std::string_view message,
                                                        std::uint64_t head_seq) {
  auto msg = message.empty() ? 0 : fbb_.CreateString(message);
  auto events = events_.empty() ? 0 : fbb_.CreateVector(events_);
  fbb_.Finish(fb::CreateEventBatch(fbb_, ToWire(status), msg, head_seq, events), kEventBatchId);
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
  out.status = CheckFrame(aligned, max_request_bytes, kReplayRequestId, "ReplayRequest");
  if (!out.status.ok()) return out;
  flatbuffers::Verifier verifier(aligned.data(), aligned.size(), kMaxVerifyDepth,
                                 MaxVerifyTables(aligned.size()));
  if (!verifier.VerifyBuffer<fb::ReplayRequest>(kReplayRequestId)) {
    out.status = Status(Code::kInvalidArgument, "ReplayRequest failed FlatBuffers verification");
    return out;
  }
  const auto* r = flatbuffers::GetRoot<fb::ReplayRequest>(aligned.data());
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
