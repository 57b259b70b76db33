// QueryExecutor: answers one checked QueryRequest from a read-store snapshot: Get by key, Scan
// as a cursor walk over the collection's keys. Find and Aggregate need declared read models.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/config.h"
#include "base/status.h"
#include "reader/query_reply_builder.h"
#include "schemas/cqrs_generated.h"
#include "store/lmdb.h"
#include "store/read_store.h"

namespace cqrs::reader {

// Not thread-safe (reuses its reply builder). Allocates nothing per query once warm, error
// messages excepted.
class QueryExecutor {
 public:
  QueryExecutor(store::ReadStore& store, const ReaderConfig& config)
      : store_(store), config_(config) {}

  // Runs `request` against `snapshot`, whose applied seq is `seq`, and returns the encoded
  // QueryReply (valid until the next call); `status` gets its status.
  std::span<const std::uint8_t> Execute(const store::Txn& snapshot, std::uint64_t seq,
                                        const fb::QueryRequest& request, Code* status);

  // A reply carrying only a status (refusals, DeadlineExceeded).
  std::span<const std::uint8_t> Refuse(std::uint64_t request_id, const Status& status,
                                       std::uint64_t seq);

 private:
  Status Get(const store::Txn& snapshot, const fb::Get& get);
  Status Scan(const store::Txn& snapshot, const fb::Scan& scan, std::string* next);

  store::ReadStore& store_;
  ReaderConfig config_;
  QueryReplyBuilder builder_;
};

}  // namespace cqrs::reader
