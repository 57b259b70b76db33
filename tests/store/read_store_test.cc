#include "store/read_store.h"

#include <catch2/catch.hpp>

#include "tests/support/test_support.h"

namespace cqrs::store {

TEST_CASE("ReadStore starts at checkpoint 0 and keeps what is written", "[store][read]") {
  testing::TempDir dir;
  ReadStoreOptions o;
  o.dir = dir / "read";
  {
    auto s = ReadStore::Open(o);
    REQUIRE(s.ok());
    auto txn = Txn::BeginWrite(s.value()->env());
    auto c = s.value()->ReadCheckpoint(txn.value());
    REQUIRE(c.ok());
    CHECK(c->applied_seq == 0);
    CHECK(s.value()->FollowedStoreId(txn.value()).value().empty());
    REQUIRE(s.value()->WriteCheckpoint(txn.value(), {17, 17}).ok());
    REQUIRE(s.value()->SetFollowedStoreId(txn.value(), "abc").ok());
    REQUIRE(txn->Commit().ok());
  }
  o.read_only = true;
  auto s = ReadStore::Open(o);
  REQUIRE(s.ok());
  auto txn = Txn::BeginRead(s.value()->env());
  CHECK(s.value()->ReadCheckpoint(txn.value())->applied_seq == 17);
  CHECK(s.value()->FollowedStoreId(txn.value()).value() == "abc");
}

TEST_CASE("ReadStore opened read-only before the projector made it says so", "[store][read]") {
  testing::TempDir dir;
  ReadStoreOptions o;
  o.dir = dir / "read";
  o.read_only = true;
  auto s = ReadStore::Open(o);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == Code::kUnavailable);
  CHECK_THAT(s.status().message(), Catch::Contains("holds no read store yet"));
}

}  // namespace cqrs::store
