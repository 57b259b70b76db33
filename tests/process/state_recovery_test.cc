// The writer's entity state after a faked machine restart: restored from its newest checkpoint
// that verifies, then exactly the log after it applied; equal, byte for byte, to the state
// replayed from seq 1 (issue #16).
#include "writer/state_recovery.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "client/client.h"
#include "store/state_checkpoint.h"
#include "store/state_store.h"
#include "store/write_store.h"
#include "tests/support/state_dump.h"
#include "tests/support/writer_process.h"

namespace cqrs {
namespace {

using testing::TempDir;
using testing::WriterProcess;

// Writes `n` random changes over 300 keys; every one acknowledged.
void Write(Client& client, std::mt19937& rng, int n) {
  for (int i = 0; i < n; ++i) {
    const std::string key = "k" + std::to_string(rng() % 300);
    CommandResult r = rng() % 7 == 0 ? client.Delete("orders", key)
                                     : client.Upsert("orders", key,
                                                     {{"n", std::int64_t(rng() % 1000)},
                                                      {"s", std::string(rng() % 40, 'x')}});
    REQUIRE((r.status == Code::kOk || r.status == Code::kNotFound));
  }
}

// kill -9 the writer, then make it look as if the machine restarted: the state's guard names
// another boot and its file is damaged (a torn page in the middle).
void FakeReboot(WriterProcess& writer) {
  writer.process->Signal(SIGKILL);
  writer.process->Wait(std::chrono::seconds(10));
  const std::string state = writer.data_dir + "/write/state";
  testing::WriteFile(state + "/unsynced", "another-boot\n");
  std::fstream f(state + "/data.mdb", std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(state + "/data.mdb") / 2));
  f << std::string(4096, '\x5c');
}

// The number after `prefix` in `text` (after `from`), or nullopt if `prefix` is absent.
std::optional<std::uint64_t> NumberAfter(const std::string& text, const std::string& prefix) {
  const std::size_t at = text.find(prefix);
  if (at == std::string::npos) return std::nullopt;
  return std::strtoull(text.c_str() + at + prefix.size(), nullptr, 10);
}

// What the log says since `from`: the checkpoint restored (0: none) and the events applied.
// (std::regex would be shorter, but GCC 12's libstdc++ regex trips -Wmaybe-uninitialized under
// ASan with -Werror.)
std::pair<std::uint64_t, std::uint64_t> Recovery(const std::string& log, std::size_t from) {
  const std::string text = log.substr(from);
  const std::string restored_line = "restored from checkpoint ";
  std::uint64_t restored = 0;
  if (const std::size_t at = text.find(restored_line); at != std::string::npos)
    restored = NumberAfter(text.substr(at), "(seq ").value_or(0);
  const std::string marker = "entity state rebuilt: ";
  auto applied = NumberAfter(text, marker);
  if (!applied) FAIL("no recovery line in the writer's log: " << text);
  return {restored, *applied};
}

}  // namespace

