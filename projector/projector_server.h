// ProjectorServer: the cqrs-projector process's loop. Woken by the writer's commit tick (and a
// timer), it reads new events from the write store's log through short read snapshots, applies them
// to the read store with its checkpoint in the same transaction (exactly once across crashes), then
// publishes each event on PUB, ticks the readers and heartbeats. Its ReplayServer answers replay
// requests from the log, never past what the read store has applied.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/config.h"
#include "base/log.h"
#include "base/status.h"
#include "projector/cache_filler.h"
#include "projector/event_applier.h"
#include "projector/event_source.h"
#include "projector/replay_server.h"
#include "security/server_security.h"
#include "shm/control_block.h"
#include "store/log_holds.h"
#include "store/read_store.h"
#include "store/write_store.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"
#include "wire/zmq_util.h"

namespace cqrs::projector {

struct ProjectorOptions {
  bool serve = true;     // bind the events, replay and tick endpoints
  std::string read_dir;  // empty: <data>/read
};

// Not thread-safe: Run() on one thread.
class ProjectorServer {
 public:
  // Opens <data>/write read-only (Unavailable while it does not exist yet) and the read store,
  // checks that the read store follows this write store, and binds the endpoints.
  static Result<std::unique_ptr<ProjectorServer>> Open(const Config& config,
                                                       zmq::context_t& context,
                                                       const ProjectorOptions& options);
  ~ProjectorServer();

  // Serves until `stop` becomes true.
  void Run(const std::atomic<bool>& stop);

  // Applies (and, when serving, publishes) every committed event not yet applied. Returns how
  // many; an error only for a failure that stops the projector (corrupt log, store error).
  Result<std::uint64_t> CatchUp();

  std::uint64_t applied_seq() const { return applied_seq_; }
  // True while a rebuild runs in the background (cqrs rebuild, or changed read models).
  bool rebuilding() const { return rebuild_ != nullptr; }
  const std::string& events_endpoint() const { return events_endpoint_; }
  const std::string& replay_endpoint() const { return replay_.endpoint(); }

 private:
  ProjectorServer(const Config& config, zmq::context_t& context);
  Status Init(const ProjectorOptions& options);
  Status ApplyBatch(std::size_t count);
  // The hot cache after a batch's commit, before its applied seq is published: each event's
  // entity record, as of the event's seq (a delete clears the key's slot).
  void UpdateCache(std::size_t count);
  // Empties the hot cache (start, and a switch to a rebuilt store): repairs slots a killed
  // projector left mid-write, and drops entries whose as_of no longer matches the store.
  void ClearCache();
  // Drains the readers' access reports and fills the keys they missed (read-hot cache).
  void FillCache();
  void PublishBatch(std::size_t count);
  void PublishHeartbeat();
  void PublishTick();
  // Binds the events socket (CURVE and XPUB_MANUAL with security on).
  // Seeds the read store from the newest state checkpoint when the log no longer holds the
  // events after applied_seq_ (projector/rebuild.h SeedFromCheckpoint).
  Status SeedStoreIfPassed();
  Status BindEvents(const std::string& endpoint);
  // Security on: applies the subscriptions the events XPUB received that their sender's
  // principal may have (Principal::AllowsTopic); refuses the rest.
  void AdmitSubscriptions();
  // Security on, after SIGHUP: reloads the principals; if one lost access, rebinds the events
  // socket so that every subscriber is admitted again.
  Status ReloadSecurity();
  void CheckReaders();
  // Rebuild: starts one in a background thread when asked (shm rebuild_requests) or when the
  // store's read models differ from the config's; once the thread has caught up with the log,
  // brings the new store up to the live one and switches <data>/read to it between batches.
  void MaybeStartRebuild();
  Status StartRebuild(std::uint64_t serves_request);
  Status FinishRebuild();
  Status OpenLiveStore(const std::string& dir);
  void RemoveOldStores();

  Config config_;
  zmq::context_t& context_;
  bool serve_ = true;
  std::unique_ptr<store::WriteStore> write_;
  std::unique_ptr<EventSource> source_;  // the events to apply: the log above
  std::unique_ptr<store::ReadStore> read_;
  std::unique_ptr<EventApplier> applier_;
  std::string read_dir_;
  std::vector<CollectionSpec> store_models_;  // the read models read_ was built with
  bool models_changed_ = false;               // store_models_ differ from the config's
  struct Rebuild;
  std::unique_ptr<Rebuild> rebuild_;
  std::optional<shm::ControlBlock> control_;
  // "projector" (serving only): the log keeps the events after applied_seq_.
  store::LogHold hold_;
  std::optional<CacheFiller> filler_;  // the cache is on and fills what readers missed
  std::unique_ptr<security::ServerSecurity> security_;  // null: security off
  std::uint64_t subscriptions_refused_ = 0;
  LogLimiter refusal_log_;
  LogLimiter fill_log_;
  std::uint64_t applied_seq_ = 0;

  // A read snapshot of the log, reset between uses and renewed: its reader slot is taken once,
  // not per batch.
  store::Txn log_snapshot_;
  std::vector<wire::AlignedBuffer> batch_;  // event copies of the current batch
  std::string topic_;
  wire::EventBatchBuilder batch_builder_;
  shm::CacheKey cache_key_;
  std::vector<FieldView> cache_fields_;
  store::RecordBuilder cache_record_;

  zmq::socket_t tick_sub_;
  zmq::socket_t events_pub_;
  ReplayServer replay_;
  zmq::socket_t tick_pub_;
  std::string events_endpoint_;
};

}  // namespace cqrs::projector
