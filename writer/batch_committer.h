// BatchCommitter: group commit. Decodes, authorizes and applies a batch of requests in ONE write
// transaction, commits once, and leaves a reply for every request. MDB_MAP_FULL aborts the
// transaction, grows the map and replays the batch; other storage failures become retryable
// replies (nothing was committed, nothing is remembered).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "store/write_store.h"
#include "wire/command_decoder.h"
#include "writer/authorizer.h"
#include "writer/command_applier.h"

namespace cqrs::writer {

// One request of a batch. The caller fills `frame` (8-byte aligned, alive until Commit returns),
// `identity` and, for a frame refused before decoding, `refusal`; Commit fills `reply`.
struct BatchItem {
  std::span<const std::uint8_t> frame;
  Identity identity;
  Status refusal;                   // non-OK: reply with it and do not decode
  std::vector<std::uint8_t> reply;  // the CommandReply to send
  Code status = Code::kOk;          // its status
  // Filled by Commit.
  wire::DecodedCommandRequest decoded;
  std::string_view tenant;
  Status content_refusal;  // a refusal that is sequenced and remembered like an outcome
  int failed_index = -1;
  bool applied = false;  // goes through the transaction (reply Ok, remembered or duplicate)
};

struct BatchStats {
  std::uint64_t batches = 0;
  std::uint64_t requests = 0;
  std::uint64_t refused_before_apply = 0;
  std::uint64_t map_grows = 0;
  std::uint64_t failed_commits = 0;
};

// Not thread-safe: the writer thread owns it and the only write transaction.
class BatchCommitter {
 public:
  BatchCommitter(store::WriteStore& store, const Limits& limits, Authorizer& authorizer);

  // Processes every item and commits. Never fails as a whole: each item gets a reply. Returns
  // the committed seq (unchanged if nothing was written). Blocks for the commit's fsync in sync
  // mode.
  std::uint64_t Commit(std::span<BatchItem*> items);

  std::uint64_t committed_seq() const { return committed_seq_; }
  const BatchStats& stats() const { return stats_; }

#ifdef CQRS_MISTAKE_ACK_BEFORE_COMMIT
  // The injected mistake of tests/faults (make mistakes): called with the replies built, just
  // before the transaction commits.
  std::function<void(std::span<BatchItem*>)> before_commit;
#endif

 private:
  Status RunTransaction(std::span<BatchItem*> items, std::uint64_t timestamp_ns);
  void Refuse(BatchItem& item, Code code, std::string_view message, int failed_index);

  store::WriteStore& store_;
  Authorizer& authorizer_;
  wire::CommandDecoder decoder_;
  CommandApplier applier_;
  flatbuffers::FlatBufferBuilder fbb_{256};
  std::uint64_t committed_seq_ = 0;
  BatchStats stats_;
};

}  // namespace cqrs::writer
