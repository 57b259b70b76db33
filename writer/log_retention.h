// Retention of the event log: removes events from the front in small steps on the writer thread,
// between batches, each step one short write transaction of the log (committed like a batch,
// fsynced in sync mode) that also moves meta.first_seq. LMDB reuses the freed pages for new
// events once no read snapshot still sees them, so under a steady load the file stops growing.
//
// An event is removed only below the floor: the lowest of
//   - every log hold's seq + 1 (store/log_holds.h: the projector, the mirror, a PostgreSQL sink,
//     a rebuild in progress; a stopped consumer's hold stays),
//   - the newest durable state checkpoint's seq + 1 (a rebuild, a new read store and the
//     writer's own recovery start from it and need every event after it),
//   - last_seq - keep_events + 1 (when keep_events is set),
//   - last_seq (the last event is never removed: it proves meta.last_seq),
// and only when it is older than `keep` (when set). No rule set: nothing is removed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "store/log_holds.h"
#include "store/write_store.h"
#include "wire/aligned_buffer.h"

namespace cqrs::writer {

struct RetentionStats {
  std::uint64_t removed = 0;  // events removed since start
  std::uint64_t steps = 0;    // transactions that removed some
  std::uint64_t first_seq = 1;
  store::LogFloor floor;
};

// Not thread-safe: the writer thread, between batches (it begins its own write transaction).
class LogRetention {
 public:
  LogRetention(store::WriteStore& log, std::string data_dir, const LogConfig& policy)
      : log_(log), data_dir_(std::move(data_dir)), policy_(policy) {}

  // One step: recomputes the floor, then removes up to policy.step_events events below it that
  // the age rule allows, in one committed transaction. `*more` when it stopped at the step bound
  // (another step is due soon). `now_ns`: wall clock, for the age rule.
  Status Step(std::uint64_t now_ns, std::uint64_t checkpoint_seq, bool* more);

  const RetentionStats& stats() const { return stats_; }

 private:
  store::WriteStore& log_;
  std::string data_dir_;
  LogConfig policy_;
  std::vector<std::string> doomed_;
  wire::AlignedBuffer event_;
  RetentionStats stats_;
};

}  // namespace cqrs::writer
