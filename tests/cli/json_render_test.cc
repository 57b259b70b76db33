#include "cli/json_render.h"

#include <catch2/catch.hpp>

#include "tests/support/events.h"

namespace cqrs::cli {

TEST_CASE("Entities render as one line of JSON with typed values", "[cli][json]") {
  wire::EntityData e{"orders",
                     "o\"1",
                     3,
                     9,
                     {{"i", std::int64_t{-2}},
                      {"d", 2.0},
                      {"s", std::string("x")},
                      {"b", Bytes{"\x01\xff"}},
                      {"t", true}}};
  CHECK(EntityJson(e) ==
        "{\"collection\":\"orders\",\"key\":\"o\\\"1\",\"version\":3,\"seq\":9,\"fields\":{"
        "\"i\":-2,\"d\":2.0,\"s\":\"x\",\"b\":{\"bytes\":\"01ff\"},\"t\":true}}");
}

TEST_CASE("Events render with op, seqs and the after-image", "[cli][json]") {
  auto e = testing::MakeEvent(12, fb::Op::Update, "orders", "o1", 2, {{"x", 1.5}});
  CHECK(EventJson(testing::AsEvent(e)) ==
        "{\"seq\":12,\"collection_seq\":12,\"op\":\"Update\",\"collection\":\"orders\","
        "\"key\":\"o1\",\"version\":2,\"fields\":{\"x\":1.5},\"timestamp_ns\":0}");
}

}  // namespace cqrs::cli
