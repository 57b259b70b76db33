// Event decoding, what the projector and subscribers read: verify, then every field and value
// the consumers touch.
#include <string>

#include "fuzz/fuzz_util.h"
#include "wire/event_codec.h"
#include "wire/value_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& frame = cqrs::fuzz::Aligned(data, size);
  const cqrs::fb::Event* event = nullptr;
  if (!cqrs::wire::VerifyEvent(frame.span(), &event).ok()) return 0;
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
  return touched == SIZE_MAX ? 1 : 0;
}
