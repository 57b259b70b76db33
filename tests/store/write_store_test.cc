#include "store/write_store.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "store/key_format.h"
#include "store/state_store.h"
#include "store/unsynced_guard.h"
#include "store/write_store_format.h"
#include "tests/support/test_support.h"

namespace cqrs::store {
namespace {

WriteStoreOptions Options(const testing::TempDir& dir) {
  WriteStoreOptions o;
  o.dir = dir / "write";
  o.map_size = 1 << 20;
  o.max_map_size = 4 << 20;
  return o;
}

}  // namespace

TEST_CASE("WriteStore creates a store once and reopens it with the same id", "[store][write]") {
  testing::TempDir dir;
  std::string id;
  {
    auto store = WriteStore::Open(Options(dir));
    REQUIRE(store.ok());
    id = store.value()->store_id();
    CHECK(id.size() == 32);
    auto txn = Txn::BeginRead(store.value()->env());
    REQUIRE(txn.ok());
    CHECK(store.value()->LastSeq(txn.value()).value() == 0);
  }
  auto again = WriteStore::Open(Options(dir));
  REQUIRE(again.ok());
  CHECK(again.value()->store_id() == id);
}

TEST_CASE("WriteStore refuses a store of another format", "[store][write]") {
  testing::TempDir dir;
  {
    auto store = WriteStore::Open(Options(dir));
    REQUIRE(store.ok());
    auto txn = Txn::BeginWrite(store.value()->env());
    REQUIRE(txn.ok());
    REQUIRE(txn->Put(store.value()->dbs().meta, kMetaFormat, std::string("\x09\0\0\0", 4)).ok());
    REQUIRE(txn->Commit().ok());
  }
  auto reopened = WriteStore::Open(Options(dir));
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.status().code() == Code::kUnavailable);
  CHECK_THAT(reopened.status().message(), Catch::Contains("format 9, this build reads format 2"));
}

TEST_CASE("WriteStore refuses a format-1 store (one environment) and says how to migrate",
          "[store][write]") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "write");
  testing::WriteFile(dir / "write/data.mdb", "an LMDB file of format 1");
  auto opened = WriteStore::Open(Options(dir));
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.status().code() == Code::kUnavailable);
  CHECK_THAT(opened.status().message(),
             Catch::Contains("is write store format 1") && Catch::Contains("cqrs migrate --data"));
  CHECK_FALSE(std::filesystem::exists(dir / "write/log"));  // nothing made beside it
}

TEST_CASE("A nosync log is guarded by the boot id and refused after a machine restart",
          "[store][write]") {
  testing::TempDir dir;
  auto o = Options(dir);
  o.durability = Durability::kNoSync;
  const std::string guard = dir / "write/log/unsynced";
  {
    auto store = WriteStore::Open(o);
    REQUIRE(store.ok());
    CHECK(testing::ReadFile(guard) == CurrentBootId().value() + "\n");
  }
  CHECK_FALSE(std::filesystem::exists(guard));  // a clean close synced it
  {
    auto store = WriteStore::Open(o);
    REQUIRE(store.ok());
  }
  // A guard of another boot: the machine went down while the log was unsynced.
  std::filesystem::create_directories(dir / "write/log");
  testing::WriteFile(guard, "another-boot\n");
  auto refused = WriteStore::Open(o);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kUnavailable);
  CHECK_THAT(refused.status().message(),
             Catch::Contains("durability = \"nosync\" and the machine restarted") &&
                 Catch::Contains("another-boot"));
  o.durability = Durability::kSync;  // the mode does not make a damaged log trustworthy
  CHECK_FALSE(WriteStore::Open(o).ok());
  o.read_only = true;  // nor may the projector read it
  CHECK_FALSE(WriteStore::Open(o).ok());
  // In sync mode no guard is written at all.
  testing::TempDir other;
  { REQUIRE(WriteStore::Open(Options(other)).ok()); }
  CHECK_FALSE(std::filesystem::exists(other / "write/log/unsynced"));
}

