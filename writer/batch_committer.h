// BatchCommitter: group commit. Decodes, authorizes and applies a batch of requests in one
// transaction of the event log and one of the entity state, commits the log once (the
// durability point: fsynced in sync mode) and leaves a reply for every request; the state is
// committed after the replies (CommitState), never fsynced. MDB_MAP_FULL aborts both
// transactions, grows the full map and replays the batch; other storage failures become
// retryable replies (nothing was committed, nothing is remembered). A state commit that fails
// behind a committed log leaves the state behind: the next batch first replays the log into it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "store/write_store.h"
#include "wire/command_codec.h"
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
  std::string_view principal;
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
  // `state` must be caught up with `log` (CatchUpState).
  BatchCommitter(store::WriteStore& log, store::StateStore& state, const Limits& limits,
                 Authorizer& authorizer);
  // Commits a pending state transaction.
  ~BatchCommitter();

  // Processes every item and commits the log. Never fails as a whole: each item gets a reply.
  // Returns the committed seq (unchanged if nothing was written). Blocks for the commit's fsync
  // in sync mode. The batch's state transaction stays open until CommitState (or the next
  // Commit).
  std::uint64_t Commit(std::span<BatchItem*> items);
  // Commits the state transaction of the last Commit, if any: call after sending its replies.
  void CommitState();

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
  // Grows whichever environment is fuller after MDB_MAP_FULL.
  Status GrowFuller();
  // Replays the log into a state left behind by a failed state commit.
  Status CatchUp();

  store::WriteStore& log_;
  store::StateStore& state_;
  store::Txn state_txn_;  // the last batch's, until CommitState
  bool state_behind_ = false;
  Authorizer& authorizer_;
  wire::CommandDecoder decoder_;
  CommandApplier applier_;
  flatbuffers::FlatBufferBuilder fbb_{256};
  std::uint64_t committed_seq_ = 0;
  BatchStats stats_;
};

}  // namespace cqrs::writer
