#include "store/read_store.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

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

TEST_CASE("ReadStore without synced commits keeps a boot-id guard while open", "[store][read]") {
  testing::TempDir dir;
  ReadStoreOptions o;
  o.dir = dir / "read";
  const std::string guard = o.dir + "/unsynced";
  const std::string boot = CurrentBootId().value();
  {
    auto s = ReadStore::Open(o);
    REQUIRE(s.ok());
    CHECK(testing::ReadFile(guard) == boot + "\n");
    auto txn = Txn::BeginWrite(s.value()->env());
    REQUIRE(s.value()->WriteCheckpoint(txn.value(), {5, 5}).ok());
    REQUIRE(txn->Commit().ok());
    ReadStoreOptions ro = o;
    ro.read_only = true;
    CHECK(ReadStore::Open(ro).ok());  // this boot's guard: readers open it
  }
  CHECK_FALSE(std::filesystem::exists(guard));  // a clean close synced it

  SECTION("a guard of this boot (a crashed projector) keeps the store") {
    std::ofstream(guard) << boot << "\n";
    auto s = ReadStore::Open(o);
    REQUIRE(s.ok());
    CHECK_FALSE(s.value()->discarded_unsynced());
    auto txn = Txn::BeginRead(s.value()->env());
    CHECK(s.value()->ReadCheckpoint(txn.value())->applied_seq == 5);
  }
  SECTION("a guard of another boot (a machine crash): readers wait, the projector starts over") {
    std::ofstream(guard) << "another-boot\n";
    ReadStoreOptions ro = o;
    ro.read_only = true;
    auto refused = ReadStore::Open(ro);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == Code::kUnavailable);
    CHECK_THAT(refused.status().message(), Catch::Contains("holds no read store yet"));
    CHECK_THAT(refused.status().message(), Catch::Contains("not synced before the machine"));
    auto s = ReadStore::Open(o);
    REQUIRE(s.ok());
    CHECK(s.value()->discarded_unsynced());
    CHECK(testing::ReadFile(guard) == boot + "\n");
    auto txn = Txn::BeginRead(s.value()->env());
    CHECK(s.value()->ReadCheckpoint(txn.value())->applied_seq == 0);
  }
  SECTION("with synced commits, a guard of another boot still discards the store, once") {
    std::ofstream(guard) << "another-boot\n";
    o.sync_commits = true;
    {
      auto s = ReadStore::Open(o);
      REQUIRE(s.ok());
      CHECK(s.value()->discarded_unsynced());
      CHECK_FALSE(std::filesystem::exists(guard));
    }
    auto again = ReadStore::Open(o);
    REQUIRE(again.ok());
    CHECK_FALSE(again.value()->discarded_unsynced());
  }
  SECTION("with synced commits, a guard of this boot is synced and removed at open") {
    std::ofstream(guard) << boot << "\n";
    o.sync_commits = true;
    auto s = ReadStore::Open(o);
    REQUIRE(s.ok());
    CHECK_FALSE(std::filesystem::exists(guard));
    auto txn = Txn::BeginRead(s.value()->env());
    CHECK(s.value()->ReadCheckpoint(txn.value())->applied_seq == 5);
  }
}

}  // namespace cqrs::store
