// Thin RAII over LMDB: environment, transactions, databases, cursors. Every failure becomes a
// Status that keeps the operation and LMDB's own code ("mdb_put(entities): MDB_MAP_FULL: ...").
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"

namespace cqrs::store {

// Maps an LMDB return code to a Status: MDB_MAP_FULL and ENOSPC → ResourceExhausted,
// MDB_NOTFOUND → NotFound, MDB_MAP_RESIZED → Unavailable, EIO → Unavailable, else Internal.
Status LmdbError(std::string_view operation, int rc);

// True when `status` came from MDB_MAP_FULL (the map, not the disk, is full: growing helps).
// Both look at Status::native(), which LmdbError sets to LMDB's return code.
bool IsMapFull(const Status& status);
// True when `status` came from MDB_MAP_RESIZED: another process grew the map; call
// LmdbEnv::SetMapSize(0) with no transaction open and try again.
bool IsMapResized(const Status& status);

// A store that is not there (yet): Unavailable with native ENOENT, so that a process waiting for
// another to create it can tell this from every other failure by code.
Status MissingStore(std::string message);
bool IsMissingStore(const Status& status);

inline std::string_view ToView(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}
inline MDB_val ToVal(std::string_view s) { return {s.size(), const_cast<char*>(s.data())}; }
inline MDB_val ToVal(std::span<const std::uint8_t> s) {
  return {s.size(), const_cast<std::uint8_t*>(s.data())};
}

struct EnvOptions {
  std::string dir;  // created if missing (unless read_only)
  std::uint64_t map_size = 1ull << 30;
  unsigned flags = 0;  // MDB_NOSYNC, MDB_NOMETASYNC, MDB_RDONLY, MDB_NOTLS ...
  unsigned max_dbs = 16;
  unsigned max_readers = 256;
};

// An open LMDB environment. Move-only; closes on destruction. Open once per process and never
// use after fork() (docs/DEPENDENCY_FACTS.md fact 4). Thread-safe as LMDB is (MDB_NOTLS is always
// set, so read transactions may move between threads and be reset/renewed).
class LmdbEnv {
 public:
  static Result<LmdbEnv> Open(const EnvOptions& options);

  // This process's read transactions on the environment that hold a snapshot (begun or
  // renewed, not yet reset or ended), under the mutex that begins and renews take: a remap
  // (mdb_env_set_mapsize munmaps and maps again) happens only while there are none, so no
  // thread's snapshot, cursor or value view is ever left pointing into an unmapped range.
  struct ReadTracker {
    std::mutex mutex;
    int open = 0;
  };

  LmdbEnv() = default;
  LmdbEnv(LmdbEnv&& other) noexcept
      : env_(other.env_), dir_(std::move(other.dir_)), reads_(std::move(other.reads_)) {
    other.env_ = nullptr;
  }
  LmdbEnv& operator=(LmdbEnv&& other) noexcept;
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;
  ~LmdbEnv();

  MDB_env* get() const { return env_; }
  const std::string& dir() const { return dir_; }
  std::uint64_t map_size() const;
  // The share of the map its pages use (last page number × page size / map size).
  double used_fraction() const;

  // Requires that this process has no transaction open in the env (the single writer growing
  // its own map between transactions).
  Status SetMapSize(std::uint64_t bytes);
  // Doubles the map, at most to `max_bytes` (SetMapSize's rule applies); ResourceExhausted
  // "<what> map is N MiB, at <limit> M" when it is there already.
  Status DoubleMap(std::uint64_t max_bytes, std::string_view what, std::string_view limit);
  // After MDB_MAP_RESIZED (another process grew the map past ours): adopts its size, but only
  // while no read transaction of this process holds a snapshot (ReadTracker). Unavailable with
  // native MDB_MAP_RESIZED while one does: end snapshots and try again (RenewSnapshot does).
  Status AdoptGrownMap();
  // Before any transaction of a read-only environment: maps the larger of `bytes` and the size
  // its owner recorded, so the owner's growth up to `bytes` never needs a remap here.
  Status MapAtLeast(std::uint64_t bytes);
  int open_reads() const;

  // Clears reader slots of dead processes (mdb_reader_check); returns how many it cleared.
  Result<int> ReaderCheck();

  // Flushes to disk (for nosync environments at shutdown).
  Status Sync();

  // Reader slots held by live processes (after clearing dead ones): processes that have the
  // environment open, in a snapshot or between snapshots.
  Result<int> LiveReaders();

 private:
  friend class Txn;
  MDB_env* env_ = nullptr;
  std::string dir_;
  std::unique_ptr<ReadTracker> reads_ = std::make_unique<ReadTracker>();
};

// A named database handle, valid for the env's lifetime once its opening transaction committed.
struct Dbi {
  MDB_dbi handle = 0;
  const char* name = "";
};

// A transaction. Move-only; aborts on destruction unless committed. A write transaction belongs
// to the thread that began it (the single writer). A read transaction may be Reset() and
// Renew()ed to avoid reallocating its reader slot.
class Txn {
 public:
  static Result<Txn> BeginWrite(const LmdbEnv& env);
  static Result<Txn> BeginRead(const LmdbEnv& env);

