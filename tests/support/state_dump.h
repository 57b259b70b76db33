// Every record of a writer's entity state, by key, and its state_seq: equal dumps, equal states.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "store/state_store.h"
#include "store/write_store.h"
#include "writer/state_recovery.h"

namespace cqrs::testing {

inline std::vector<std::string> DumpState(store::StateStore& state) {
  auto txn = store::Txn::BeginRead(state.env());
  REQUIRE(txn.ok());
  std::vector<std::string> out{"state_seq " + std::to_string(state.StateSeq(txn.value()).value())};
  auto cursor = store::Cursor::Open(txn.value(), state.dbs().entities);
  std::string_view k, v;
  for (Status s = cursor->Get(MDB_FIRST, &k, &v); s.ok(); s = cursor->Get(MDB_NEXT, &k, &v))
    out.push_back(std::string(k) + " = " + std::string(v));
  return out;
}

// The entity state a stopped writer left in `data`, compared with the state replayed from seq 1
// of its log (in `scratch`, removed after): equal, byte for byte.
inline void CheckStateEqualsFullReplay(const std::string& data, const std::string& scratch) {
  store::WriteStoreOptions lo;
  lo.dir = data + "/write";
  lo.read_only = true;
  auto log = store::WriteStore::Open(lo);
  REQUIRE(log.ok());
  store::StateStoreOptions so;
  so.dir = data + "/write/state";
  auto live = store::StateStore::Open(so, log.value()->store_id());
  REQUIRE(live.ok());
  CHECK(live.value()->discarded().empty());
  so.dir = scratch;
  auto replayed = store::StateStore::Open(so, log.value()->store_id());
  REQUIRE(replayed.ok());
  REQUIRE(writer::CatchUpState(*log.value(), *replayed.value(), 10000, false).ok());
  const auto want = DumpState(*replayed.value());
  CHECK(want.size() > 100);
  CHECK(DumpState(*live.value()) == want);
  replayed.value().reset();
  std::filesystem::remove_all(scratch);
}

}  // namespace cqrs::testing
