// ReadStore: the LMDB environment at <data>/read (read_store_format.h). The projector is its only
// writer; readers open it read-only and take short snapshots.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "store/lmdb.h"
#include "store/namespaces.h"

namespace cqrs::store {

struct ReadStoreOptions {
  std::string dir;  // <data>/read
  bool read_only = false;
  std::uint64_t map_size = 1ull << 30;
  std::uint64_t max_map_size = 1ull << 40;
};

struct ReadDbs {
  Dbi meta, names, entities, collection_log;
};

struct Checkpoint {
  std::uint64_t applied_seq = 0;
  std::uint64_t applied_events = 0;
};

// Owns the env. Thread-safety: as LmdbEnv.
class ReadStore {
 public:
  // Opens or (unless read_only) creates the store. Unavailable if a read-only open finds no
  // store yet (the projector has not created it) or the format differs.
  static Result<std::unique_ptr<ReadStore>> Open(const ReadStoreOptions& options);

  LmdbEnv& env() { return env_; }
  const ReadDbs& dbs() const { return dbs_; }
  NamespaceTable namespaces() const { return {dbs_.names, dbs_.meta}; }
  const ReadStoreOptions& options() const { return options_; }

  Result<Checkpoint> ReadCheckpoint(const Txn& txn) const;
  Status WriteCheckpoint(Txn& txn, const Checkpoint& checkpoint) const;

  // The write store this read store follows: empty until the first checkpoint.
  Result<std::string> FollowedStoreId(const Txn& txn) const;
  Status SetFollowedStoreId(Txn& txn, std::string_view id) const;

  // Doubles the map after MDB_MAP_FULL, up to max_map_size (ResourceExhausted there).
  Status Grow();

 private:
  explicit ReadStore(ReadStoreOptions options) : options_(std::move(options)) {}
  Status Init();

  ReadStoreOptions options_;
  LmdbEnv env_;
  ReadDbs dbs_;
};

}  // namespace cqrs::store
