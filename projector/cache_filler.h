// The projector's half of the read-hot cache (shm/cache_access.h): drains what the readers
// reported, keeps the access sketch, and fills the missed keys the sketch admits from the read
// store. Runs on the projector's thread between batches, the one writer of the cache.
//
// Why a fill is provably the snapshot's state: no read-store write is open when Fill runs, so
// its snapshot is the store at the applied seq A the projector last published; the record's own
// seq v (its last change) is the slot's as_of. The key's state is that record at every seq in
// [v, A], and every later change passes through UpdateCache (write-through, or a clear) before
// the applied seq moves past it, which is the cache's rule (shm/hot_cache.h).
#pragma once

#include <cstdint>

#include "base/status.h"
#include "shm/cache_access.h"
#include "shm/control_block.h"
#include "store/lmdb.h"
#include "store/read_store.h"

namespace cqrs::projector {

class CacheFiller {
 public:
  // `control` must outlive the filler; its cache is enabled.
  explicit CacheFiller(shm::ControlBlock& control);

  // A written key counts as an access (a key just written is likely read soon).
  void CountWrite(std::uint64_t hash) { sketch_.Add(hash, 1); }
  // What write-through Puts are judged by.
  const shm::CacheAdmission& admission() const { return sketch_; }

  // Drains every reader's ring and fills the admitted misses from `read`. Call with no write
  // transaction of `read` open. Returns the slots filled.
  Result<std::uint64_t> Fill(store::ReadStore& read);

 private:
  // Fills one reported miss (the filler's key_): a key absent from the store, deleted, or of a
  // collection never written is left out.
  Result<bool> FillOne(store::ReadStore& read);

  shm::ControlBlock& control_;
  shm::AccessSketch sketch_;
  shm::CacheKey key_;
  // Begun by a Fill that needs it and ended (not only reset) before Fill returns: the projector
  // closes the read store on a rebuild switch and grows its map, neither of which may happen
  // under a transaction of its own.
  store::Txn snapshot_;
};

}  // namespace cqrs::projector
