// WriteStore: the event log, the LMDB environment at <data>/write/log and its databases
// (write_store_format.h): the source of truth. The writer owns its only write transaction and
// commits it once per batch (fsynced in sync mode: the durability point); the projector and the
// writer's state recovery read it through read snapshots.
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
  std::string dir;  // <data>/write (the log is <dir>/log)
  Durability durability = Durability::kSync;
  std::uint64_t map_size = 1ull << 30;
  std::uint64_t max_map_size = 1ull << 40;
  bool read_only = false;  // for the projector and tools: opens an existing store only
  // Non-empty: a read replica's copy of another host's log, fed from the NATS stream named here
  // (replica/). Created with `copy_store_id` (32 hex digits), the primary's id; a copy and a log
  // are never mistaken for each other: a writer refuses a copy, a replica refuses a log or a
  // copy of another store. An unsynced copy found after a machine restart is removed (it is
  // copied again), where an unsynced log is refused. Opening a copy without `copy_store_id`
  // where there is none (or it was just removed) is a MissingStore.
  std::string copy_of_stream;
  std::string copy_store_id;
};

struct WriteDbs {
  Dbi meta, names, counters, events, clients, replies;
};

// Owns the env. Thread-safety: as LmdbEnv; the single writer thread does all writes.
class WriteStore {
 public:
  // Opens or creates the log and checks its format and that meta.last_seq matches the last
  // event. Unavailable if it cannot be opened, is of another format (a format-1 store, one
  // environment at <dir>/data.mdb, included: refused with how to migrate), or is an unsynced
  // (nosync) log that a machine restart may have damaged (store/unsynced_guard.h); Internal if
  // inconsistent.
  static Result<std::unique_ptr<WriteStore>> Open(const WriteStoreOptions& options);
  // A writable nosync log is fsynced and its `unsynced` guard removed.
  ~WriteStore();

  LmdbEnv& env() { return env_; }
  const std::string& log_dir() const { return log_dir_; }  // <dir>/log
  const WriteDbs& dbs() const { return dbs_; }
  const std::string& store_id() const { return store_id_; }  // 32 hex digits
  const WriteStoreOptions& options() const { return options_; }

  // Doubles the map (at most to max_map_size) after MDB_MAP_FULL. No transaction of this
  // process may be open. ResourceExhausted when already at the maximum.
  Status Grow();

  // meta.last_seq as of `txn`.
  Result<std::uint64_t> LastSeq(const Txn& txn) const;
  // meta.first_seq as of `txn`: the first event the log still holds (1 until retention removed
  // any).
  Result<std::uint64_t> FirstSeq(const Txn& txn) const;
  // Where a reader of the log sent below its first seq can start instead.
  struct Start {
    std::uint64_t first_seq = 1;
    std::uint64_t snapshot_seq = 0;  // the newest state checkpoint's seq (0: none)
    std::string snapshot_path;
  };
  // OutOfRange when the events from `from_seq` on are not all in the log as of `txn` (retention
  // removed some), naming the first seq and the newest state checkpoint; `start` filled then.
  Status CheckFrom(const Txn& txn, std::uint64_t from_seq, Start* start = nullptr) const;
  // <dir>/checkpoints: the state checkpoints (store/state_checkpoint.h).
  std::string checkpoints_dir() const { return options_.dir + "/checkpoints"; }
  // A replica's copy: meta.stream_seq, the stream message that held event LastSeq (0: none).
  Result<std::uint64_t> CopiedStreamSeq(const Txn& txn) const;

  // The write store's (tenant, collection) → namespace id table.
  NamespaceTable namespaces() const { return {dbs_.names, dbs_.meta}; }

 private:
  explicit WriteStore(WriteStoreOptions options) : options_(std::move(options)) {}
  Status Init();
  // The copy marker against the options (WriteStoreOptions::copy_of_stream).
  Status CheckCopy(const Txn& txn) const;

  WriteStoreOptions options_;
  std::string log_dir_;
  LmdbEnv env_;
  bool guarded_ = false;  // this open wrote the `unsynced` guard
  WriteDbs dbs_;
  std::string store_id_;
};

}  // namespace cqrs::store
