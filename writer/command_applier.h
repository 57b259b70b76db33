// CommandApplier: applies one verified CommandRequest inside the writer's two write
// transactions of a batch: idempotency and order per (tenant, principal, client_id) and
// preconditions of every command checked before anything is written (so a failing request needs
// no rollback), then one event per change, the counters and the remembered reply in the log
// transaction (the durability point), and the changed entities in the state transaction (a
// cache of the log, committed after it).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "base/value.h"
#include "schemas/cqrs_generated.h"
#include "store/lmdb.h"
#include "store/record_format.h"
#include "store/state_store.h"
#include "store/write_store.h"

namespace cqrs::writer {

// Not thread-safe: owned by the writer thread. Reuses all its buffers: once warm it allocates
// nothing per request (error messages excepted).
class CommandApplier {
 public:
  CommandApplier(store::WriteStore& log, store::StateStore& state, const Limits& limits);

  // Starts a batch: reads meta.last_seq from the log transaction.
  Status BeginBatch(store::Txn& log);

  // Applies `request` of `principal` in `tenant` and writes its reply (a CommandReply
  // FlatBuffer) to `reply`. A non-OK `refusal` (invalid content, refused authorization) is the
  // answer instead of applying, with `failed_index`. Definite outcomes (Ok and every refusal) are
  // remembered for the (tenant, principal, client_id), so its next id follows; duplicates get
  // the remembered reply, ids out of order get OutOfOrder. Returns non-OK only for a storage
  // failure that dooms the transactions (MDB_MAP_FULL, I/O): the caller must abort the batch.
  Status Apply(store::Txn& log, store::Txn& state, const fb::CommandRequest& request,
               std::string_view tenant, std::string_view principal, const Status& refusal,
               int failed_index, std::uint64_t timestamp_ns, std::vector<std::uint8_t>* reply,
               Code* reply_status);

  // Writes meta.last_seq to the log and state_seq to the state. Call once after the batch's
  // last Apply and before the commits.
  Status EndBatch(store::Txn& log, store::Txn& state);

  // The seq of the last event applied in the current batch (committed once the txn commits).
  std::uint64_t last_seq() const { return last_seq_; }

#ifdef CQRS_MISTAKE_IDEMPOTENCY_SEPARATE_TXN
  // The injected mistake of tests/faults (make mistakes): the batch's request records are kept
  // aside and written by this second transaction after the batch's commit.
  Status CommitDeferred();
#endif

 private:
  struct Planned {
    std::string_view collection;
    std::string_view key;
    fb::Op op;  // effective: Create, Update or Delete
    std::uint64_t version;
    bool tombstone;
    std::size_t record_offset;
    std::size_t record_size;
  };
  struct Refusal {
    Code code = Code::kOk;
    std::string message;
    int failed_index = -1;
    std::uint64_t expected_request_id = 0;  // OutOfOrder
  };

  Status ApplyRequest(store::Txn& log, store::Txn& state, const fb::CommandRequest& request,
                      std::string_view tenant, std::string_view principal,
                      const Status& prior_refusal, int failed_index, std::uint64_t timestamp_ns,
                      std::vector<std::uint8_t>* reply);
  // Checks idempotency and order of client_key_'s request. Sets `duplicate` when `reply` now
  // holds the remembered reply, or `refusal` (OutOfOrder) when the request must not be applied.
  Status CheckOrder(store::Txn& log, std::string_view client_id, std::uint64_t request_id,
                    bool* duplicate, Refusal* refusal, std::vector<std::uint8_t>* reply);
  // Plans every command without writing. A precondition failure goes into `refusal`.
  Status Plan(store::Txn& log, store::Txn& state, const fb::CommandRequest& request,
              std::string_view tenant, Refusal* refusal);
  Status PlanCommand(store::Txn& log, store::Txn& state, const fb::Command& command,
                     std::string_view tenant, int index, Refusal* refusal);
  // Writes every planned change: its event, counter and entity.
  Status Write(store::Txn& log, store::Txn& state, const fb::CommandRequest& request,
               std::string_view tenant, std::uint64_t timestamp_ns);
  Status WriteEvent(store::Txn& log, const Planned& change, std::uint64_t collection_seq,
                    const fb::CommandRequest& request, std::string_view tenant,
                    std::uint64_t timestamp_ns, std::string_view record);
  Status Remember(store::Txn& log, std::uint64_t request_id, std::uint64_t timestamp_ns,
                  std::span<const std::uint8_t> reply);
#ifdef CQRS_MISTAKE_IDEMPOTENCY_SEPARATE_TXN
  struct Deferred {
    bool head;  // a `clients` record, else a `replies` one
    std::string key, value;
  };
  std::vector<Deferred> deferred_;
#endif
  void BuildReply(std::uint64_t request_id, Code code, std::string_view message, int failed_index,
                  std::uint64_t seq, std::vector<std::uint8_t>* reply,
                  std::uint64_t expected_request_id = 0);
  Code last_code_ = Code::kOk;  // the status of the reply Apply made last

  store::WriteStore& log_;
  store::StateStore& state_;
  const store::WriteDbs& dbs_;
  store::KeyBuffer client_key_;  // the (tenant, principal, client_id) of the request in hand
  Limits limits_;
  std::uint64_t last_seq_ = 0;

  std::vector<Planned> planned_;
  std::vector<char> arena_;  // planned records, back to back
  std::vector<std::uint64_t> versions_;
  std::vector<FieldView> changes_;
  store::RecordBuilder record_;
  flatbuffers::FlatBufferBuilder reply_fbb_{256};
  flatbuffers::FlatBufferBuilder event_fbb_{1024};
  std::vector<flatbuffers::Offset<fb::Field>> event_fields_;
};

}  // namespace cqrs::writer
