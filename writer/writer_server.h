// WriterServer: the cqrs-writer process's loop. One thread owns the ROUTER socket, the write
// store and its only write transaction: drain what is waiting (up to the batch bound; each
// request of a CommandBatch frame counts as one), commit it as one transaction, reply to every
// request (one frame per frame received), then tick the projector with the committed seq.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "base/config.h"
#include "base/log.h"
#include "base/status.h"
#include "shm/control_block.h"
#include "store/state_checkpoint.h"
#include "store/state_store.h"
#include "store/write_store.h"
#include "wire/aligned_buffer.h"
#include "wire/batch_codec.h"
#include "wire/zmq_util.h"
#include "writer/authorizer.h"
#include "writer/batch_committer.h"
#include "writer/client_expiry.h"
#include "writer/log_retention.h"

namespace cqrs::writer {

struct WriterCounters {
  std::uint64_t replies_dropped = 0;  // peer gone or its pipe full; the reply stays remembered
  std::uint64_t max_batch = 0;
  std::uint64_t shed = 0;  // answered ResourceExhausted unapplied: overload
};

// Not thread-safe: Run() on one thread; Stop() may be called from a signal handler through the
// atomic flag passed to Run().
class WriterServer {
 public:
  // Opens <data>/write (the log, then the entity state, which it brings up to the log before
  // anything is bound) and binds the command endpoint and the tick endpoint. Unavailable if a
  // store cannot be opened or an endpoint cannot be bound. With security on, the command
  // endpoint is CURVE + ZAP and must pass its self-test (Internal otherwise).
  static Result<std::unique_ptr<WriterServer>> Open(const Config& config, zmq::context_t& context);
  ~WriterServer();

  // Serves until `stop` becomes true, then finishes the batch in hand, replies, and returns.
  void Run(const std::atomic<bool>& stop);

  // Endpoints as bound (a wildcard port resolved).
  const std::string& endpoint() const { return endpoint_; }
  const std::string& tick_endpoint() const { return tick_endpoint_; }
  std::uint64_t committed_seq() const { return committer_->committed_seq(); }
  const BatchStats& batch_stats() const { return committer_->stats(); }
  const WriterCounters& counters() const { return counters_; }

 private:
  // One message: a CommandRequest (`item`), or a CommandBatch whose requests are `nested`
  // (the first nested_count of them), each a BatchItem of its own.
  struct Slot {
    wire::InboundMessage message;
    wire::AlignedBuffer buffer;
    BatchItem item;
    bool batch = false;
    Status batch_refusal;  // the CommandBatch as a whole (answered by one CommandReply)
    std::vector<BatchItem> nested;
    std::vector<wire::AlignedBuffer> nested_copies;  // for nested frames that came unaligned
    std::size_t nested_count = 0;
    std::uint64_t received_ns = 0;  // for the latency histogram
  };

  WriterServer(const Config& config, zmq::context_t& context);
  // Receives up to the batch bound, commits, replies. False if nothing was waiting.
  bool ProcessBatch();
  void PublishTick(std::uint64_t seq);
  // Takes the slot's message in as BatchItems in batch_ (one, or a CommandBatch's; none for a
  // CommandBatch refused as a whole).
  void Admit(Slot& slot);
  // Sends the slot's replies (one frame: a CommandReply or a CommandBatchReply); false if the
  // peer is gone or its pipe full.
  bool SendReplies(Slot& slot);
  // Answers a CommandBatch refused as a whole with one CommandReply (request_id 0).
  bool RefuseWhole(wire::InboundMessage& message, const Status& why);
  // Answers up to `max` waiting requests with ResourceExhausted, unapplied (overload).
  void ShedWaiting(std::size_t max);
  void CheckReaders();
  // One step of client expiry when it is due; returns when the next one is.
  std::chrono::steady_clock::time_point SweepClients();
  // Starts a checkpoint of the state in the background when one is due, and collects a
  // finished one. `wait`: join a running one first (at stop).
  void CheckpointIfDue(bool wait);
  // One retention step when one is due; returns when the next one is.
  std::chrono::steady_clock::time_point RetainLog();

  Config config_;
  std::unique_ptr<store::WriteStore> store_;  // the event log
  std::unique_ptr<store::StateStore> state_;  // before committer_: it commits into the state
  std::unique_ptr<security::ServerSecurity> security_;  // null: security off
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<BatchCommitter> committer_;
  std::unique_ptr<ClientSweeper> sweeper_;
  std::string checkpoints_dir_;
  std::thread checkpoint_thread_;
  std::atomic<bool> checkpoint_finished_{false};
  Result<store::StateCheckpoint> checkpoint_result_{Status(Code::kUnavailable, "none yet")};
  std::uint64_t last_checkpoint_seq_ = 0;
  // The newest state checkpoint known whole (verified at open, or written by this process):
  // retention keeps every event after it. 0: none.
  std::uint64_t durable_checkpoint_seq_ = 0;
  std::unique_ptr<LogRetention> retention_;   // null: no [log] rule set
  LogLimiter retention_log_{10'000'000'000};  // a progress line at most every 10 s
  std::chrono::steady_clock::time_point last_checkpoint_time_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point checkpoint_retry_at_{};
  std::chrono::seconds checkpoint_retry_delay_{0};  // 0 after a success, then 1, 2, 4 .. 60 s
  zmq::socket_t router_;
  zmq::socket_t tick_;
  std::string endpoint_;
  std::string tick_endpoint_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::size_t slots_used_ = 0;  // messages in the batch in hand
  std::vector<BatchItem*> batch_;
  wire::NestedFrameBuilder batch_reply_;
  // A CommandBatch holds at most this many requests (docs/PROTOCOL.md, "Batched commands").
  static constexpr std::uint32_t kMaxBatchRequests = 1024;
  Slot shed_;  // scratch for ShedWaiting
  wire::AlignedBuffer shed_copy_;
  wire::CommandDecoder shed_decoder_;
  flatbuffers::FlatBufferBuilder shed_fbb_{256};
  LogLimiter shed_log_;
  std::uint64_t last_tick_seq_ = 0;
  WriterCounters counters_;
  std::optional<shm::ControlBlock> control_;
};

}  // namespace cqrs::writer