TEST_CASE("StateStore discards a state of another boot or another log, keeps its own",
          "[store][write]") {
  testing::TempDir dir;
  StateStoreOptions o;
  o.dir = dir / "state";
  o.map_size = 1 << 20;
  auto put = [&](StateStore& s, std::uint64_t seq) {
    auto txn = Txn::BeginWrite(s.env());
    REQUIRE(txn->Put(s.dbs().entities, "k", "v").ok());
    REQUIRE(s.SetStateSeq(txn.value(), seq).ok());
    REQUIRE(txn->Commit().ok());
  };
  auto seq = [](StateStore& s) { return s.StateSeq(Txn::BeginRead(s.env()).value()).value(); };
  {
    auto s = StateStore::Open(o, "log-a");
    REQUIRE(s.ok());
    CHECK(s.value()->discarded().empty());
    put(*s.value(), 7);
  }
  {
    auto s = StateStore::Open(o, "log-a");
    REQUIRE(s.ok());
    CHECK(s.value()->discarded().empty());
    CHECK(seq(*s.value()) == 7);
    s.value()->LeaveUnsynced();  // as if the machine went down now
  }
  testing::WriteFile(dir / "state/unsynced", "another-boot\n");
  {
    auto s = StateStore::Open(o, "log-a");
    REQUIRE(s.ok());
    CHECK_THAT(s.value()->discarded(), Catch::Contains("not synced before the machine restarted"));
    CHECK(seq(*s.value()) == 0);
    put(*s.value(), 3);
  }
  auto other = StateStore::Open(o, "log-b");
  REQUIRE(other.ok());
  CHECK_THAT(other.value()->discarded(), Catch::Contains("caches the log of store log-a"));
  CHECK(seq(*other.value()) == 0);
}

TEST_CASE("WriteStore refuses a store whose last event disagrees with meta.last_seq",
          "[store][write]") {
  testing::TempDir dir;
  {
    auto store = WriteStore::Open(Options(dir));
    REQUIRE(store.ok());
    auto txn = Txn::BeginWrite(store.value()->env());
    REQUIRE(txn->Put(store.value()->dbs().events, SeqKey(5).view(), "x").ok());
    REQUIRE(txn->Commit().ok());
  }
  auto reopened = WriteStore::Open(Options(dir));
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.status().code() == Code::kInternal);
  CHECK_THAT(reopened.status().message(),
             Catch::Contains("meta.last_seq 0 but the last event is 5"));
}

TEST_CASE("WriteStore read-only open needs an existing store", "[store][write]") {
  testing::TempDir dir;
  auto o = Options(dir);
  o.read_only = true;
  auto missing = WriteStore::Open(o);
  REQUIRE_FALSE(missing.ok());
  { REQUIRE(WriteStore::Open(Options(dir)).ok()); }
  auto present = WriteStore::Open(o);
  CHECK(present.ok());
}

TEST_CASE("InternNamespace hands out one id per (tenant, collection)", "[store][write]") {
  testing::TempDir dir;
  auto store = WriteStore::Open(Options(dir));
  REQUIRE(store.ok());
  WriteStore& s = *store.value();
  auto txn = Txn::BeginWrite(s.env());
  std::uint32_t a = 0, b = 0, c = 0, again = 0;
  REQUIRE(s.namespaces().Intern(txn.value(), "t1", "orders", &a).ok());
  REQUIRE(s.namespaces().Intern(txn.value(), "t1", "users", &b).ok());
  REQUIRE(s.namespaces().Intern(txn.value(), "t2", "orders", &c).ok());
  REQUIRE(s.namespaces().Intern(txn.value(), "t1", "orders", &again).ok());
  CHECK(a != b);
  CHECK(a != c);
  CHECK(a == again);
  std::uint32_t looked = 0;
  CHECK(s.namespaces().Lookup(txn.value(), "t3", "orders", &looked).code() == Code::kNotFound);
}

TEST_CASE("WriteStore grows its map up to the maximum and then says ResourceExhausted",
          "[store][write]") {
  testing::TempDir dir;
  auto store = WriteStore::Open(Options(dir));
  REQUIRE(store.ok());
  WriteStore& s = *store.value();
  CHECK(s.env().map_size() == 1u << 20);
  REQUIRE(s.Grow().ok());
  CHECK(s.env().map_size() == 2u << 20);
  REQUIRE(s.Grow().ok());
  CHECK(s.env().map_size() == 4u << 20);
  Status full = s.Grow();
  CHECK(full.code() == Code::kResourceExhausted);
  CHECK_THAT(full.message(), Catch::Contains("max_map_size_mb 4"));
}

TEST_CASE("An LMDB error keeps the operation and LMDB's own name for it", "[store][lmdb]") {
  Status s = LmdbError("mdb_put(entities)", MDB_MAP_FULL);
  CHECK(s.code() == Code::kResourceExhausted);
  CHECK_THAT(s.message(), Catch::StartsWith("mdb_put(entities): MDB_MAP_FULL"));
  CHECK(IsMapFull(s));
  CHECK_FALSE(IsMapFull(LmdbError("mdb_txn_commit", ENOSPC)));
  CHECK(LmdbError("mdb_txn_commit", ENOSPC).code() == Code::kResourceExhausted);
  CHECK(LmdbError("mdb_get", MDB_NOTFOUND).code() == Code::kNotFound);
  // Decisions follow the native code, never the text: a message that only names the error
  // changes nothing.
  CHECK(s.native() == MDB_MAP_FULL);
  CHECK_FALSE(IsMapFull(Status(Code::kResourceExhausted, "mdb_put(x): MDB_MAP_FULL")));
  CHECK(IsMapResized(LmdbError("mdb_txn_begin(read)", MDB_MAP_RESIZED)));
  CHECK_FALSE(IsMapResized(Status(Code::kUnavailable, "MDB_MAP_RESIZED")));
  CHECK(IsMissingStore(MissingStore("nothing here")));
  CHECK_FALSE(IsMissingStore(Status(Code::kUnavailable, "x holds no read store yet")));
}

