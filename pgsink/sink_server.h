// SinkServer: the loop of cqrs-pgsink. It reads the event log (through short read snapshots, as
// the projector does) and applies it to the declared PostgreSQL tables, one PostgreSQL
// transaction per batch of log events.
//
// Exactly once: a batch's upserts and deletes and the advance of the sink's checkpoint row
// (cqrs_checkpoint, name = [postgresql] name) commit together, the advance fenced on the seq the
// batch started from (UPDATE ... WHERE seq = <old>). A crash anywhere leaves either the whole
// batch with its checkpoint or neither; after any doubt (a lost connection, a commit whose
// outcome was not heard) the sink reconnects and reads the checkpoint again. Two sinks of one
// name exclude each other with a PostgreSQL advisory lock (the second waits), and the fence
// stops one that lost it from applying anything.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/config.h"
#include "base/retry.h"
#include "base/status.h"
#include "pgsink/table_batch.h"
#include "projector/event_source.h"
#include "shm/control_block.h"
#include "store/log_holds.h"
#include "store/write_store.h"
#include "wire/aligned_buffer.h"

namespace cqrs::pgsink {

class SinkServer {
 public:
  // Opens the write store (read-only) and the control block, and connects to the writer's tick.
  // PostgreSQL is reached in Run (and again after every loss).
  static Result<std::unique_ptr<SinkServer>> Open(const Config& config, zmq::context_t& context);

  // Applies until `stop`. Returns an error that retrying cannot mend (tables of another log, a
  // checkpoint past the log's end, a table the config changed beyond what migrates online).
  Status Run(const std::atomic<bool>& stop);

  std::uint64_t applied_seq() const { return checkpoint_; }

 private:
  SinkServer(const Config& config, zmq::context_t& context);
  Status Init();
  // Connects, takes the sink's lock, creates or migrates the tables, prepares the statements,
  // reads the checkpoint and sets up a rebuild if one is due. Unavailable while PostgreSQL cannot
  // be reached or another sink of this name holds the lock. Leaves no connection on failure.
  Status Connect();
  Status ConnectOnce();
  // Shadow tables for the declared tables `tables` (indexes into the config's), resumed at
  // `at_seq` when they are there as declared, else made afresh; none: a stale rebuild dropped.
  Status SetUpRebuild(const std::vector<std::size_t>& tables, std::optional<std::int64_t> at_seq);
  // Reads the next batch of the log after the checkpoint and applies it. Returns the number of
  // log events it covered (0: none committed yet).
  Result<std::size_t> ApplyNext();
  // The rebuild's next batch (never past the live checkpoint); once level with it, the swap.
  Result<std::size_t> RebuildNext();
  // Applies the log's events after `after` (at most `max_events`) to `tables` with their
  // prepared statements, and the fenced `advance` statement moving *seq, in one transaction.
  Result<std::size_t> ApplyRange(std::uint64_t after, std::size_t max_events,
                                 std::vector<TableBatch>& tables, const char* advance,
                                 std::uint64_t* seq);
  // The log no longer holds the events after `after` (retention removed them): fills `tables`
  // from the newest state checkpoint instead, in one transaction that empties them, upserts
  // every live entity of their collections as of its seq S (kSeedRows rows per statement) and
  // moves *seq from `after` to S with the fenced `advance`. Returns the entities written.
  Result<std::size_t> SeedTables(std::uint64_t after, std::vector<TableBatch>& tables,
                                 const char* advance, std::uint64_t* seq);
  // The fenced `advance` statement (within `w`): moves the checkpoint from `after` to `to`;
  // Unavailable (the transaction aborted, the connection dropped) if it was not at `after`.
  Status Advance(pqxx::work& w, const char* advance, std::uint64_t after, std::uint64_t to);
  // Parks rejected_ in cqrs_rejected (within `w`).
  void ExecRejects(pqxx::work& w);
  // Looks (once a second) whether `cqrs pg rebuild` asked for a rebuild; reconnects to start it.
  Status CheckRebuildRequest();
  void Exec(const std::string& sql);
  void Beat();

  Config config_;
  zmq::context_t& context_;
  std::unique_ptr<projector::LocalLogTail> log_;
  std::optional<shm::ControlBlock> control_;
  // "pgsink": the log keeps what PostgreSQL has not committed yet (a table rebuild included).
  store::LogHold hold_;
  std::unique_ptr<pqxx::connection> db_;
  std::uint64_t checkpoint_ = 0;
  std::uint64_t rejected_total_ = 0;
  std::vector<wire::AlignedBuffer> events_;
  std::vector<PgTableSpec> live_specs_;  // the tables as they are (TablePlan::live)
  std::vector<TableBatch> tables_;       // over live_specs_, as config_.postgresql.tables
  // A rebuild: shadow tables of the declared ones in rebuild_index_, at rebuild_seq_.
  bool rebuilding_ = false;
  std::uint64_t rebuild_seq_ = 0;
  std::vector<std::size_t> rebuild_index_;
  std::vector<PgTableSpec> rebuild_specs_;
  std::vector<TableBatch> rebuild_batches_;
  std::chrono::steady_clock::time_point next_request_check_;
  // The batch collapsed to each key's last event: (table, tenant, key, index in events_).
  struct Touch {
    std::uint32_t table;
    std::string_view tenant, key;
    std::uint32_t event;
  };
  std::vector<Touch> touches_;
  std::vector<const fb::Event*> verified_;
  std::vector<Rejection> rejected_;
  Retry retry_;
};

}  // namespace cqrs::pgsink
