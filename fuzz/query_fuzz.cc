// Query decoding, the readers' input, and reply parsing, the client's.
#include "fuzz/fuzz_util.h"
#include "wire/query_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& frame = cqrs::fuzz::Aligned(data, size);
  (void)cqrs::wire::DecodeQueryRequest(frame.span(), cqrs::wire::QueryLimits());
  cqrs::wire::QueryReplyData reply;
  (void)cqrs::wire::ParseQueryReply(frame.span(), &reply);
  return 0;
}
