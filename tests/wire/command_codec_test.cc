#include "wire/command_codec.h"

#include <catch2/catch.hpp>

#include "wire/aligned_buffer.h"
#include "wire/protocol.h"

namespace cqrs::wire {

TEST_CASE("CommandReply round-trips through build and parse", "[wire][codec]") {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<std::uint64_t> versions = {3, 0, 1};
  BuildCommandReply(fbb, 42, Code::kOk, "", -1, 1234, versions);
  AlignedBuffer buffer;
  buffer.Assign(fbb.GetBufferPointer(), fbb.GetSize());
  CHECK(flatbuffers::BufferHasIdentifier(buffer.data(), kCommandReplyId));
  CommandReplyData r;
  REQUIRE(ParseCommandReply(buffer.span(), &r).ok());
  CHECK(r.request_id == 42);
  CHECK(r.status == Code::kOk);
  CHECK(r.seq == 1234);
  CHECK(r.versions == versions);
  CHECK(r.failed_index == -1);

  BuildCommandReply(fbb, 43, Code::kVersionConflict, "orders key 'k' is at version 2", 1, 0, {});
  buffer.Assign(fbb.GetBufferPointer(), fbb.GetSize());
  REQUIRE(ParseCommandReply(buffer.span(), &r).ok());
  CHECK(r.status == Code::kVersionConflict);
  CHECK(r.message == "orders key 'k' is at version 2");
  CHECK(r.failed_index == 1);
  CHECK(r.versions.empty());
}

TEST_CASE("ParseCommandReply refuses what is not a CommandReply", "[wire][codec]") {
  CommandReplyData r;
  std::vector<std::uint8_t> junk(64, 0xAB);
  CHECK(ParseCommandReply(junk, &r).code() == Code::kInvalidArgument);
  CommandRequestEncoder encoder;
  CommandSpec put = Upsert("orders", "k", {});
  auto request = encoder.Encode("c", 1, "", {&put, 1});
  AlignedBuffer buffer;
  buffer.Assign(request.data(), request.size());
  CHECK_THAT(ParseCommandReply(buffer.span(), &r).message(), Catch::Contains("'CQC1' is not CQR1"));
}

TEST_CASE("CommandRequestEncoder writes every value type the schema has", "[wire][codec]") {
  CommandRequestEncoder encoder;
  CommandSpec c = Upsert("orders", "k1",
                         {{"i", std::int64_t{-5}},
                          {"d", 2.5},
                          {"s", std::string("text")},
                          {"b", Bytes{std::string("\x00\xff", 2)}},
                          {"t", true},
                          {"gone", {}}});
  auto bytes = encoder.Encode("client", 9, "tok", {&c, 1});
  AlignedBuffer buffer;
  buffer.Assign(bytes.data(), bytes.size());
  flatbuffers::Verifier verifier(buffer.data(), buffer.size());
  REQUIRE(verifier.VerifyBuffer<fb::CommandRequest>(kCommandRequestId));
  const auto* req = flatbuffers::GetRoot<fb::CommandRequest>(buffer.data());
  CHECK(req->client_id()->str() == "client");
  CHECK(req->token()->str() == "tok");
  CHECK(req->request_id() == 9);
  const auto* fields = req->commands()->Get(0)->fields();
  REQUIRE(fields->size() == 6);
  std::vector<Value> values;
  for (const auto* f : *fields) values.push_back(ToValue(ValueOf(*f)));
  CHECK(values[0] == Value{std::int64_t{-5}});
  CHECK(values[1] == Value{2.5});
  CHECK(values[2] == Value{std::string("text")});
  CHECK(values[3] == Value{Bytes{std::string("\x00\xff", 2)}});
  CHECK(values[4] == Value{true});
  CHECK(values[5] == Value{std::monostate{}});
}

}  // namespace cqrs::wire