TEST_CASE("A replica's copy of a log and a primary's log are never taken for each other",
          "[store][write][replica]") {
  testing::TempDir dir, primary_dir;
  const std::string id = "00112233445566778899aabbccddeeff";
  WriteStoreOptions copy = Options(dir);
  copy.copy_of_stream = "cqrs";
  copy.copy_store_id = id;
  {
    auto made = WriteStore::Open(copy);
    REQUIRE(made.ok());
    CHECK(made.value()->store_id() == id);  // the primary's id, not a fresh one
    auto txn = Txn::BeginRead(made.value()->env());
    REQUIRE(txn.ok());
    CHECK(made.value()->CopiedStreamSeq(txn.value()).value() == 0);
  }
  // A writer refuses the copy; readers (the projector, tools) open it.
  auto writer = WriteStore::Open(Options(dir));
  REQUIRE_FALSE(writer.ok());
  CHECK(writer.status().code() == Code::kUnavailable);
  CHECK_THAT(writer.status().message(),
             Catch::Contains("is a read replica's copy of write store " + id));
  WriteStoreOptions reader = Options(dir);
  reader.read_only = true;
  CHECK(WriteStore::Open(reader).ok());
  // A copy of another store is refused, naming both; a reopen without an id is the copy's.
  WriteStoreOptions other = copy;
  other.copy_store_id = "ffeeddccbbaa99887766554433221100";
  auto refused = WriteStore::Open(other);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kAlreadyExists);
  CHECK_THAT(refused.status().message(),
             Catch::Contains(id) && Catch::Contains(other.copy_store_id));
  other.copy_store_id.clear();
  CHECK(WriteStore::Open(other).ok());
  // A replica refuses a primary's log; a bad id is refused before anything is made.
  REQUIRE(WriteStore::Open(Options(primary_dir)).ok());
  WriteStoreOptions onto_log = Options(primary_dir);
  onto_log.copy_of_stream = "cqrs";
  auto onto = WriteStore::Open(onto_log);
  REQUIRE_FALSE(onto.ok());
  CHECK_THAT(onto.status().message(), Catch::Contains("not a replica's copy"));
  // Unsynced (the replica's way) and found after a machine restart, torn: a copy is removed and
  // made again empty; the same file on a log would be refused.
  {
    WriteStoreOptions unsynced = copy;
    unsynced.durability = Durability::kNoSync;
    auto opened = WriteStore::Open(unsynced);
    REQUIRE(opened.ok());
    auto txn = Txn::BeginWrite(opened.value()->env());
    REQUIRE(txn.ok());
    REQUIRE(txn->Put(opened.value()->dbs().events, SeqKey(1).view(), "x").ok());
    REQUIRE(txn->Put(opened.value()->dbs().meta, kMetaLastSeq, U64Value(1).view()).ok());
    REQUIRE(txn->Commit().ok());
    testing::WriteFile(opened.value()->log_dir() + "/unsynced.next", "another-boot\n");
  }
  const std::string log_dir = (std::filesystem::path(dir / "write") / "log").string();
  std::filesystem::rename(log_dir + "/unsynced.next", log_dir + "/unsynced");
  WriteStoreOptions unsynced = copy;
  unsynced.durability = Durability::kNoSync;
  auto again = WriteStore::Open(unsynced);
  REQUIRE(again.ok());
  auto txn = Txn::BeginRead(again.value()->env());
  REQUIRE(txn.ok());
  CHECK(again.value()->LastSeq(txn.value()).value() == 0);
  CHECK(again.value()->store_id() == id);
  txn->Abort();
  again.value().reset();
  testing::TempDir fresh;
  WriteStoreOptions bad = Options(fresh);
  bad.copy_of_stream = "cqrs";
  bad.copy_store_id = "not-hex";
  auto rejected = WriteStore::Open(bad);
  REQUIRE_FALSE(rejected.ok());
  CHECK(rejected.status().code() == Code::kInvalidArgument);
}

}  // namespace cqrs::store
