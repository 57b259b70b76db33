// Rebuilding a read store from the event log: the bulk apply used by `cqrs rebuild` (and by a
// projector whose declared read models changed) to build a fresh store next to the live one,
// and by the projector to bring it up to date before switching to it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/config.h"
#include "base/status.h"
#include "projector/event_applier.h"
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

// A read store being built in `dir` (created empty; whatever was there is removed first).
struct RebuildTarget {
  std::string dir;
  std::unique_ptr<store::ReadStore> store;
  std::unique_ptr<EventApplier> applier;
};
Result<RebuildTarget> CreateRebuildTarget(const std::string& dir, const Config& config,
                                          const std::string& write_store_id);

}  // namespace cqrs::projector
