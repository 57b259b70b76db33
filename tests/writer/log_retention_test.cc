// Retention of the event log over a real LMDB log: the floor (holds, the newest checkpoint,
// keep_events, the last event), the age rule, bounded steps, meta.first_seq and the open check,
// what readers of the log answer below the first seq, and the hold files themselves.
#include "writer/log_retention.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "projector/event_source.h"
#include "store/key_format.h"
#include "store/log_holds.h"
#include "store/write_store_format.h"
#include "tests/support/events.h"
#include "tests/support/log_events.h"
#include "tests/support/test_support.h"

namespace cqrs::writer {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;

struct Log {
  explicit Log(std::uint64_t events, std::uint64_t ns_per_event = 0) {
    std::filesystem::create_directories(dir / "write");
    Reopen();
    std::vector<wire::AlignedBuffer> batch;
    for (std::uint64_t seq = 1; seq <= events; ++seq)
      batch.push_back(testing::MakeEvent(seq, fb::Op::Upsert, "orders",
                                         "k" + std::to_string(seq % 50), 1, {}, "default",
                                         seq * ns_per_event));
    testing::AppendToLog(*log, batch);
  }
  void Reopen() {
    log.reset();
    store::WriteStoreOptions o;
    o.dir = dir / "write";
    o.durability = Durability::kNoSync;
    auto opened = store::WriteStore::Open(o);
    REQUIRE(opened.ok());
    log = std::move(opened).value();
  }
  std::uint64_t First() {
    auto txn = store::Txn::BeginRead(log->env());
    return log->FirstSeq(txn.value()).value();
  }
  // Steps until nothing more is removed; returns the steps that removed some.
  std::uint64_t Run(LogRetention& r, std::uint64_t now_ns, std::uint64_t checkpoint_seq) {
    const std::uint64_t before = r.stats().steps;
    for (bool more = true; more;) REQUIRE(r.Step(now_ns, checkpoint_seq, &more).ok());
    return r.stats().steps - before;
  }
  testing::TempDir dir;
  std::unique_ptr<store::WriteStore> log;
};

void WriteHold(const std::string& data_dir, const std::string& name, std::uint64_t seq) {
  store::LogHold hold(data_dir, name);
  hold.Set(seq);
  REQUIRE(hold.Flush().ok());
}

}  // namespace

TEST_CASE(
    "The log floor is the lowest of the holds, the checkpoint, keep_events and the last event",
    "[writer][retention]") {
  LogConfig policy;
  policy.keep_events = 100;
  std::vector<store::LogHoldEntry> holds;
  auto floor = store::ComputeLogFloor(policy, 1000, 950, holds);
  CHECK(floor.seq == 901);
  CHECK(floor.holder == "keep_events");
  floor = store::ComputeLogFloor(policy, 1000, 500, holds);
  CHECK(floor.seq == 501);
  CHECK(floor.holder == "state checkpoint");
  holds.push_back({"mirror", 300, ""});
  holds.push_back({"pgsink", 0, "unreadable"});
  floor = store::ComputeLogFloor(policy, 1000, 500, holds);
  CHECK(floor.seq == 1);
  CHECK(floor.holder == "hold pgsink");
  holds.pop_back();
  CHECK(store::ComputeLogFloor(policy, 1000, 500, holds).holder == "hold mirror");
  CHECK(store::ComputeLogFloor(policy, 1000, 0, {}).holder == "no state checkpoint yet");
  // Never the last event itself.
  policy.keep_events = 0;
  policy.keep_s = 60;
  floor = store::ComputeLogFloor(policy, 1000, 1000, {});
  CHECK(floor.seq == 1000);
  CHECK(floor.holder == "the last event");
  CHECK(store::ComputeLogFloor(LogConfig{}, 1000, 1000, {}).seq == 1);
}

TEST_CASE("Retention removes events below the floor in bounded steps and moves first_seq",
          "[writer][retention]") {
  Log l(5000);
  LogConfig policy;
  policy.keep_events = 1000;
  policy.step_events = 700;
  LogRetention retention(*l.log, l.dir.path(), policy);

  // No checkpoint: nothing goes.
  CHECK(l.Run(retention, 0, 0) == 0);
  CHECK(l.First() == 1);
  CHECK(retention.stats().floor.holder == "no state checkpoint yet");

  // A hold at 2500 and a checkpoint at 3000: the hold wins; 2500 events in steps of 700.
  WriteHold(l.dir.path(), "projector", 2500);
  CHECK(l.Run(retention, 0, 3000) == 4);
  CHECK(l.First() == 2501);
  CHECK(retention.stats().removed == 2500);
  CHECK(retention.stats().floor.holder == "hold projector");

  // The hold moves past keep_events: keep_events wins.
  WriteHold(l.dir.path(), "projector", 5000);
  l.Run(retention, 0, 5000);
  CHECK(l.First() == 4001);
  CHECK(retention.stats().floor.holder == "keep_events");

  // The log opens again (its first event is meta.first_seq), and readers of it see the start.
  l.Reopen();
  CHECK(l.First() == 4001);
  projector::LogEventSource source(*l.log);
  std::vector<wire::AlignedBuffer> out;
  auto read = source.Read(4000, 10, 1 << 20, &out);
  REQUIRE(read.ok());
  CHECK(testing::AsEvent(out[0]).seq() == 4001);
  read = source.Read(3999, 10, 1 << 20, &out);
  REQUIRE(read.status().code() == Code::kOutOfRange);
  CHECK_THAT(read.status().message(), Catch::Contains("seq 4000 is no longer in the event log, "
                                                      "which starts at seq 4001"));
  auto txn = store::Txn::BeginRead(l.log->env());
  store::WriteStore::Start start;
  CHECK(l.log->CheckFrom(txn.value(), 17, &start).code() == Code::kOutOfRange);
  CHECK(start.first_seq == 4001);
  CHECK(l.log->CheckFrom(txn.value(), 4001).ok());
}

