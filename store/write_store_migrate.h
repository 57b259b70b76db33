// Migrating a write store of format 1 (one LMDB environment at <data>/write holding entities,
// events and idempotency records by tenant) to the current format: the events (each stamped
// with event format 1), the namespace ids, the counters and the idempotency records are copied
// into a new log; the entity state is not copied (the writer derives it from the log when it
// starts). The store keeps its store_id, so the read store and its subscribers carry on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/status.h"

namespace cqrs::store {

struct MigrationResult {
  std::uint64_t events = 0;
  std::uint64_t clients = 0;  // idempotency records carried over
  std::uint64_t replies = 0;
  std::string kept;  // where the format-1 store now is: <data>/write.format1
};

// Migrates <data_dir>/write. Format 1 had no principal in its records: they are carried over
// under the anonymous principal, which is exactly right with security off; with security on
// they are never matched again (clients resending across the upgrade are treated as new) and
// expire. Unavailable if <data>/write is not a format-1 store, or <data>/write.format1 exists.
// The new log is fsynced before the directories are exchanged (old → write.format1, new →
// write); a crash before that leaves the old store in place and <data>/write.migrating, which
// the next run removes. The writer must not run (the caller holds its instance lock).
// `progress` (may be empty) is called every 100,000 events with the count so far.
Result<MigrationResult> MigrateWriteStoreFormat1(
    const std::string& data_dir, const std::function<void(std::uint64_t)>& progress);

}  // namespace cqrs::store
