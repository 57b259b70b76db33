// Query decoding, the readers' input, and reply parsing, the client's: single frames and the
// batches that nest them (QueryBatch, QueryBatchReply), each nested frame as reader and client
// take it.
#include "fuzz/fuzz_util.h"
#include "wire/aligned_buffer.h"
#include "wire/batch_codec.h"
#include "wire/query_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& frame = cqrs::fuzz::Aligned(data, size);
  (void)cqrs::wire::DecodeQueryRequest(frame.span(), cqrs::wire::QueryLimits());
  cqrs::wire::QueryReplyData reply;
  (void)cqrs::wire::ParseQueryReply(frame.span(), &reply);
  cqrs::wire::AlignedBuffer nested_copy;
  for (bool is_reply : {false, true}) {
    (void)cqrs::wire::ForEachNestedFrame(
        frame.span(),
        is_reply ? cqrs::wire::BatchKind::kQueryReplies : cqrs::wire::BatchKind::kQueries, 1u << 20,
        256, [&](std::span<const std::uint8_t> nested) {
          nested_copy.Assign(nested.data(), nested.size());
          if (is_reply) {
            (void)cqrs::wire::ParseQueryReply(nested_copy.span(), &reply);
          } else {
            (void)cqrs::wire::DecodeQueryRequest(nested_copy.span(), cqrs::wire::QueryLimits());
          }
        });
  }
  return 0;
}
