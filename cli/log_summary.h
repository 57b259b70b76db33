// What `cqrs log status` and `cqrs stats` say about the event log: where it starts and ends, its
// file's size, the retention policy, the floor retention may not pass and what holds it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "store/log_holds.h"
#include "store/write_store.h"

namespace cqrs::cli {

struct LogSummary {
  std::uint64_t first_seq = 1, last_seq = 0;
  std::uint64_t file_bytes = 0;      // data.mdb on disk
  std::uint64_t checkpoint_seq = 0;  // the newest state checkpoint (0: none)
  std::string checkpoint_path;
  store::LogFloor floor;
  std::vector<store::LogHoldEntry> holds;
};

// Reads `log` (opened read-only) and the files beside it.
Result<LogSummary> SummarizeLog(store::WriteStore& log, const Config& config);

// The policy as configured: "keep 7d, keep_events 1000000", or "keep everything".
std::string RetentionPolicyText(const LogConfig& policy);

// Lines for a terminal (each ends in '\n'), and one JSON object.
std::string RenderLogText(const LogSummary& s, const LogConfig& policy);
std::string RenderLogJson(const LogSummary& s, const LogConfig& policy);

}  // namespace cqrs::cli
