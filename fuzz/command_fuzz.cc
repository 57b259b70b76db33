// Command decoding, the writer's input: verify, semantic checks, every field's value.
#include "base/config.h"
#include "fuzz/fuzz_util.h"
#include "wire/command_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const cqrs::Limits limits;
  static cqrs::wire::CommandDecoder decoder(limits);
  const auto& frame = cqrs::fuzz::Aligned(data, size);
  cqrs::wire::DecodedCommandRequest decoded = decoder.Decode(frame.span());
  (void)decoded;
  // The same bytes as a reply, the client's input.
  cqrs::wire::CommandReplyData reply;
  (void)cqrs::wire::ParseCommandReply(frame.span(), &reply);
  return 0;
}
