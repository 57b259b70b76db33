// Event decoding, what the projector and subscribers read: verify, then every field and value
// the consumers touch; and LogSegment, what a read replica reads from NATS JetStream: verified
// whole, then the same for each of its events.
#include <string>

#include "fuzz/fuzz_util.h"
#include "wire/event_codec.h"
#include "wire/log_segment.h"
#include "wire/value_codec.h"

namespace {

std::size_t Touch(const cqrs::fb::Event* event) {
  static std::string topic;
  cqrs::wire::EventTopic(*event, true, &topic);
  std::size_t touched = cqrs::wire::AsView(event->tenant()).size() +
                        cqrs::wire::AsView(event->collection()).size() +
                        cqrs::wire::AsView(event->key()).size();
  if (event->fields())
    for (const cqrs::fb::Field* f : *event->fields()) {
      const cqrs::ValueView v = cqrs::wire::ValueOf(*f);
      touched += cqrs::wire::AsView(f->name()).size() + v.bytes.size();
    }
  return touched;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& frame = cqrs::fuzz::Aligned(data, size);
  std::size_t touched = 0;
  const cqrs::fb::Event* event = nullptr;
  if (cqrs::wire::VerifyEvent(frame.span(), &event).ok()) touched += Touch(event);
  cqrs::wire::SegmentHeader header;
  (void)cqrs::wire::ForEachSegmentEvent(
      frame.span(), 1u << 30, &header,
      [&](const cqrs::fb::Event& e, std::span<const std::uint8_t>) {
        touched += Touch(&e);
        return cqrs::OkStatus();
      });
  return touched == SIZE_MAX ? 1 : 0;
}
