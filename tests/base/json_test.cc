#include "base/json.h"

#include <catch2/catch.hpp>

namespace cqrs {

TEST_CASE("AppendJsonString escapes quotes, controls and invalid UTF-8", "[base][json]") {
  auto json = [](std::string_view s) {
    std::string out;
    AppendJsonString(&out, s);
    return out;
  };
  CHECK(json("plain") == "\"plain\"");
  CHECK(json("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json("line\nnext\t") == "\"line\\nnext\\t\"");
  CHECK(json(std::string_view("\x01", 1)) == "\"\\u0001\"");
  CHECK(json("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
  CHECK(json("bad\xff") == "\"bad\\ufffd\"");
  CHECK(json("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate is not UTF-8
}

}  // namespace cqrs
