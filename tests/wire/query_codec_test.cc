#include "wire/query_codec.h"

#include <catch2/catch.hpp>

#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"
#include "wire/protocol.h"

namespace cqrs::wire {
namespace {

DecodedQueryRequest Decode(std::span<const std::uint8_t> bytes, AlignedBuffer* buffer,
                           QueryLimits limits = QueryLimits()) {
  buffer->Assign(bytes.data(), bytes.size());
  return DecodeQueryRequest(buffer->span(), limits);
}

std::string Message(const QuerySpec& q, std::uint32_t timeout_ms = 0) {
  QueryRequestEncoder encoder;
  AlignedBuffer buffer;
  auto d = Decode(encoder.Encode(1, "", 0, timeout_ms, q), &buffer);
  return d.status.ok() ? "ok" : d.status.message();
}

}  // namespace

TEST_CASE("QueryRequestEncoder and DecodeQueryRequest agree on Get and Scan", "[wire][query]") {
  QueryRequestEncoder encoder;
  AlignedBuffer buffer;
  auto get = Decode(encoder.Encode(9, "tok", 42, 250, GetQuery{"orders", "k1"}), &buffer);
  REQUIRE(get.status.ok());
  CHECK(get.request_id == 9);
  CHECK(get.request->min_seq() == 42);
  CHECK(get.request->timeout_ms() == 250);
  CHECK(get.request->query_as_Get()->key()->str() == "k1");
  auto scan =
      Decode(encoder.Encode(10, "", 0, 0, ScanQuery{"orders", "p", "a", "z", "b", 7}), &buffer);
  REQUIRE(scan.status.ok());
  const auto* s = scan.request->query_as_Scan();
  CHECK(s->prefix()->str() == "p");
  CHECK(s->after()->str() == "b");
  CHECK(s->limit() == 7);
}

TEST_CASE("DecodeQueryRequest names what is wrong with a query", "[wire][query]") {
  CHECK(Message(GetQuery{"orders", "k"}) == "ok");
  CHECK_THAT(Message(GetQuery{"Orders", "k"}),
             Catch::Contains("get.collection 'Orders' must match"));
  CHECK_THAT(Message(GetQuery{"orders", ""}), Catch::Contains("get.key is empty"));
  CHECK_THAT(Message(GetQuery{"orders", std::string(508, 'k')}),
             Catch::Contains("get.key is 508 bytes, over max_key_bytes 507"));
  CHECK_THAT(Message(GetQuery{"orders", "a\xff"}), Catch::Contains("get.key must be UTF-8"));
  CHECK_THAT(Message(ScanQuery{"orders", "", "", "", "", 1001}),
             Catch::Contains("scan.limit 1001 is over max_scan_limit 1000"));
  CHECK_THAT(Message(ScanQuery{"orders", std::string("a\0", 2), "", "", "", 0}),
             Catch::Contains("scan.prefix must be UTF-8 without NUL"));
  CHECK_THAT(Message(GetQuery{"orders", "k"}, 60001),
             Catch::Contains("timeout_ms 60001 is over max_timeout_ms 60000"));
}

TEST_CASE("DecodeQueryRequest refuses frames that are not a QueryRequest", "[wire][query]") {
  AlignedBuffer buffer;
  std::vector<std::uint8_t> junk(40, 0x11);
  CHECK_THAT(Decode(junk, &buffer).status.message(), Catch::Contains("is not CQQ1"));
  CHECK_THAT(Decode({}, &buffer).status.message(), Catch::Contains("empty frame"));
  // A query with no query table at all.
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(fb::CreateQueryRequest(fbb, 5), kQueryRequestId);
  auto none = Decode({fbb.GetBufferPointer(), fbb.GetSize()}, &buffer);
  CHECK(none.request_id == 5);
  CHECK_THAT(none.status.message(), Catch::Contains("query is missing"));
  // An unknown union type.
  fbb.Clear();
  auto get = fb::CreateGet(fbb, fbb.CreateString("orders"), fbb.CreateString("k"));
  fbb.Finish(fb::CreateQueryRequest(fbb, 6, 0, 0, 0, static_cast<fb::Query>(9), get.Union()),
             kQueryRequestId);
  CHECK_THAT(Decode({fbb.GetBufferPointer(), fbb.GetSize()}, &buffer).status.message(),
             Catch::Contains("query has unknown type 9"));
}

TEST_CASE("DecodeReplayRequest applies defaults and bounds", "[wire][replay]") {
  ReplayRequestEncoder encoder;
  AlignedBuffer buffer;
  auto decode = [&](std::span<const std::uint8_t> b) {
    buffer.Assign(b.data(), b.size());
    return DecodeReplayRequest(buffer.span(), 1 << 20);
  };
  auto d = decode(encoder.Encode(0, 0, ""));
  REQUIRE(d.status.ok());
  CHECK(d.from_seq == 1);
  CHECK(d.max_events == kDefaultReplayEvents);
  CHECK(decode(encoder.Encode(5, 10, "orders")).collection == "orders");
  CHECK_THAT(decode(encoder.Encode(1, kMaxReplayEvents + 1, "")).status.message(),
             Catch::Contains("max_events 10001 is over the maximum 10000"));
  CHECK_THAT(decode(encoder.Encode(1, 0, "Bad")).status.message(),
             Catch::Contains("collection 'Bad' must match"));
}

}  // namespace cqrs::wire
