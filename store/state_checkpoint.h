// Checkpoints of the writer's entity state: consistent, compacted copies of <data>/write/state
// (LMDB's mdb_env_copyfd2 with MDB_CP_COMPACT copies one read snapshot of its own), each with
// a checksum, under <data>/write/checkpoints. After a machine crash the state, never fsynced,
// cannot be trusted; the writer restores the newest checkpoint that verifies and applies only
// the log after its state_seq, instead of the whole log.
//
//   state-<seq, 20 digits>.mdb   the copy (an LMDB file, MDB_NOSUBDIR layout)
//   state-<seq, 20 digits>.sum   "cqrs-state-checkpoint 1\nseq S\nstore_id X\nbytes N\nhash H\n"
//                                H = FNV-1a 64 over the file's 8-byte words, hex
// Both are written under a ".tmp" name, fsynced, renamed, and the directory fsynced: a crash at
// any point leaves either a whole checkpoint or leftovers that are ignored and removed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "store/lmdb.h"
#include "store/log_holds.h"
#include "store/state_store.h"
#include "store/write_store.h"

namespace cqrs::store {

struct StateCheckpoint {
  std::uint64_t seq = 0;
  std::string path;  // the .mdb file
};

// Writes a checkpoint of `state` into `dir` (created 0700) and returns it. While it copies, the
// state's map cannot be resized (StateStore::Grow waits). A failure (a full disk included)
// leaves no checkpoint and removes its temp files.
Result<StateCheckpoint> WriteStateCheckpoint(StateStore& state, const std::string& dir);

// The checkpoints in `dir` by name, newest first (not yet verified). When `remove_leftovers`,
// removes what a crash during a checkpoint leaves: .tmp files, and a copy without its .sum.
std::vector<StateCheckpoint> ListStateCheckpoints(const std::string& dir, bool remove_leftovers);

// Checks a checkpoint against its .sum: size, checksum, and that it caches the log `store_id`.
// Internal naming what differs.
Status VerifyStateCheckpoint(const StateCheckpoint& checkpoint, std::string_view store_id);

// Removes all but the newest `keep` checkpoints.
void PruneStateCheckpoints(const std::string& dir, std::size_t keep);

// The entities of a checkpoint, in key order: (the log's namespace id, key, record), tombstones
// included. Opens the copy read-only (no lock file) and reads one snapshot of it.
class CheckpointEntities {
 public:
  static Result<std::unique_ptr<CheckpointEntities>> Open(const StateCheckpoint& checkpoint);
  // The next entity; NotFound after the last. Views are valid until the next call.
  Status Next(std::uint32_t* ns, std::string_view* key, std::string_view* record);

 private:
  CheckpointEntities() = default;
  std::string path_;
  LmdbEnv env_;
  Txn snapshot_;
  Cursor cursor_;
  bool started_ = false;
};

// The newest checkpoint in `log`'s checkpoints dir that verifies and from which the log still
// holds every later event, with `hold` (a LogHold of the caller) set and written at its seq first,
// so that retention cannot pass it while the caller reads it. OutOfRange naming the log's start
// when there is none.
Result<StateCheckpoint> HoldNewestCheckpoint(WriteStore& log, LogHold& hold);

}  // namespace cqrs::store
