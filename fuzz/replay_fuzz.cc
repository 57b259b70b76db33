// The replay protocol: a ReplayRequest as the projector decodes it, and an EventBatch as a
// subscriber verifies it (with each event inside).
#include "fuzz/fuzz_util.h"
#include "wire/event_codec.h"
#include "wire/value_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& frame = cqrs::fuzz::Aligned(data, size);
  (void)cqrs::wire::DecodeReplayRequest(frame.span(), 1u << 20);
  const cqrs::fb::EventBatch* batch = nullptr;
  if (!cqrs::wire::VerifyEventBatch(frame.span(), &batch).ok() || !batch->events()) return 0;
  std::size_t touched = 0;
  for (const cqrs::fb::Event* e : *batch->events()) {
    touched += e->seq() + cqrs::wire::AsView(e->key()).size();
    if (e->fields())
      for (const cqrs::fb::Field* f : *e->fields()) touched += cqrs::wire::ValueOf(*f).bytes.size();
  }
  return touched == 1 ? 0 : 0;
}
