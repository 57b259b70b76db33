#include "wire/validate.h"

#include <catch2/catch.hpp>

namespace cqrs::wire {

TEST_CASE("IsValidUtf8 accepts UTF-8 and rejects overlongs, surrogates and truncation",
          "[wire][validate]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain ascii"));
  CHECK(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK(IsValidUtf8(std::string_view("nul\0inside", 10)));  // NUL is valid UTF-8
  CHECK_FALSE(IsValidUtf8("\xff"));
  CHECK_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate U+D800
  CHECK_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  CHECK_FALSE(IsValidUtf8("\x80"));              // lone continuation
}

TEST_CASE("Collection and field names follow the patterns of docs/PROTOCOL.md",
          "[wire][validate]") {
  CHECK(IsValidCollectionName("orders"));
  CHECK(IsValidCollectionName("a_1"));
  CHECK(IsValidCollectionName(std::string(64, 'a')));
  CHECK_FALSE(IsValidCollectionName(std::string(65, 'a')));
  CHECK_FALSE(IsValidCollectionName(""));
  CHECK_FALSE(IsValidCollectionName("Orders"));
  CHECK_FALSE(IsValidCollectionName("a-b"));
  CHECK(IsValidFieldName("Amount_2"));
  CHECK(IsValidFieldName("_x"));
  CHECK(IsValidFieldName(std::string(64, 'f')));
  CHECK_FALSE(IsValidFieldName(std::string(65, 'f')));
  CHECK_FALSE(IsValidFieldName("2x"));
  CHECK_FALSE(IsValidFieldName("a.b"));
  CHECK_FALSE(IsValidFieldName(""));
}

TEST_CASE("Quoted never puts invalid UTF-8 into a message", "[wire][validate]") {
  CHECK(Quoted("k1") == "'k1'");
  CHECK(Quoted("\xff\xfe") == "2 bytes, not printable UTF-8");
  CHECK(Quoted(std::string_view("a\0b", 3)) == "3 bytes, not printable UTF-8");
  std::string longer(50, 'x');
  CHECK(Quoted(longer) == "'" + std::string(40, 'x') + "...'");
}

}  // namespace cqrs::wire
