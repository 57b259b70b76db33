
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "wire/aligned_buffer.h"
#include "wire/command_codec.h"
#include "wire/protocol.h"

namespace cqrs::wire {
namespace {

std::vector<std::uint8_t> Encode(std::vector<CommandSpec> commands, std::string client_id = "c1",
                                 std::uint64_t request_id = 7, std::string token = "") {
  CommandRequestEncoder encoder;
  auto bytes = encoder.Encode(client_id, request_id, token, commands);
  return {bytes.begin(), bytes.end()};
}

struct Decoded {
  Code code;
  std::string message;
  int failed_index;
  std::uint64_t request_id;
  bool sequenced;
};

Decoded Decode(const std::vector<std::uint8_t>& bytes, Limits limits = Limits()) {
  AlignedBuffer buffer;
  buffer.Assign(bytes.data(), bytes.size());
  CommandDecoder decoder(limits);
  auto d = decoder.Decode(buffer.span());
  return {d.status.code(), d.status.message(), d.failed_index, d.request_id, d.root != nullptr};
}

CommandSpec Put(std::vector<FieldSpec> fields = {{"n", std::int64_t{1}}}) {
  return Upsert("orders", "k1", std::move(fields));
}

// Builds a request whose one field is made by `make_field`, for shapes the encoder never makes.
template <typename MakeField>
std::vector<std::uint8_t> RawRequest(MakeField make_field, fb::Op op = fb::Op::Upsert) {
  flatbuffers::FlatBufferBuilder fbb;
  auto field = make_field(fbb);
  auto fields = fbb.CreateVector(&field, 1);
  auto command =
      fb::CreateCommand(fbb, fbb.CreateString("orders"), fbb.CreateString("k1"), op, 0, fields);
  auto commands = fbb.CreateVector(&command, 1);
  fbb.Finish(fb::CreateCommandRequest(fbb, fbb.CreateString("c1"), 7, 0, commands),
             kCommandRequestId);
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

}  // namespace

TEST_CASE("CommandDecoder accepts a well-formed request", "[wire][decoder]") {
  auto d = Decode(Encode({Put(), Delete("orders", "k2"), Update("orders", "k1", {{"n", {}}})}));
  CHECK(d.code == Code::kOk);
  CHECK(d.request_id == 7);
  CHECK(d.failed_index == -1);
}

TEST_CASE("CommandDecoder rejects empty, short, oversized and misidentified frames",
          "[wire][decoder]") {
  CHECK_THAT(Decode({}).message, Catch::Contains("empty frame"));
  auto short_frame = Decode({1, 2, 3});
  CHECK(short_frame.code == Code::kInvalidArgument);
  CHECK_THAT(short_frame.message, Catch::Contains("shorter than the 8-byte minimum"));

  Limits small;
  small.max_request_bytes = 100;
  auto big = Decode(Encode({Put({{"s", std::string(200, 'x')}})}), small);
  CHECK(big.code == Code::kInvalidArgument);
  CHECK_THAT(big.message, Catch::Contains("over max_request_bytes 100"));

  auto bytes = Encode({Put()});
  std::copy_n("CQQ1", 4, bytes.begin() + 4);
  auto wrong = Decode(bytes);
  CHECK(wrong.code == Code::kInvalidArgument);
  CHECK_THAT(wrong.message, Catch::Contains("file identifier 'CQQ1' is not CQC1"));
  CHECK_FALSE(wrong.sequenced);
}

TEST_CASE("CommandDecoder rejects truncated buffers and bad offsets", "[wire][decoder]") {
  auto bytes = Encode({Put({{"s", std::string(100, 'x')}})});
  // (The last bytes may be alignment padding; cutting 8 always reaches the first object.)
  for (std::size_t cut : {bytes.size() - 8, bytes.size() / 2, std::size_t{12}}) {
    std::vector<std::uint8_t> truncated(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    auto d = Decode(truncated);
    INFO("cut at " << cut);
    CHECK(d.code == Code::kInvalidArgument);
    CHECK_THAT(d.message, Catch::Contains("failed FlatBuffers verification"));
  }
  auto bad_root = bytes;
  bad_root[0] = 0xF0;  // root offset past the end
  bad_root[1] = 0xFF;
  CHECK_THAT(Decode(bad_root).message, Catch::Contains("failed FlatBuffers verification"));
}

TEST_CASE("CommandDecoder bounds verification work by tables per byte", "[wire][decoder]") {
  // 50,000 references to one Field table: a legal-looking DAG that would make the Verifier
  // walk the same table over and over.
  flatbuffers::FlatBufferBuilder fbb;
  auto field = fb::CreateField(fbb, fbb.CreateString("n"), fb::Value::IntValue,
                               fb::CreateIntValue(fbb, 1).Union());
  std::vector<flatbuffers::Offset<fb::Field>> many(50000, field);
  auto fields = fbb.CreateVector(many);
  auto command = fb::CreateCommand(fbb, fbb.CreateString("orders"), fbb.CreateString("k1"),
                                   fb::Op::Upsert, 0, fields);
  auto commands = fbb.CreateVector(&command, 1);
  fbb.Finish(fb::CreateCommandRequest(fbb, 0, 1, 0, commands), kCommandRequestId);
  std::vector<std::uint8_t> bytes(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  auto d = Decode(bytes);
  CHECK(d.code == Code::kInvalidArgument);
  CHECK_THAT(d.message, Catch::Contains("failed FlatBuffers verification"));
}

TEST_CASE("CommandDecoder rejects a missing required field", "[wire][decoder]") {
  flatbuffers::FlatBufferBuilder fbb;
  fb::CommandBuilder cb(fbb);  // no collection, no key
  cb.add_op(fb::Op::Create);
  auto command = cb.Finish();
  auto commands = fbb.CreateVector(&command, 1);
  fbb.Finish(fb::CreateCommandRequest(fbb, 0, 1, 0, commands), kCommandRequestId);
  std::vector<std::uint8_t> bytes(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  CHECK_THAT(Decode(bytes).message, Catch::Contains("failed FlatBuffers verification"));
}

TEST_CASE("CommandDecoder rejects request-level limits, keeping the request sequenced",
          "[wire][decoder]") {
  auto empty = Decode(Encode({}));
  CHECK(empty.code == Code::kInvalidArgument);
  CHECK_THAT(empty.message, Catch::Contains("commands is empty"));
  CHECK(empty.sequenced);
  CHECK(empty.failed_index == -1);

  Limits limits;
  limits.max_commands = 2;
  auto many = Decode(Encode({Put(), Put(), Put()}), limits);
  CHECK_THAT(many.message, Catch::Contains("3 commands, over max_commands 2"));

  auto token = Decode(Encode({Put()}, "c1", 7, std::string(5000, 't')));
  CHECK_THAT(token.message, Catch::Contains("token is 5000 bytes, over max_token_bytes 4096"));
  CHECK(token.sequenced);
}

TEST_CASE("CommandDecoder rejects a bad client_id without sequencing it", "[wire][decoder]") {
  auto long_id = Decode(Encode({Put()}, std::string(200, 'c')));
  CHECK_THAT(long_id.message,
             Catch::Contains("client_id is 200 bytes, over max_client_id_bytes 128"));
  CHECK_FALSE(long_id.sequenced);
  auto bad_utf8 = Decode(Encode({Put()}, "c\xff"));
  CHECK_THAT(bad_utf8.message, Catch::Contains("client_id must be UTF-8 without NUL"));
  CHECK_FALSE(bad_utf8.sequenced);
  auto nul = Decode(Encode({Put()}, std::string("c\0d", 3)));
  CHECK_FALSE(nul.sequenced);
}

TEST_CASE("CommandDecoder names the failing command and field", "[wire][decoder]") {
  struct Case {
    CommandSpec command;
    const char* expected;
  };
  std::vector<Case> cases = {
      {Upsert("Orders", "k", {}), "commands[1].collection 'Orders' must match [a-z0-9_]{1,64}"},
      {Upsert(std::string(65, 'a'), "k", {}), "must match [a-z0-9_]{1,64}"},
      {Upsert("orders", "", {}), "commands[1].key is empty (1..507 bytes)"},
      {Upsert("orders", std::string(508, 'k'), {}), "key is 508 bytes, over max_key_bytes 507"},
      {Upsert("orders", std::string("a\0b", 3), {}), "commands[1].key must be UTF-8 without NUL"},
      {Upsert("orders", "k\xff", {}), "commands[1].key must be UTF-8 without NUL"},
      {Upsert("orders", "k", {{"9x", std::int64_t{1}}}),
       "commands[1].fields[0].name '9x' must match"},
      {Upsert("orders", "k", {{std::string(65, 'f'), std::int64_t{1}}}), "fields[0].name"},
      {Upsert("orders", "k", {{"s", std::string("\xc3")}}),
       "fields[0] (s) is not valid UTF-8 (send binary as BytesValue)"},
      {Upsert("orders", "k", {{"x", std::numeric_limits<double>::quiet_NaN()}}),
       "fields[0] (x) is not a finite double"},
      {Upsert("orders", "k", {{"x", std::numeric_limits<double>::infinity()}}),
       "is not a finite double"},
      {Upsert("orders", "k", {{"a", std::int64_t{1}}, {"a", std::int64_t{2}}}),
       "commands[1].fields name 'a' appears twice"},
      {Create("orders", "k", {{"a", {}}}),
       "fields[0] (a) has no value; only Update and Upsert remove a field"},
      {CommandSpec{Op::kDelete, "orders", "k", 0, {{"a", std::int64_t{1}}}},
       "commands[1] is a Delete and must have no fields"},
  };
  for (auto& c : cases) {
    auto d = Decode(Encode({Put(), c.command}));
    INFO(c.expected);
    CHECK(d.code == Code::kInvalidArgument);
    CHECK_THAT(d.message, Catch::Contains(c.expected));
    CHECK(d.failed_index == 1);
    CHECK(d.sequenced);
  }
  Limits limits;
  limits.max_fields = 2;
  auto fields = Decode(Encode({Put({{"a", true}, {"b", true}, {"c", true}})}), limits);
  CHECK_THAT(fields.message, Catch::Contains("commands[0] has 3 fields, over max_fields 2"));
}

TEST_CASE("CommandDecoder rejects an unknown op and an unknown union type", "[wire][decoder]") {
  auto bad_op = RawRequest(
      [](flatbuffers::FlatBufferBuilder& fbb) {
        return fb::CreateField(fbb, fbb.CreateString("n"), fb::Value::IntValue,
                               fb::CreateIntValue(fbb, 1).Union());
      },
      static_cast<fb::Op>(7));
  CHECK_THAT(Decode(bad_op).message,
             Catch::Contains("commands[0].op 7 is not Create, Update, Upsert or Delete"));

  auto bad_union = RawRequest([](flatbuffers::FlatBufferBuilder& fbb) {
    return fb::CreateField(fbb, fbb.CreateString("n"), static_cast<fb::Value>(9),
                           fb::CreateIntValue(fbb, 1).Union());
  });
  CHECK_THAT(Decode(bad_union).message, Catch::Contains("fields[0] (n) has unknown value type 9"));

  auto no_table = RawRequest([](flatbuffers::FlatBufferBuilder& fbb) {
    return fb::CreateField(fbb, fbb.CreateString("n"), fb::Value::IntValue, 0);
  });
  CHECK_THAT(Decode(no_table).message,
             Catch::Contains("fields[0] (n) names a value type but has no value"));
}

TEST_CASE("CommandDecoder gives the same result for the same bytes at every alignment",
          "[wire][decoder]") {
  std::vector<std::vector<std::uint8_t>> inputs = {
      Encode({Put({{"x", 1.5}, {"n", std::int64_t{-3}}, {"b", Bytes{"\x01\x02"}}})}),
      Encode({Upsert("Bad", "k", {})}),
  };
  for (const auto& bytes : inputs) {
    auto reference = Decode(bytes);
    for (std::size_t offset = 0; offset < 8; ++offset) {
      std::vector<std::uint8_t> raw(offset + bytes.size());
      std::copy(bytes.begin(), bytes.end(), raw.begin() + static_cast<long>(offset));
      AlignedBuffer buffer;  // what the writer does with every ZeroMQ frame
      buffer.Assign(raw.data() + offset, bytes.size());
      CommandDecoder decoder{Limits()};
      auto d = decoder.Decode(buffer.span());
      CHECK(d.status.code() == reference.code);
      CHECK(d.status.message() == reference.message);
    }
  }
}

}  // namespace cqrs::wire