TEST_CASE(
    "issue #16: after a faked reboot the writer restores its newest good checkpoint and "
    "applies exactly the log after it",
    "[process][writer][checkpoint]") {
  TempDir dir;
  std::ofstream(dir / "writer.toml") << "[writer]\ndurability = \"nosync\"\n"
                                        "checkpoint_interval_events = 1000\n"
                                        "checkpoint_interval_s = 0\n";
  WriterProcess writer(dir, {"--config", dir / "writer.toml"});
  const std::string checkpoints = writer.data_dir + "/write/checkpoints";
  std::mt19937 rng(16);
  ClientOptions o;
  o.writer_endpoint = writer.endpoint;
  o.deadline = std::chrono::milliseconds(20000);
  auto client = std::move(Client::Connect(o)).value();
  Write(*client, rng, 3500);
  // Checkpoints are taken in the background: wait for the one past 3,000 events.
  REQUIRE(testing::WaitFor(
      [&] {
        auto all = store::ListStateCheckpoints(checkpoints, false);
        return !all.empty() && all.front().seq >= 3000;
      },
      std::chrono::seconds(20)));
  Write(*client, rng, 137);
  const std::uint64_t head = client->last_seq();
  auto all = store::ListStateCheckpoints(checkpoints, false);
  REQUIRE(all.size() == 2);  // the last two are kept
  const std::uint64_t newest = all[0].seq, older = all[1].seq;
  CHECK(newest > older);

  SECTION("the newest checkpoint, then head - checkpoint events") {
    // A crash in the middle of a checkpoint leaves a temp file, or a copy renamed without its
    // .sum: never used, removed.
    testing::WriteFile(checkpoints + "/state.mdb.tmp", "half a copy");
    const std::string unsummed = checkpoints + "/state-" +
                                 std::string(20 - std::to_string(head + 1).size(), '0') +
                                 std::to_string(head + 1) + ".mdb";
    std::filesystem::copy_file(all[0].path, unsummed);
    FakeReboot(writer);
    const std::size_t from = testing::ReadFile(writer.log_path).size();
    writer.Start();
    auto [restored, applied] = Recovery(testing::ReadFile(writer.log_path), from);
    CHECK(restored == newest);
    CHECK(applied == head - newest);
    CHECK_FALSE(std::filesystem::exists(checkpoints + "/state.mdb.tmp"));
    CHECK_FALSE(std::filesystem::exists(unsummed));
  }
  SECTION("a checkpoint with a flipped byte is not used: the older one is") {
    {
      std::fstream f(all[0].path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(100);
      char c = 0;
      f.read(&c, 1);
      f.seekp(100);
      f.put(static_cast<char>(c ^ 0x01));
    }
    FakeReboot(writer);
    const std::size_t from = testing::ReadFile(writer.log_path).size();
    writer.Start();
    const std::string log = testing::ReadFile(writer.log_path);
    CHECK_THAT(log.substr(from), Catch::Contains("fails its checksum"));
    auto [restored, applied] = Recovery(log, from);
    CHECK(restored == older);
    CHECK(applied == head - older);
  }
  SECTION("truncated checkpoints are not used: the whole log is replayed") {
    for (const auto& c : all) std::filesystem::resize_file(c.path, 8192);
    FakeReboot(writer);
    const std::size_t from = testing::ReadFile(writer.log_path).size();
    writer.Start();
    auto [restored, applied] = Recovery(testing::ReadFile(writer.log_path), from);
    CHECK(restored == 0);
    CHECK(applied == head);
  }
  // Serving on the restored state: the next change of a key continues its versions.
  o.writer_endpoint = writer.endpoint;
  auto after = std::move(Client::Connect(o)).value();
  Write(*after, rng, 50);
  writer.process->Signal(SIGTERM);
  REQUIRE(writer.process->Wait(std::chrono::seconds(20)) != -1);
  testing::CheckStateEqualsFullReplay(writer.data_dir, dir / "replayed");
}

namespace {

// The fdatasync/fsync calls of the writer, counted by file: the counters of
// tests/support/sync_counter.cc, preloaded into it.
struct SyncCounts {
  std::uint64_t log = 0, state = 0, other = 0;
};

SyncCounts ReadSyncCounts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::uint64_t c[3] = {};
  in.read(reinterpret_cast<char*>(c), sizeof c);
  REQUIRE(in.gcount() == sizeof c);
  return {c[0], c[1], c[2]};
}

}  // namespace

TEST_CASE(
    "issue #16: in sync mode every reply follows an fdatasync of the log, and the entity state "
    "is never synced per batch",
    "[process][writer][durability]") {
  TempDir dir;
  const std::string counts = dir / "syncs";
  testing::WriteFile(counts, std::string(3 * sizeof(std::uint64_t), '\0'));
  std::ofstream(dir / "writer.toml") << "[writer]\ndurability = \"sync\"\n";
  // The preloaded library is not sanitized: a sanitizer build must let it come first.
  const char* asan = std::getenv("ASAN_OPTIONS");
  WriterProcess writer(
      dir, {"--config", dir / "writer.toml"}, "",
      {std::string("LD_PRELOAD=") + CQRS_SYNC_COUNTER_LIBRARY, "CQRS_SYNC_COUNTS=" + counts,
       std::string("ASAN_OPTIONS=") + (asan ? asan : "") + ":verify_asan_link_order=0"});
  ClientOptions o;
  o.writer_endpoint = writer.endpoint;
  o.deadline = std::chrono::milliseconds(20000);
  auto client = std::move(Client::Connect(o)).value();
  std::mt19937 rng(7);
  Write(*client, rng, 1);
  const SyncCounts start = ReadSyncCounts(counts);
  // One request at a time, so each is a batch of its own: each acknowledgement must come after
  // one more completed sync of the log's file than the one before.
  std::uint64_t log_syncs = start.log;
  int unsynced_replies = 0;
  for (int i = 0; i < 200; ++i) {
    Write(*client, rng, 1);
    const SyncCounts now = ReadSyncCounts(counts);
    if (now.log <= log_syncs) ++unsynced_replies;
    log_syncs = now.log;
  }
  const SyncCounts end = ReadSyncCounts(counts);
  INFO("log syncs " << start.log << " -> " << end.log << ", state syncs " << start.state << " -> "
                    << end.state << ", other " << end.other);
  CHECK(unsynced_replies == 0);
  CHECK(end.log - start.log >= 200);
  CHECK(end.state == start.state);  // a cache of the log: never fsynced per batch
}

}  // namespace cqrs
