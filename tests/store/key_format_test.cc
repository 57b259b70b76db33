#include "store/key_format.h"

#include <catch2/catch.hpp>

#include "store/write_store_format.h"

namespace cqrs::store {

TEST_CASE("Seq keys sort in numeric order as bytes", "[store][keys]") {
  std::uint64_t values[] = {0, 1, 255, 256, 65535, 1ull << 32, UINT64_MAX - 1, UINT64_MAX};
  for (std::size_t i = 0; i + 1 < std::size(values); ++i) {
    CHECK(SeqKey(values[i]).view() < SeqKey(values[i + 1]).view());
    CHECK(DecodeSeqKey(SeqKey(values[i]).view()) == values[i]);
  }
}

TEST_CASE("Entity keys group by namespace, then order by key bytes", "[store][keys]") {
  CHECK(EntityKey(1, "zzz").view() < EntityKey(2, "a").view());
  CHECK(EntityKey(1, "a").view() < EntityKey(1, "ab").view());
  CHECK(EntityKey(1, "ab").view() < EntityKey(1, "b").view());
  CHECK(EntityKey(7, "k").view() == std::string_view("\0\0\0\x07k", 5));
  // The longest allowed key fits LMDB's 511-byte limit.
  CHECK(EntityKey(UINT32_MAX, std::string(507, 'k')).size() == 511);
}

TEST_CASE("Client keys separate clients and principals whose names share a prefix",
          "[store][keys]") {
  KeyBuffer a = ReplyKey(ClientKey(1, "p", "ab"), 5);
  KeyBuffer b = ClientKey(1, "p", "abc");
  CHECK(a.view().substr(0, b.size()) != b.view());  // the length byte keeps "ab"+id from "abc"
  CHECK(ClientKey(1, "pa", "b").view() != ClientKey(1, "p", "ab").view());
  CHECK(ClientKey(1, "", "x").view() != ClientKey(1, "x", "").view());
  CHECK(ReplyKey(ClientKey(1, "", "c"), 9).view() < ReplyKey(ClientKey(1, "", "c"), 10).view());
  // The longest principal name and client_id with an id fit LMDB's 511-byte keys.
  CHECK(ReplyKey(ClientKey(UINT32_MAX, std::string(64, 'p'), std::string(255, 'c')), 1).size() <=
        kMaxLmdbKeyBytes);
}

TEST_CASE("Little-endian helpers round-trip", "[store][keys]") {
  std::uint8_t buf[8];
  PutU64LE(buf, 0x0102030405060708ull);
  CHECK(buf[0] == 0x08);
  CHECK(GetU64LE(buf) == 0x0102030405060708ull);
  PutU32BE(buf, 0xA1B2C3D4u);
  CHECK(buf[0] == 0xA1);
  CHECK(GetU32BE(buf) == 0xA1B2C3D4u);
}

}  // namespace cqrs::store
