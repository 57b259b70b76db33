// WriteStore: the LMDB environment at <data>/write and its databases (write_store_format.h).
// The writer owns its only write transaction; the projector reads it through read snapshots.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/config.h"
#include "base/status.h"
#include "store/lmdb.h"
#include "store/namespaces.h"

namespace cqrs::store {

struct WriteStoreOptions {
  std::string dir;  // <data>/write
  Durability durability = Durability::kSync;
  std::uint64_t map_size = 1ull << 30;
  std::uint64_t max_map_size = 1ull << 40;
  bool read_only = false;  // for the projector and tools: opens an existing store only
};

struct WriteDbs {
  Dbi meta, names, counters, entities, events, requests;
};

// Owns the env. Thread-safety: as LmdbEnv; the single writer thread does all writes.
class WriteStore {
 public:
  // Opens or creates the store and checks its format and that meta.last_seq matches the last
  // event. Unavailable if it cannot be opened or is of another format; Internal if inconsistent.
  static Result<std::unique_ptr<WriteStore>> Open(const WriteStoreOptions& options);

  LmdbEnv& env() { return env_; }
  const WriteDbs& dbs() const { return dbs_; }
  const std::string& store_id() const { return store_id_; }  // 32 hex digits
  const WriteStoreOptions& options() const { return options_; }

  // Doubles the map (at most to max_map_size) after MDB_MAP_FULL. No transaction of this
  // process may be open. ResourceExhausted when already at the maximum.
  Status Grow();

  // meta.last_seq as of `txn`.
  Result<std::uint64_t> LastSeq(const Txn& txn) const;

  // The write store's (tenant, collection) → namespace id table.
  NamespaceTable namespaces() const { return {dbs_.names, dbs_.meta}; }

 private:
  explicit WriteStore(WriteStoreOptions options) : options_(std::move(options)) {}
  Status Init();

  WriteStoreOptions options_;
  LmdbEnv env_;
  WriteDbs dbs_;
  std::string store_id_;
};

}  // namespace cqrs::store