TEST_CASE("The age rule keeps every event younger than keep, and with keep_events the larger",
          "[writer][retention]") {
  Log l(1000, kSecond);  // event N written at N seconds
  LogConfig policy;
  policy.keep_s = 300;
  LogRetention retention(*l.log, l.dir.path(), policy);
  l.Run(retention, 1000 * kSecond, 1000);  // now: 1000 s; events before 700 s are older
  CHECK(l.First() == 700);
  policy.keep_events = 500;  // both: the one that keeps more wins
  LogRetention both(*l.log, l.dir.path(), policy);
  l.Run(both, 2000 * kSecond, 1000);  // all older than keep now, but keep_events holds 501..
  CHECK(l.First() == 700);  // keep_events alone would keep 501..; nothing below 700 is left
  policy.keep_events = 100;
  LogRetention fewer(*l.log, l.dir.path(), policy);
  l.Run(fewer, 2000 * kSecond, 1000);
  CHECK(l.First() == 901);
}

TEST_CASE("Log holds: the file, the rate of writes, a temporary hold and a stale one",
          "[writer][retention]") {
  testing::TempDir dir;
  CHECK(store::ListLogHolds(dir.path()).empty());
  store::LogHold hold(dir.path(), "mirror", std::chrono::hours(1));
  hold.Set(10);  // the first write is at once
  auto holds = store::ListLogHolds(dir.path());
  REQUIRE(holds.size() == 1);
  CHECK(holds[0].name == "mirror");
  CHECK(holds[0].seq == 10);
  hold.Set(20);  // higher within the period: later
  CHECK(store::ListLogHolds(dir.path())[0].seq == 10);
  hold.Set(5);  // lower: at once (a hold only keeps more when it lags)
  CHECK(store::ListLogHolds(dir.path())[0].seq == 5);
  REQUIRE(hold.Flush().ok());
  CHECK(store::ListLogHolds(dir.path())[0].seq == 5);

  // An unreadable file holds everything.
  std::ofstream(store::LogHoldsDir(dir.path()) + "/pgsink") << "garbage";
  holds = store::ListLogHolds(dir.path());
  REQUIRE(holds.size() == 2);
  CHECK(holds[1].name == "pgsink");
  CHECK(holds[1].seq == 0);
  CHECK(!holds[1].problem.empty());

  {
    store::LogHold temporary = store::LogHold::Temporary(dir.path());
    temporary.Set(7);
    CHECK(store::ListLogHolds(dir.path()).size() == 3);
    store::LogHold moved = std::move(temporary);  // the file follows the object
    CHECK(store::ListLogHolds(dir.path()).size() == 3);
  }
  CHECK(store::ListLogHolds(dir.path()).size() == 2);
  // A temporary hold of a process that is gone is removed when listed.
  std::ofstream(store::LogHoldsDir(dir.path()) + "/rebuild-999999999")
      << "cqrs-log-hold 1\nseq 1\n";
  CHECK(store::ListLogHolds(dir.path()).size() == 2);
  CHECK(!std::filesystem::exists(store::LogHoldsDir(dir.path()) + "/rebuild-999999999"));

  CHECK(store::ReleaseLogHold(dir.path(), "pgsink").ok());
  CHECK(store::ReleaseLogHold(dir.path(), "pgsink").code() == Code::kNotFound);
  CHECK(store::ReleaseLogHold(dir.path(), "../write").code() == Code::kInvalidArgument);
  CHECK(store::ListLogHolds(dir.path()).size() == 1);
}

TEST_CASE("A log whose first event is not meta.first_seq is refused on open",
          "[writer][retention]") {
  Log l(10);
  {
    auto txn = store::Txn::BeginWrite(l.log->env());
    REQUIRE(txn->Del(l.log->dbs().events, store::SeqKey(1).view()).ok());
    REQUIRE(txn->Commit().ok());
  }
  l.log.reset();
  store::WriteStoreOptions o;
  o.dir = l.dir / "write";
  auto reopened = store::WriteStore::Open(o);
  REQUIRE(reopened.status().code() == Code::kInternal);
  CHECK_THAT(reopened.status().message(),
             Catch::Contains("meta.first_seq 1 but the first event is 2"));
}

}  // namespace cqrs::writer
