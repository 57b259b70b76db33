// Log holds: what each consumer of the event log still needs, so that retention
// (writer/log_retention.h) never removes an event one of them has not consumed durably. Like a
// PostgreSQL replication slot, a hold outlives its process: a consumer that is stopped keeps the
// log from the seq it stopped at until it returns or the hold is released (`cqrs log release`).
//
//   <data>/write/holds/<name>   "cqrs-log-hold 1\nseq N\n": the consumer has durably consumed
//                               every event through N and needs the events after it
//
// Names: "projector", "mirror", "pgsink", and "rebuild-<pid>" while a rebuild reads the log.
// A hold is replaced by writing a temp file and renaming it over the old one, not fsynced: a
// machine crash may leave the previous hold (lower: safe) or an unreadable file, which counts as
// seq 0 and holds the whole log until the consumer writes it again.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/status.h"

namespace cqrs::store {

// <data>/write/holds
std::string LogHoldsDir(const std::string& data_dir);

struct LogHoldEntry {
  std::string name;
  std::uint64_t seq = 0;  // consumed through; 0 also for an unreadable file
  std::string problem;    // non-empty: why the file could not be read
};

// Every hold in `data_dir`, by name. A missing directory is no holds. A temporary hold whose
// process is gone is removed, not listed.
std::vector<LogHoldEntry> ListLogHolds(const std::string& data_dir);

// InvalidArgument unless `name` is [a-z0-9-]{1,64}.
Status CheckLogHoldName(const std::string& name);

// The first seq retention (writer/log_retention.h) must keep, and what sets it.
struct LogFloor {
  std::uint64_t seq = 1;
  std::string holder;  // "hold projector", "state checkpoint", "keep_events", "the last event", ...
};

// The floor for a log ending at `last_seq` (0: empty) under `policy`, with these holds and the
// newest durable state checkpoint at `checkpoint_seq` (0: none, which holds everything): the
// lowest of each hold's seq + 1, checkpoint_seq + 1, last_seq - keep_events + 1 and last_seq.
// No rule set in `policy`: 1.
LogFloor ComputeLogFloor(const LogConfig& policy, std::uint64_t last_seq,
                         std::uint64_t checkpoint_seq, const std::vector<LogHoldEntry>& holds);

// NotFound if there is no such hold.
Status ReleaseLogHold(const std::string& data_dir, const std::string& name);

// One consumer's hold. Set() rewrites the file at most once per `period` (and whenever the seq
// is lower than the one written: a hold may only be raised lazily), Flush() at once.
class LogHold {
 public:
  LogHold() = default;
  LogHold(std::string data_dir, std::string name,
          std::chrono::milliseconds period = std::chrono::milliseconds(1000))
      : dir_(LogHoldsDir(data_dir)), name_(std::move(name)), period_(period) {}
  // A temporary hold, "rebuild-<pid>", removed when the object goes (and, should the process
  // die first, by ListLogHolds once no process has that pid).
  static LogHold Temporary(const std::string& data_dir);
  LogHold(LogHold&& other) noexcept { *this = std::move(other); }
  LogHold& operator=(LogHold&& other) noexcept;
  LogHold(const LogHold&) = delete;
  LogHold& operator=(const LogHold&) = delete;
  ~LogHold();

  bool active() const { return !name_.empty(); }
  // Records that everything through `seq` is consumed durably. A file that cannot be written
  // is logged (a warning per period); the old hold stays, which keeps more.
  void Set(std::uint64_t seq);
  // Writes the file now. Unavailable naming the file if it cannot.
  Status Flush();
  // Removes the file (a temporary hold, such as a rebuild's, when it is done).
  void Release();
  std::uint64_t written() const { return written_; }

 private:
  std::string dir_;
  std::string name_;
  std::chrono::milliseconds period_{1000};
  std::uint64_t seq_ = 0;
  std::uint64_t written_ = UINT64_MAX;  // none yet
  std::chrono::steady_clock::time_point last_write_{};
  bool failed_ = false;  // the last write failed: retried once per period
  bool temporary_ = false;
};

}  // namespace cqrs::store
