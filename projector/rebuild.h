// Rebuilding a read store from the event log: the bulk apply used by `cqrs rebuild` (and by a
// projector whose declared read models changed) to build a fresh store next to the live one,
// and by the projector to bring it up to date before switching to it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "projector/derive_read_models.h"
#include "projector/event_applier.h"
#include "store/log_holds.h"
#include "store/read_store.h"
#include "store/write_store.h"

namespace cqrs::projector {

// Applies the log's events from `store`'s checkpoint + 1 through `to_seq` (or the log's end,
// whichever comes first) to `store`, `events_per_txn` per transaction, growing the map as
// needed. Stops early (OK) when `cancel` becomes true. `progress(applied_seq)` after each commit.
// Thread-compatible: one call per store at a time; the write store may be shared.
Result<std::uint64_t> ApplyLog(store::WriteStore& log, store::ReadStore& store,
                               EventApplier& applier, std::uint64_t to_seq,
                               std::size_t events_per_txn, const std::atomic<bool>& cancel,
                               const std::function<void(std::uint64_t)>& progress);

// Events per transaction of a rebuild (about 40 MB of memory): large, since a transaction copies
// each page it touches once however often it touches it, random keys touch most leaves of the
// entities tree, and the first window of a rebuild is appended.
inline constexpr std::size_t kRebuildEventsPerTxn = 1'000'000;

// A rebuild's first pass: applies the events after `store`'s checkpoint through `to_seq` (or the
// log's end) to entities and collection logs only, no read models, in windows of up to
// `events_per_txn` events per transaction: a window's events are sorted by key and only each
// key's last event is written, in key order (MDB_APPEND into an empty store).
// `progress(applied_seq)` after each commit. Stops early (OK) when `cancel` is set.
Result<std::uint64_t> BulkApplyLog(store::WriteStore& log, store::ReadStore& store,
                                   std::uint64_t to_seq, std::size_t events_per_txn,
                                   const std::atomic<bool>& cancel,
                                   const std::function<void(std::uint64_t)>& progress);

// Fills the empty read store `store` with the entities of the newest state checkpoint of `log`
// that verifies (store/state_checkpoint.h: every entity as of its seq S) and sets its checkpoint
// to S, so that applying the log after S completes it; no read models (DeriveReadModels then).
// For a log whose first events retention removed: a new read store, a rebuild. `hold` is set
// to S before the log is checked to still hold S + 1 (a checkpoint it passed meanwhile is
// skipped for a newer one). Returns S. OutOfRange when no checkpoint can serve; whatever the
// store held is cleared first (a seed cut short by a crash is done again).
Result<std::uint64_t> SeedFromCheckpoint(store::WriteStore& log, store::ReadStore& store,
                                         store::LogHold& hold);

// For a store at `applied_seq`: sets `hold` there (before the log is looked at, so retention
// cannot pass it meanwhile), and when the log no longer holds every event after it (retention
// removed some) seeds the store with SeedFromCheckpoint. Returns the checkpoint's seq, the
// store's new applied seq; nullopt when the log still holds everything (nothing done).
Result<std::optional<std::uint64_t>> SeedIfPassed(store::WriteStore& log, store::ReadStore& store,
                                                  std::uint64_t applied_seq, store::LogHold& hold);

// A read store being built in `dir` (created empty; whatever was there is removed first);
// `applier` is set by BuildRebuildTarget, for the tail.
struct RebuildTarget {
  std::string dir;
  std::unique_ptr<store::ReadStore> store;
  std::unique_ptr<EventApplier> applier;
  store::LogHold hold;  // temporary: the log keeps what the target has not applied yet
};
Result<RebuildTarget> CreateRebuildTarget(const std::string& dir, const Config& config,
                                          const std::string& write_store_id);

// Fills a new target through `to_seq`: seeded from the newest state checkpoint when retention
// removed the log's first events (SeedFromCheckpoint), then BulkApplyLog (no read models: many
// events of a long log are overwritten later, and maintaining indexes per event costs several
// B-tree operations each), then DeriveReadModels; then sets `target.applier` to one that maintains
// `models` (which must outlive it) for the tail. False if cancelled.
Result<bool> BuildRebuildTarget(store::WriteStore& log, RebuildTarget& target,
                                const std::vector<CollectionSpec>& models, std::uint64_t to_seq,
                                const std::atomic<bool>& cancel,
                                const std::function<void(std::uint64_t)>& progress);

}  // namespace cqrs::projector
