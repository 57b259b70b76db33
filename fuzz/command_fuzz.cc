// Command decoding, the writer's input: verify, semantic checks, every field's value; and the
// CommandBatch / CommandBatchReply frames that nest them, each nested frame as writer and client
// take it.
#include "base/config.h"
#include "fuzz/fuzz_util.h"
#include "wire/batch_codec.h"
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
  static cqrs::wire::AlignedBuffer nested_copy;
  (void)cqrs::wire::ForEachNestedFrame(frame.span(), cqrs::wire::BatchKind::kCommands, 1u << 20,
                                       1024, [](std::span<const std::uint8_t> nested) {
                                         nested_copy.Assign(nested.data(), nested.size());
                                         (void)decoder.Decode(nested_copy.span());
                                       });
  cqrs::wire::ForEachReply(frame.span(), cqrs::wire::BatchKind::kCommandReplies, nested_copy,
                           [&reply](std::span<const std::uint8_t> nested) {
                             (void)cqrs::wire::ParseCommandReply(nested, &reply);
                           });
  return 0;
}
