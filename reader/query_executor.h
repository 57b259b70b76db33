// QueryExecutor: answers one checked QueryRequest from a read-store snapshot: Get by key, Scan
// as a cursor walk over the collection's keys, Find as a walk over a declared index in (value,
// key) order, Aggregate as a walk over a declared aggregate's groups.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/config.h"
#include "base/status.h"
#include "reader/query_reply_builder.h"
#include "schemas/cqrs_generated.h"
#include "shm/cache_access.h"
#include "shm/hot_cache.h"
#include "store/lmdb.h"
#include "store/read_store.h"

namespace cqrs::reader {

// Not thread-safe (reuses its reply builder). Allocates nothing per query once warm, error
// messages excepted.
class QueryExecutor {
 public:
  // `models` (the config's [[collections]]) must outlive the executor.
  QueryExecutor(store::ReadStore& store, const ReaderConfig& config,
                const std::vector<CollectionSpec>& models = NoCollectionSpecs())
      : store_(store), config_(config), models_(models) {}

  // Runs `request` for `tenant` (authorized by the caller) against `snapshot`, whose applied seq
  // is `seq`, and returns the encoded QueryReply (valid until the next call); `status` gets its
  // status.
  std::span<const std::uint8_t> Execute(const store::Txn& snapshot, std::uint64_t seq,
                                        const fb::QueryRequest& request, std::string_view tenant,
                                        Code* status);

  // False while the store was built with other read models than the config declares (the
  // projector is rebuilding it): Find and Aggregate answer Unavailable, Get and Scan serve.
  void set_models_current(bool current) { models_current_ = current; }
  bool models_current() const { return models_current_; }

  // Lets Get answer from the shared-memory hot cache when the cache provably holds the
  // snapshot's state of the key: the projector's applied seq (`applied`, loaded before the slot
  // is read) is at least the snapshot's, and the slot was written at or before it (see
  // shm/hot_cache.h). Hits and misses are counted into `hits` and `misses`, and reported to
  // the projector through `reporter` (null: not reported), which fills what was missed. All
  // must outlive the executor; null `cache`: no cache.
  void set_cache(const shm::HotCache* cache, const shm::AtomicU64* applied, shm::AtomicU64* hits,
                 shm::AtomicU64* misses, shm::AccessReporter* reporter) {
    cache_ = cache;
    applied_ = applied;
    hits_ = hits;
    misses_ = misses;
    reporter_ = reporter;
  }
  // Per batch: false while the projector's heartbeat is stale (then only LMDB answers).
  void set_cache_usable(bool usable) { cache_usable_ = usable; }

  // A reply carrying only a status (refusals, DeadlineExceeded).
  std::span<const std::uint8_t> Refuse(std::uint64_t request_id, const Status& status,
                                       std::uint64_t seq);

 private:
  Status Get(const store::Txn& snapshot, const fb::Get& get);
  Status Scan(const store::Txn& snapshot, const fb::Scan& scan, std::string* next);
  Status Find(const store::Txn& snapshot, const fb::Find& find, std::string* next);
  Status Aggregate(const store::Txn& snapshot, const fb::Aggregate& aggregate);

  store::ReadStore& store_;
  ReaderConfig config_;
  const std::vector<CollectionSpec>& models_;
  QueryReplyBuilder builder_;
  std::string name_;  // scratch: "<collection>#i.<field>"
  bool models_current_ = true;
  std::uint64_t seq_ = 0;    // the snapshot's applied seq, during Execute
  std::string_view tenant_;  // the caller's tenant, during Execute
  const shm::HotCache* cache_ = nullptr;
  const shm::AtomicU64* applied_ = nullptr;
  shm::AtomicU64* hits_ = nullptr;
  shm::AtomicU64* misses_ = nullptr;
  shm::AccessReporter* reporter_ = nullptr;
  bool cache_usable_ = false;
  shm::CacheKey cache_key_;
  std::string cached_record_;
};

}  // namespace cqrs::reader
