// Test support: every event of a data directory's event log, in seq order, verified.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/key_format.h"
#include "store/write_store.h"
#include "store/write_store_format.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"
#include "wire/value_codec.h"

namespace cqrs::testing {

// <data_dir>/write's log, opened read-only.
inline std::unique_ptr<store::WriteStore> OpenLogReadOnly(const std::string& data_dir) {
  store::WriteStoreOptions o;
  o.dir = data_dir + "/write";
  o.read_only = true;
  auto log = store::WriteStore::Open(o);
  REQUIRE(log.ok());
  return std::move(log).value();
}

// The log's first seq (meta.first_seq: 1 until retention removed events).
inline std::uint64_t LogFirstSeq(const std::string& data_dir) {
  auto log = OpenLogReadOnly(data_dir);
  auto txn = store::Txn::BeginRead(log->env());
  REQUIRE(txn.ok());
  auto first = log->FirstSeq(txn.value());
  REQUIRE(first.ok());
  return first.value();
}

// Calls `each` with every event of <data_dir>/write's log (opened read-only), in seq order.
inline void ForEachLogEvent(const std::string& data_dir,
                            const std::function<void(const fb::Event&)>& each) {
  auto log = OpenLogReadOnly(data_dir);
  auto txn = store::Txn::BeginRead(log->env());
  REQUIRE(txn.ok());
  auto cursor = store::Cursor::Open(txn.value(), log->dbs().events);
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

// Appends `events` (seqs following the log's last) to `log` as the writer does: each event under
// its seq, its (tenant, collection) interned in the log's names, meta.last_seq moved.
inline void AppendToLog(store::WriteStore& log, const std::vector<wire::AlignedBuffer>& events) {
  auto txn = store::Txn::BeginWrite(log.env());
  REQUIRE(txn.ok());
  std::uint64_t last = 0;
  for (const auto& e : events) {
    const auto* event = flatbuffers::GetRoot<fb::Event>(e.data());
    std::uint32_t ns = 0;
    REQUIRE(log.namespaces()
                .Intern(txn.value(), event->tenant()->string_view(),
                        event->collection()->string_view(), &ns)
                .ok());
    REQUIRE(txn->Put(log.dbs().events, store::SeqKey(event->seq()).view(),
                     {reinterpret_cast<const char*>(e.data()), e.size()}, MDB_APPEND)
                .ok());
    last = event->seq();
  }
  REQUIRE(txn->Put(log.dbs().meta, store::kMetaLastSeq, store::U64Value(last).view()).ok());
  REQUIRE(txn->Commit().ok());
}

}  // namespace cqrs::testing
