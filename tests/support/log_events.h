// Test support: every event of a data directory's event log, in seq order, verified.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include "store/write_store.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"
#include "wire/value_codec.h"

namespace cqrs::testing {

// Calls `each` with every event of <data_dir>/write's log (opened read-only), in seq order.
inline void ForEachLogEvent(const std::string& data_dir,
                            const std::function<void(const fb::Event&)>& each) {
  store::WriteStoreOptions o;
  o.dir = data_dir + "/write";
  o.read_only = true;
  auto log = store::WriteStore::Open(o);
  REQUIRE(log.ok());
  auto txn = store::Txn::BeginRead(log.value()->env());
  REQUIRE(txn.ok());
  auto cursor = store::Cursor::Open(txn.value(), log.value()->dbs().events);
  REQUIRE(cursor.ok());
  wire::AlignedBuffer buffer;
  std::string_view k, v;
  for (Status s = cursor->Get(MDB_FIRST, &k, &v); s.ok(); s = cursor->Get(MDB_NEXT, &k, &v)) {
    buffer.Assign(v.data(), v.size());
    const fb::Event* e = nullptr;
    REQUIRE(wire::VerifyEvent(buffer.span(), &e).ok());
    each(*e);
  }
}

}  // namespace cqrs::testing
