// cqrs::LocalReader: reads for a process on the pipeline's host, without a socket. Get looks in
// the shared-memory hot cache first and otherwise reads a read-only LMDB snapshot of the read
// store; Scan reads the snapshot. Same promises as a reader process: every answer carries the
// seq its state is as of, never below the min_seq asked for (waiting up to `wait` for the
// projector to apply it), and the seqs one LocalReader reports never go back.
//
// Views (LocalEntity::key, ::record) stay valid until the next call on the same LocalReader, or
// Release(): a Get answered by LMDB, and every Scan, hand out views into the snapshot, which is
// held until then (call Release() when going idle: a held snapshot keeps the projector from
// reusing the pages it freed since). A cache hit is copied out of its slot.
//
// Not thread-safe: one LocalReader per thread. Any number may be open in one process (they share
// one LMDB environment per read store, as LMDB requires: store/read_store_follower.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/config.h"
#include "base/result.h"
#include "shm/control_block.h"
#include "store/lmdb.h"
#include "store/read_store.h"
#include "store/read_store_follower.h"
#include "store/record_format.h"

namespace cqrs {

struct LocalReaderOptions {
  std::string data_dir = "./data";
  // Only used if no process of the data dir has created the shared-memory segment yet.
  std::uint32_t cache_slots = CacheConfig().slots;
  std::string tenant = std::string(kDefaultTenant);
  bool use_cache = true;  // false: every Get reads LMDB (for comparison)
};

struct LocalReadOptions {
  std::uint64_t min_seq = 0;             // the answer's state is at least this recent
  std::chrono::milliseconds wait{1000};  // for min_seq; then DeadlineExceeded
};

// One entity: views valid until the next call on its LocalReader (see above).
struct LocalEntity {
  std::string_view key;
  std::uint64_t version = 0;
  std::uint64_t seq = 0;    // of its last change
  std::string_view record;  // store/record_format.h; fields() walks it
  bool from_cache = false;
  store::RecordFieldReader fields() const { return store::RecordFieldReader(record); }
};

class LocalReader {
 public:
  // Unavailable if the read store does not exist yet (start the pipeline first) or shared
  // memory cannot be used.
  static Result<std::unique_ptr<LocalReader>> Open(const LocalReaderOptions& options);
  ~LocalReader();

  // OK with `*entity`; NotFound; DeadlineExceeded (min_seq not applied within the wait);
  // Unavailable (the read store could not be read). `*seq`: the seq the answer is as of.
  Status Get(std::string_view collection, std::string_view key, const LocalReadOptions& options,
             LocalEntity* entity, std::uint64_t* seq);
  // Up to `limit` entities of `collection` with key >= `start`, in key order, from one snapshot.
  Status Scan(std::string_view collection, std::string_view start, std::uint32_t limit,
              const LocalReadOptions& options, std::vector<LocalEntity>* entities,
              std::uint64_t* seq);
  // Ends the snapshot the last answer's views point into.
  void Release();

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  LocalReader(LocalReaderOptions options, shm::ControlBlock control);
  // The namespace id of `collection` in the snapshot's store (NotFound: no entity ever).
  Status Namespace(std::string_view collection, std::uint32_t* ns);
  // Waits until the projector's applied seq (in shared memory) reaches `min_seq`, or
  // DeadlineExceeded at `deadline_ns`; first follows a new shared-memory segment when the
  // pipeline replaced or removed the one this reader attached to.
  Status WaitApplied(std::uint64_t min_seq, std::uint64_t deadline_ns);
  // Follows the live store (store::ReadStoreFollower); ends the snapshot when it changes.
  Status Follow(bool force);
  // A snapshot of the live store whose seq is at least `min_seq` and every seq reported so far,
  // checked on the snapshot itself (the store may have been switched under us): until
  // `deadline_ns` it follows the live store and tries again; then DeadlineExceeded (below
  // min_seq) or Unavailable (below a seq reported before).
  Status Snapshot(std::uint64_t min_seq, std::uint64_t deadline_ns, std::uint64_t* seq);

  LocalReaderOptions options_;
  shm::ControlBlock control_;
  store::ReadStoreFollower follower_;
  store::Txn snapshot_;
  bool snapshot_active_ = false;
  std::uint64_t reported_ = 0;  // the highest seq answered so far
  // collection → id in the followed store (ids differ between rebuilt stores)
  std::unordered_map<std::string, std::uint32_t, Hash, std::equal_to<>> namespaces_;
  shm::CacheKey cache_key_;
  std::string cached_;  // a cache hit's record
  std::string probe_;
};

}  // namespace cqrs
