// Log holds: small files, one per consumer of the event log.
#include "store/log_holds.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "base/files.h"
#include "base/log.h"

namespace cqrs::store {
namespace {

constexpr std::string_view kHeader = "cqrs-log-hold 1\n";
constexpr std::string_view kTemporaryPrefix = "rebuild-";

// The seq of a hold file's text; false if it is not one.
bool ParseHold(std::string_view text, std::uint64_t* seq) {
  if (!text.starts_with(kHeader)) return false;
  text.remove_prefix(kHeader.size());
  if (!text.starts_with("seq ") || !text.ends_with("\n")) return false;
  text = text.substr(4, text.size() - 5);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *seq);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string LogHoldsDir(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "write" / "holds").string();
}

Status CheckLogHoldName(const std::string& name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      });
  if (!ok) return Error(Code::kInvalidArgument, "hold name '{}' is not [a-z0-9-]{{1,64}}", name);
  return OkStatus();
}

std::vector<LogHoldEntry> ListLogHolds(const std::string& data_dir) {
  std::vector<LogHoldEntry> holds;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(LogHoldsDir(data_dir), ec)) {
    const std::string name = entry.path().filename().string();
    if (!CheckLogHoldName(name).ok()) continue;  // temp files ("<name>.tmp") and strangers
    if (name.starts_with(kTemporaryPrefix)) {
      const std::string pid = name.substr(kTemporaryPrefix.size());
      if (!std::filesystem::exists("/proc/" + pid, ec)) {  // its process died: stale
        std::filesystem::remove(entry.path(), ec);
        continue;
      }
    }
    LogHoldEntry h;
    h.name = name;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in || !ParseHold(text.str(), &h.seq)) {
      h.seq = 0;
      h.problem = "unreadable (holds the whole log until its consumer writes it again)";
    }
    holds.push_back(std::move(h));
  }
  std::sort(holds.begin(), holds.end(),
            [](const LogHoldEntry& a, const LogHoldEntry& b) { return a.name < b.name; });
  return holds;
}

LogFloor ComputeLogFloor(const LogConfig& policy, std::uint64_t last_seq,
                         std::uint64_t checkpoint_seq, const std::vector<LogHoldEntry>& holds) {
  LogFloor floor;
  floor.seq = std::max<std::uint64_t>(last_seq, 1);
  floor.holder = "the last event";
  auto lower = [&](std::uint64_t seq, std::string holder) {
    if (seq < floor.seq) {
      floor.seq = seq;
      floor.holder = std::move(holder);
    }
  };
  if (!policy.retains()) lower(1, "no [log] keep or keep_events set");
  if (policy.keep_events > 0)
    lower(last_seq >= policy.keep_events ? last_seq - policy.keep_events + 1 : 1, "keep_events");
  lower(checkpoint_seq + 1, checkpoint_seq == 0 ? "no state checkpoint yet" : "state checkpoint");
  for (const LogHoldEntry& h : holds) lower(h.seq + 1, "hold " + h.name);
  return floor;
}

Status ReleaseLogHold(const std::string& data_dir, const std::string& name) {
  CQRS_RETURN_IF_ERROR(CheckLogHoldName(name));
  const std::filesystem::path path = std::filesystem::path(LogHoldsDir(data_dir)) / name;
  std::error_code ec;
  if (!std::filesystem::remove(path, ec)) {
    if (ec) return Error(Code::kUnavailable, "cannot remove {}: {}", path.string(), ec.message());
    return Error(Code::kNotFound, "no log hold named '{}' in {}", name, LogHoldsDir(data_dir));
  }
  return OkStatus();
}

LogHold LogHold::Temporary(const std::string& data_dir) {
  LogHold hold(data_dir, std::string(kTemporaryPrefix) + std::to_string(::getpid()));
  hold.temporary_ = true;
  return hold;
}

LogHold& LogHold::operator=(LogHold&& other) noexcept {
  if (this == &other) return *this;
  if (temporary_) Release();
  dir_ = std::move(other.dir_);
  name_ = std::exchange(other.name_, std::string());
  period_ = other.period_;
  seq_ = other.seq_;
  written_ = other.written_;
  last_write_ = other.last_write_;
  failed_ = other.failed_;
  temporary_ = std::exchange(other.temporary_, false);
  return *this;
}

LogHold::~LogHold() {
  if (temporary_) Release();
}

void LogHold::Set(std::uint64_t seq) {
  seq_ = seq;
  if (seq == written_ || name_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  if (written_ != UINT64_MAX && (seq > written_ || failed_) && now - last_write_ < period_) return;
  Status s = Flush();
  failed_ = !s.ok();
  if (failed_) {
    last_write_ = now;
    spdlog::warn("log hold '{}': {}", name_, s.ToString());
  }
}

Status LogHold::Flush() {
  if (name_.empty()) return OkStatus();
  CQRS_RETURN_IF_ERROR(CreatePrivateDirectories(dir_));
  const std::string path = dir_ + "/" + name_, tmp = path + ".tmp";
  char text[64];
  const int n = std::snprintf(text, sizeof text, "cqrs-log-hold 1\nseq %llu\n",
                              static_cast<unsigned long long>(seq_));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Code::kUnavailable, "cannot write {}: {}", tmp, std::strerror(errno));
  const bool wrote = ::write(fd, text, static_cast<std::size_t>(n)) == n;
  const int saved = errno;
  ::close(fd);
  if (!wrote || ::rename(tmp.c_str(), path.c_str()) != 0)
    return Error(Code::kUnavailable, "cannot write {}: {}", path,
                 std::strerror(wrote ? errno : saved));
  written_ = seq_;
  last_write_ = std::chrono::steady_clock::now();
  return OkStatus();
}

void LogHold::Release() {
  if (name_.empty()) return;
  std::error_code ec;
  std::filesystem::remove(dir_ + "/" + name_, ec);
  name_.clear();
}

}  // namespace cqrs::store
