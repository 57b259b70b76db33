// Every record of a writer's entity state, by key, and its state_seq: equal dumps, equal states.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "store/state_store.h"

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

}  // namespace cqrs::testing
