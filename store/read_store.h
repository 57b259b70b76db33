// ReadStore: the LMDB environment at <data>/read (read_store_format.h). The projector is its only
// writer; readers open it read-only and take short snapshots.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "store/lmdb.h"
#include "store/namespaces.h"
#include "store/unsynced_guard.h"

namespace cqrs::store {

struct ReadStoreOptions {
  std::string dir;  // <data>/read
  bool read_only = false;
  std::uint64_t map_size = 1ull << 30;
  std::uint64_t max_map_size = 1ull << 40;
  // false (default): commits are not fsynced (MDB_NOSYNC); the store is derived from the log, so
  // what a machine crash may corrupt is rebuilt instead (see ReadStore). true: each commit is
  // fsynced once (MDB_NOMETASYNC), and a machine crash costs no rebuild.
  bool sync_commits = false;
};

struct ReadDbs {
  Dbi meta, names, entities, collection_log, indexes, aggregates;
};

struct Checkpoint {
  std::uint64_t applied_seq = 0;
  std::uint64_t applied_events = 0;
};

// Owns the env. Thread-safety: as LmdbEnv.
//
// Unsynced commits: a process crash loses nothing (its writes are in the page cache), but a
// machine crash may leave a meta page on disk whose data pages are not, i.e. a corrupt store.
// So while a writable store with sync_commits = false is open, the file `unsynced` in its dir
// holds the boot id (/proc/sys/kernel/random/boot_id) it was opened under; a clean close
// fsyncs the store and removes the file. A writable open that finds the file from another boot
// removes the store and starts an empty one (the projector then rebuilds it from the log); a
// read-only open that finds it answers Unavailable "holds no read store yet" until then.
class ReadStore {
 public:
  // Opens or (unless read_only) creates the store. Unavailable if a read-only open finds no
  // store yet (the projector has not created it) or the format differs.
  static Result<std::unique_ptr<ReadStore>> Open(const ReadStoreOptions& options);
  // A writable store without sync_commits is fsynced and its `unsynced` file removed, unless
  // LeaveUnsynced() was called.
  ~ReadStore();
  // Closing then skips the fsync and keeps the `unsynced` file: for a store about to be removed,
  // or reopened at once under the same boot (the guard then still covers it).
  void LeaveUnsynced() { guarded_ = false; }
  // True when Open removed a store left unsynced by an earlier boot.
  bool discarded_unsynced() const { return discarded_unsynced_; }

  LmdbEnv& env() { return env_; }
  const ReadDbs& dbs() const { return dbs_; }
  NamespaceTable namespaces() const { return {dbs_.names, dbs_.meta}; }
  const ReadStoreOptions& options() const { return options_; }

  Result<Checkpoint> ReadCheckpoint(const Txn& txn) const;
  Status WriteCheckpoint(Txn& txn, const Checkpoint& checkpoint) const;

  // The write store this read store follows: empty until the first checkpoint.
  Result<std::string> FollowedStoreId(const Txn& txn) const;
  Status SetFollowedStoreId(Txn& txn, std::string_view id) const;
  // The fingerprint of the read models the store was built with (Config::ReadModelFingerprint);
  // nullopt before the projector first recorded one.
  Result<std::optional<std::string>> ReadModels(const Txn& txn) const;
  Status SetReadModels(Txn& txn, std::string_view fingerprint) const;

  // Doubles the map after MDB_MAP_FULL, up to max_map_size (ResourceExhausted there).
  Status Grow();

 private:
  explicit ReadStore(ReadStoreOptions options) : options_(std::move(options)) {}
  Status Init();

  ReadStoreOptions options_;
  LmdbEnv env_;
  ReadDbs dbs_;
  bool guarded_ = false;  // this open wrote the `unsynced` file
  bool discarded_unsynced_ = false;
};

}  // namespace cqrs::store