  Txn() = default;
  Txn(Txn&& other) noexcept
      : txn_(other.txn_),
        read_only_(other.read_only_),
        reset_(other.reset_),
        reads_(other.reads_),
        counted_(other.counted_) {
    other.txn_ = nullptr;
    other.counted_ = false;
  }
  Txn& operator=(Txn&& other) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { Abort(); }

  MDB_txn* get() const { return txn_; }
  bool active() const { return txn_ != nullptr && !reset_; }

  // Commits; the handle is consumed whatever the outcome (LMDB frees a failed commit's txn).
  // A read transaction that opened databases must be committed to keep their handles.
  Status Commit();
  void Abort();
  // Read transactions only: release the snapshot but keep the slot; Renew() takes a new one.
  void Reset();
  Status Renew();

  // Opens (creating in a write txn when `create`) a named database.
  Result<Dbi> OpenDbi(const char* name, unsigned flags, bool create);

  // Reads `key`. NotFound (allocating nothing) if absent. The value is valid until this
  // transaction ends or, in a write transaction, until the next write to the database.
  Status Get(Dbi dbi, std::string_view key, std::string_view* value) const;
  Status Put(Dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // Reserves `size` bytes for `key` and returns where to write them (MDB_RESERVE).
  Status Reserve(Dbi dbi, std::string_view key, std::size_t size, char** out, unsigned flags = 0);
  // Deletes `key`; NotFound if absent.
  Status Del(Dbi dbi, std::string_view key);
  // Deletes one duplicate (`key`, `value`) of an MDB_DUPSORT database; NotFound if absent.
  Status Del(Dbi dbi, std::string_view key, std::string_view value);
  // Empties the database (mdb_drop with del = 0; its handle stays open).
  Status Drop(Dbi dbi);

 private:
  void Uncount();
  MDB_txn* txn_ = nullptr;
  bool read_only_ = false;
  bool reset_ = false;
  LmdbEnv::ReadTracker* reads_ = nullptr;  // read transactions: the env's tracker
  bool counted_ = false;                   // holds a snapshot counted in reads_->open
};

// Takes a fresh snapshot in `txn`, reusing its reader slot: begins a read transaction the first
// time, renews the reset one after (no allocation). After MDB_MAP_RESIZED it adopts the grown
// map when no other snapshot of this process is open on the env, and tries once more; while
// one is, Unavailable (native MDB_MAP_RESIZED, retryable). Environments a process only reads
// are opened with the writer's maximum map size, so this is rare. Reset() the snapshot as soon
// as it is not needed: a held snapshot pins pages.
Status RenewSnapshot(LmdbEnv& env, Txn* txn);

// Resets a renewed snapshot when the scope that uses it ends (declare it after RenewSnapshot,
// before the snapshot's cursors, so that they are closed first).
class SnapshotLease {
 public:
  explicit SnapshotLease(Txn& txn) : txn_(txn) {}
  ~SnapshotLease() {
    if (txn_.active()) txn_.Reset();
  }
  SnapshotLease(const SnapshotLease&) = delete;
  SnapshotLease& operator=(const SnapshotLease&) = delete;

 private:
  Txn& txn_;
};

// A cursor over one database inside one transaction. Move-only; closed on destruction (a
// write-txn cursor must be destroyed before its transaction ends).
class Cursor {
 public:
  static Result<Cursor> Open(const Txn& txn, Dbi dbi);

  Cursor() = default;
  Cursor(Cursor&& other) noexcept : cursor_(other.cursor_), dbi_(other.dbi_) {
    other.cursor_ = nullptr;
  }
  Cursor& operator=(Cursor&& other) noexcept;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  // Positions with `op` (MDB_FIRST, MDB_LAST, MDB_NEXT, MDB_SET_RANGE ...). NotFound at an end.
  // For MDB_SET/MDB_SET_RANGE `key` is the probe, for MDB_GET_BOTH(_RANGE) `key` and `value`;
  // on success key/value hold the entry.
  Status Get(MDB_cursor_op op, std::string_view* key, std::string_view* value);
  // mdb_cursor_put (write txn); leaves the cursor on the entry, so the next put near it skips
  // the descent from the root. MDB_KEYEXIST is kAlreadyExists.
  Status Put(std::string_view key, std::string_view value, unsigned flags = 0);
  // mdb_cursor_del (write txn): removes the entry under the cursor.
  Status Del();

 private:
  MDB_cursor* cursor_ = nullptr;
  Dbi dbi_;
};

}  // namespace cqrs::store
