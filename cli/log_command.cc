// `cqrs log status` and `cqrs log release`: the event log's retention as an operator sees it.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>

#include "base/json.h"
#include "cli/commands.h"
#include "cli/log_summary.h"
#include "store/state_checkpoint.h"

namespace cqrs::cli {
namespace {

std::string Quoted(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

}  // namespace

Result<LogSummary> SummarizeLog(store::WriteStore& log, const Config& config) {
  LogSummary s;
  auto snapshot = store::Txn::BeginRead(log.env());
  if (!snapshot.ok()) return snapshot.status();
  auto first = log.FirstSeq(snapshot.value());
  if (!first.ok()) return first.status();
  auto last = log.LastSeq(snapshot.value());
  if (!last.ok()) return last.status();
  snapshot->Abort();
  s.first_seq = first.value();
  s.last_seq = last.value();
  std::error_code ec;
  s.file_bytes = std::filesystem::file_size(log.log_dir() + "/data.mdb", ec);
  const auto checkpoints = store::ListStateCheckpoints(log.checkpoints_dir(), false);
  if (!checkpoints.empty()) {
    s.checkpoint_seq = checkpoints.front().seq;
    s.checkpoint_path = checkpoints.front().path;
  }
  s.holds = store::ListLogHolds(config.data_dir);
  s.floor = store::ComputeLogFloor(config.log, s.last_seq, s.checkpoint_seq, s.holds);
  return s;
}

std::string RetentionPolicyText(const LogConfig& policy) {
  if (!policy.retains()) return "keep everything (no [log] keep or keep_events)";
  std::string out;
  if (!policy.keep.empty()) out = "keep " + policy.keep;
  if (policy.keep_events > 0)
    out += fmt::format("{}keep_events {}", out.empty() ? "" : ", ", policy.keep_events);
  return out;
}

std::string RenderLogText(const LogSummary& s, const LogConfig& policy) {
  const std::uint64_t events = s.last_seq >= s.first_seq ? s.last_seq - s.first_seq + 1 : 0;
  std::string out = fmt::format(
      "log       first seq {}  last seq {}  {} events  file {:.1f} MiB\n"
      "retention {}; floor {} (held by {})\n",
      s.first_seq, s.last_seq, events, static_cast<double>(s.file_bytes) / (1 << 20),
      RetentionPolicyText(policy), s.floor.seq, s.floor.holder);
  if (!s.holds.empty()) {
    out += "holds    ";
    for (const store::LogHoldEntry& h : s.holds)
      out += fmt::format(" {} {}{}", h.name, h.seq, h.problem.empty() ? "" : " (unreadable)");
    out += "\n";
  }
  return out;
}

std::string RenderLogJson(const LogSummary& s, const LogConfig& policy) {
  std::string holds;
  for (const store::LogHoldEntry& h : s.holds)
    holds += fmt::format("{}{{\"name\":{},\"seq\":{},\"readable\":{}}}", holds.empty() ? "" : ",",
                         Quoted(h.name), h.seq, h.problem.empty() ? "true" : "false");
  return fmt::format(
      "{{\"first_seq\":{},\"last_seq\":{},\"file_bytes\":{},\"policy\":{},\"floor\":{},"
      "\"floor_holder\":{},\"checkpoint_seq\":{},\"checkpoint\":{},\"holds\":[{}]}}",
      s.first_seq, s.last_seq, s.file_bytes, Quoted(RetentionPolicyText(policy)), s.floor.seq,
      Quoted(s.floor.holder), s.checkpoint_seq, Quoted(s.checkpoint_path), holds);
}

namespace {

struct LogCommand {
  CommonFlags common;
  bool json = false;
  std::string name;
};

int RunLogStatus(const LogCommand& c) {
  std::optional<Config> config = ConfigOrComplain(c.common, "log status");
  if (!config) return 2;
  store::WriteStoreOptions o;
  o.dir = (std::filesystem::path(config->data_dir) / "write").string();
  o.read_only = true;
  o.max_map_size = config->writer.max_map_size_mb << 20;
  auto log = store::WriteStore::Open(o);
  if (!log.ok()) {
    std::fprintf(stderr, "cqrs log status: %s\n", log.status().message().c_str());
    return 1;
  }
  auto summary = SummarizeLog(*log.value(), config.value());
  if (!summary.ok()) {
    std::fprintf(stderr, "cqrs log status: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  if (c.json) {
    std::printf("%s\n", RenderLogJson(summary.value(), config->log).c_str());
  } else {
    std::printf("%s", RenderLogText(summary.value(), config->log).c_str());
    if (summary->checkpoint_seq > 0)
      std::printf("snapshot  state checkpoint at seq %llu: %s\n",
                  static_cast<unsigned long long>(summary->checkpoint_seq),
                  summary->checkpoint_path.c_str());
  }
  return 0;
}

int RunLogRelease(const LogCommand& c) {
  std::optional<Config> config = ConfigOrComplain(c.common, "log release");
  if (!config) return 2;
  Status s = store::ReleaseLogHold(config->data_dir, c.name);
  if (!s.ok()) {
    std::fprintf(stderr, "cqrs log release: %s\n", s.message().c_str());
    return s.code() == Code::kInvalidArgument ? 2 : 1;
  }
  std::printf("released log hold '%s': retention no longer waits for it\n", c.name.c_str());
  return 0;
}

}  // namespace

void AddLogCommands(CLI::App& app, int* exit_code) {
  CLI::App* log = app.add_subcommand(
      "log", "the event log's retention: where it starts, what holds it ([log] in the config)");
  log->require_subcommand(1);
  auto c = std::make_shared<LogCommand>();
  CLI::App* status = log->add_subcommand(
      "status",
      "first and last seq, file size, the retention policy, the floor retention may not pass and "
      "what holds it, each consumer's hold, the newest state checkpoint");
  AddCommonFlags(*status, &c->common);
  status->add_flag("--json", c->json, "one JSON object");
  status->callback([c, exit_code] { *exit_code = RunLogStatus(*c); });
  auto r = std::make_shared<LogCommand>();
  CLI::App* release = log->add_subcommand(
      "release",
      "remove a consumer's hold (a mirror or sink gone for good): retention may then remove the "
      "events it had not consumed; it starts again from a snapshot if it returns");
  AddCommonFlags(*release, &r->common);
  release->add_option("name", r->name, "the hold (projector, mirror, pgsink ...)")->required();
  release->callback([r, exit_code] { *exit_code = RunLogRelease(*r); });
}

}  // namespace cqrs::cli
