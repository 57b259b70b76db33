// ReaderServer: the cqrs-reader process's loop. One ROUTER socket; each drained batch of
// queries is answered from one lock-free LMDB read snapshot (reset and renewed, never held
// between batches). A query whose min_seq the read store has not applied yet is parked until
// the projector's tick shows it applied, or its deadline passes (DeadlineExceeded). A
// QueryBatch frame's queries are each answered on their own: those ready at once go back
// together in QueryBatchReply frames, a parked one later in a QueryReply of its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/config.h"
#include "base/status.h"
#include "reader/query_executor.h"
#include "security/server_security.h"
#include "shm/control_block.h"
#include "store/read_store.h"
#include "store/read_store_follower.h"
#include "wire/aligned_buffer.h"
#include "wire/batch_codec.h"
#include "wire/query_codec.h"
#include "wire/zmq_util.h"

namespace cqrs::reader {

// Not thread-safe: Run() on one thread.
class ReaderServer {
 public:
  // Opens <data>/read read-only (Unavailable until the projector has created it) and binds
  // `endpoint` (docs/PROTOCOL.md: base port + 10 + index). `index` also picks the shm slot.
  static Result<std::unique_ptr<ReaderServer>> Open(const Config& config, std::uint32_t index,
                                                    const std::string& endpoint,
                                                    zmq::context_t& context);
  ~ReaderServer();

  void Run(const std::atomic<bool>& stop);
  const std::string& endpoint() const { return endpoint_; }

 private:
  struct Slot {
    wire::InboundMessage message;
    wire::AlignedBuffer buffer;
    wire::DecodedQueryRequest decoded;
    std::string tenant;   // the authorized caller's
    std::string user_id;  // security on: the connection's ZAP User-Id, judged again on waking
    std::uint64_t min_seq = 0;
    std::size_t parked_bytes = 0;  // what it counts against reader.max_waiting_bytes
    std::uint64_t deadline_ns = 0;
    std::uint64_t received_ns = 0;  // for the latency histogram
  };

  ReaderServer(const Config& config, std::uint32_t index, zmq::context_t& context);
  Status Init(const std::string& endpoint);
  Status RenewSnapshot(std::uint64_t* seq);
  // Follows <data>/read to the store there now (store::ReadStoreFollower: on a new read
  // generation, or every 100 ms) and rebuilds the executor when it changed. Between snapshots
  // only; on failure keeps the current store.
  Status FollowStore(bool force);
  // Whether the store holds the read models the config declares (else Find and Aggregate are
  // Unavailable until it does).
  Status LookAtModels(store::ReadStore& store);
  // Whether a parked query can be answered or expired now: one's min_seq is applied per the
  // control block, or one is due (true without a control block).
  bool WaitingCanProgress(std::uint64_t now) const;
  // The writer's committed seq bounds min_seq only while its heartbeat is this fresh.
  static constexpr std::uint64_t kWriterStaleNs = 1'000'000'000;
  // Receives up to the batch bound into fresh slots.
  void Receive(std::vector<Slot*>* fresh);
  // Answers, parks or refuses each fresh query and retries the parked ones.
  void Process(std::vector<Slot*>& fresh);
  void Reply(Slot* slot, std::span<const std::uint8_t> reply, Code status);
  // Counts one answered query in the control block.
  void Count(Code status, std::uint64_t received_ns);
  // Answers a QueryBatch (slot's buffer): each query answered into QueryBatchReply frames of at
  // most reader.max_reply_bytes, or parked in a slot of its own; frees `slot`.
  void ProcessBatch(Slot* slot, std::uint64_t seq, std::uint64_t now);
  // Sends the batch reply built so far to `slot`'s peer, keeping its envelope for more.
  void SendBatchReply(Slot* slot);
  // Parks a decoded, authorized query that MayPark allowed, until its min_seq or deadline.
  void Park(Slot* slot, std::uint64_t now);
  void Release(Slot* slot);
  Slot* Acquire();
  // Security on: the principal of the slot's User-Id must be enabled and may read the query's
  // collection; sets slot->tenant. Security off: the default tenant.
  Status Authorize(Slot* slot);
  Status Authorize(std::string_view user_id, const fb::QueryRequest& request, std::string* tenant);
  // Whether `slot` (decoded, authorized, min_seq above the snapshot's `seq`) may park: OK, or
  // InvalidArgument for a min_seq beyond any committed seq, or ResourceExhausted past the
  // parking bounds.
  Status MayPark(const Slot& slot, std::uint64_t seq) const;
  // A batch of fresh queries holds at most this many request bytes (one request always).
  static constexpr std::size_t kBatchMaxBytes = 8u << 20;
  // A slot's buffer over this is freed when the slot is, so a burst of large queries leaves
  // no large buffers behind.
  static constexpr std::size_t kKeptBufferBytes = 64u << 10;

  Config config_;
  std::uint32_t index_;
  zmq::context_t& context_;
  std::unique_ptr<security::ServerSecurity> security_;  // null: security off
  wire::QueryLimits limits_;
  store::ReadStoreFollower follower_;
  std::unique_ptr<QueryExecutor> executor_;
  shm::AccessReporter reporter_;  // this reader's Gets, to the projector's cache filler
  std::optional<shm::ControlBlock> control_;
  int slot_index_ = 0;
  store::Txn snapshot_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
  std::vector<Slot*> waiting_;
  std::uint64_t waiting_bytes_ = 0;  // sum of parked_bytes over waiting_
  std::uint64_t next_models_look_ns_ = 0;
  std::vector<Slot*> fresh_;
  wire::NestedFrameBuilder batch_reply_;
  std::size_t batch_dropped_ = 0;  // batch reply frames of the batch in hand that were dropped
  wire::InboundMessage reply_envelope_;  // a copy of a batch's envelope, for one of its frames
  std::string member_tenant_;
  wire::AlignedBuffer member_buffer_;  // a batch's query that came unaligned
  zmq::socket_t router_;
  zmq::socket_t tick_sub_;
  std::string endpoint_;
};

}  // namespace cqrs::reader
