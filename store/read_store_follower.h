// Following the live read store (<data>/read) from a process that only reads it: the readers
// and LocalReader. The projector switches <data>/read to a rebuilt store by exchanging two
// directories, then bumps the read generation in shared memory; a projector killed between the
// two leaves the new store in place and the generation as it was. So the generation is only a
// hint to look: what decides is the directory's identity (device, inode), and a look is taken
// at least every 100 ms whatever the generation says.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "store/read_store.h"

namespace cqrs::store {

struct DirIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const DirIdentity&) const = default;
};

// Opens the read store directory `options.dir` read-only, shared by every caller in this
// process that opens the same directory (by identity): LMDB must never have one file open twice
// in a process, since closing the second environment drops the process's locks on the file and
// with them the reader slots of the first, whose snapshots the writer may then overwrite. The
// directory is opened by a descriptor (kept while the store lives) and LMDB is given
// /proc/self/fd/N, so the environment is exactly the directory looked at even if it is
// exchanged meanwhile. Sets `*identity` to that directory's. Errors as ReadStore::Open, naming
// options.dir. Thread-safe.
Result<std::shared_ptr<ReadStore>> OpenSharedReadStore(const ReadStoreOptions& options,
                                                       DirIdentity* identity);

// DeadlineExceeded for a query whose min_seq the store at `applied` did not reach in time: one
// wording for the readers and LocalReader.
Status NotAppliedInTime(std::uint64_t applied, std::uint64_t min_seq);

// One reader's handle on the live read store. Not thread-safe (one per reading thread; the
// environments underneath are shared).
class ReadStoreFollower {
 public:
  explicit ReadStoreFollower(ReadStoreOptions options);

  // Makes store() the store options.dir names now. Looks (one stat) when `generation` differs
  // from the last seen, when `force`, or when the last look is 100 ms old; opens a store only
  // when the identity changed. Before letting the old store go it ends `*snapshot` (a snapshot
  // must end before its environment closes). True if store() changed (the caller rebuilds what
  // it derived from it). Errors as OpenSharedReadStore; store() then stays as it was.
  Result<bool> Follow(std::uint64_t generation, bool force, Txn* snapshot);

  // The store followed; null before the first successful Follow.
  ReadStore* store() const { return store_.get(); }
  const DirIdentity& identity() const { return identity_; }

 private:
  ReadStoreOptions options_;
  std::shared_ptr<ReadStore> store_;
  DirIdentity identity_;
  std::uint64_t generation_ = 0;
  std::uint64_t next_look_ns_ = 0;
};

}  // namespace cqrs::store
