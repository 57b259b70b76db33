// StateStore: the writer's entity state, the LMDB environment at <data>/write/state
// (write_store_format.h). A cache of the event log, exactly as the read store is: the writer
// validates commands against it and writes it in its own transaction after each batch's log
// commit, never fsynced per batch (MDB_NOSYNC, guarded by store/unsynced_guard.h). `state_seq`,
// written in the same transaction as the entities, says which event it reflects; on start the
// writer applies the log after it (writer/state_recovery.h).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/status.h"
#include "store/lmdb.h"

namespace cqrs::store {

struct StateStoreOptions {
  std::string dir;  // <data>/write/state
  // Where checkpoints are (store/state_checkpoint.h): <data>/write/checkpoints; empty: none.
  std::string checkpoints_dir;
  std::uint64_t map_size = 1ull << 30;
  std::uint64_t max_map_size = 1ull << 40;
};

struct StateDbs {
  Dbi meta, entities;
};

// Owns the env. Thread-safety: as LmdbEnv; only the writer thread writes.
class StateStore {
 public:
  // Opens or creates the state of the log `store_id` (hex). A state it cannot trust is removed,
  // with discarded() saying why: one left unsynced by an earlier boot (a machine crash may have
  // torn it), of another log, or of another format. A removed or absent state is restored from
  // the newest checkpoint that verifies (restored_seq()), else created empty (state_seq 0).
  static Result<std::unique_ptr<StateStore>> Open(const StateStoreOptions& options,
                                                  std::string_view store_id);
  // Fsyncs the state and removes its `unsynced` guard, unless LeaveUnsynced() was called.
  ~StateStore();
  // Closing then skips the fsync and keeps the guard (tests of the faked reboot).
  void LeaveUnsynced() { guarded_ = false; }

  LmdbEnv& env() { return env_; }
  const StateDbs& dbs() const { return dbs_; }
  const std::string& dir() const { return options_.dir; }
  // Empty when the state found on disk was kept; else why it was removed.
  const std::string& discarded() const { return discarded_; }
  // The seq of the checkpoint this open restored; 0 if none was.
  std::uint64_t restored_seq() const { return restored_seq_; }

  // Writes a consistent compacted copy of the state to `fd` (mdb_env_copyfd2, MDB_CP_COMPACT),
  // from its own read snapshot. Grow() waits meanwhile: a remap under the copy would crash it.
  Status CopyTo(int fd);

  Result<std::uint64_t> StateSeq(const Txn& txn) const;
  Status SetStateSeq(Txn& txn, std::uint64_t seq) const;

  // Doubles the map after MDB_MAP_FULL, up to max_map_size (ResourceExhausted there). No
  // transaction of this process may be open on the state; waits for a CopyTo in progress.
  Status Grow();

 private:
  explicit StateStore(StateStoreOptions options) : options_(std::move(options)) {}
  // Opens the env and its databases; `reason` non-empty when an existing state must go.
  Status Init(std::string_view store_id, std::string* reason);
  Status Remove();
  // Puts the newest verified checkpoint in place of the (absent) state files.
  Status Restore(std::string_view store_id);

  StateStoreOptions options_;
  LmdbEnv env_;
  StateDbs dbs_;
  bool guarded_ = false;
  std::string discarded_;
  std::uint64_t restored_seq_ = 0;
  std::mutex remap_mutex_;  // held by CopyTo and Grow
};

}  // namespace cqrs::store
