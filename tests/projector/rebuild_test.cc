// The rebuild's bulk path (BulkApplyLog, then DeriveReadModels) against the EventApplier that the
// live projector uses: from the same random log, both stores must hold the same entities,
// collection logs, index entries, aggregate cells and checkpoint, compared by name (namespace and
// read-model ids are interned in a different order on the two paths). Small windows and a small
// gathering budget exercise the paths a 1M-event rebuild takes only on much larger logs.
#include "projector/rebuild.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "projector/event_source.h"
#include "store/key_format.h"
#include "store/log_holds.h"
#include "store/state_checkpoint.h"
#include "store/state_store.h"
#include "store/write_store_format.h"
#include "tests/support/events.h"
#include "tests/support/log_events.h"
#include "tests/support/test_support.h"
#include "writer/log_retention.h"
#include "writer/state_recovery.h"

namespace cqrs::projector {
namespace {

using testing::AsEvent;
using testing::MakeEvent;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += {kDigits[b >> 4], kDigits[b & 15]};
  }
  return out;
}

// Every entry of a read store's data databases as text, ids replaced by their names.
std::vector<std::string> Dump(store::ReadStore& store) {
  auto txn = store::Txn::BeginRead(store.env());
  REQUIRE(txn.ok());
  std::map<std::uint32_t, std::string> names;  // id → "tenant/name"
  auto each = [&](store::Dbi dbi,
                  const std::function<void(std::string_view, std::string_view)>& f) {
    auto cursor = store::Cursor::Open(txn.value(), dbi);
    REQUIRE(cursor.ok());
    std::string_view k, v;
    for (Status s = cursor->Get(MDB_FIRST, &k, &v); s.ok(); s = cursor->Get(MDB_NEXT, &k, &v))
      f(k, v);
  };
  each(store.dbs().names, [&](std::string_view k, std::string_view v) {
    std::uint32_t id = 0;
    REQUIRE(store::ReadU32(v, &id, "id").ok());
    std::string name(k);
    name[name.find('\0')] = '/';
    names[id] = name;
  });
  auto named = [&](std::string_view k) {
    const std::uint32_t id = store::GetU32BE(reinterpret_cast<const std::uint8_t*>(k.data()));
    REQUIRE(names.count(id));
    return names[id] + "|" + Hex(k.substr(4));
  };
  std::vector<std::string> out;
  const store::ReadDbs& dbs = store.dbs();
  each(dbs.entities, [&](auto k, auto v) { out.push_back("entity " + named(k) + " " + Hex(v)); });
  each(dbs.collection_log, [&](auto k, auto) { out.push_back("log " + named(k)); });
  each(dbs.indexes, [&](auto k, auto v) { out.push_back("index " + named(k) + " " + Hex(v)); });
  each(dbs.aggregates,
       [&](auto k, auto v) { out.push_back("aggregate " + named(k) + " " + Hex(v)); });
  auto c = store.ReadCheckpoint(txn.value());
  REQUIRE(c.ok());
  out.push_back("checkpoint " + std::to_string(c->applied_seq) + " " +
                std::to_string(c->applied_events));
  std::sort(out.begin(), out.end());
  return out;
}

// A random log: two tenants, a collection with read models and one without, upserts whose
// indexed fields move between values and types or disappear, deletes.
std::vector<wire::AlignedBuffer> RandomLog(std::mt19937_64& rng, std::uint64_t first,
                                           std::uint64_t count) {
  std::vector<wire::AlignedBuffer> events;
  for (std::uint64_t seq = first; seq < first + count; ++seq) {
    const std::string tenant = rng() % 4 == 0 ? "t2" : "default";
    const std::string collection = rng() % 5 == 0 ? "notes" : "orders";
    const std::string key = "k" + std::to_string(rng() % 150);
    if (rng() % 7 == 0) {
      events.push_back(MakeEvent(seq, fb::Op::Delete, collection, key, 2, {}, tenant));
      continue;
    }
    std::vector<FieldSpec> fields;
    if (rng() % 4)
      fields.push_back({"amount", static_cast<std::int64_t>(rng() % 30) - 5});
    else if (rng() % 2)
      fields.push_back({"amount", static_cast<double>(rng() % 50) / 4});
    if (rng() % 5) {
      // Some customers share their first 400 bytes (too long for a key): still apart.
      std::string customer = "c" + std::to_string(rng() % 12);
      if (rng() % 4 == 0) customer = std::string(400, 'L') + customer;
      fields.push_back({"customer", customer});
    }
    fields.push_back({"note", std::string(rng() % 40, 'x')});
    if (rng() % 6) fields.push_back({"status", std::string(rng() % 2 ? "open" : "paid")});
    events.push_back(MakeEvent(seq, fb::Op::Upsert, collection, key, 1, fields, tenant));
  }
  return events;
}

struct Stores {
  Stores() {
    CollectionSpec orders{"orders", {"status", "customer", "amount"}, {}};
    orders.aggregates = {{"by_customer", "customer", "amount"}, {"by_status", "status", ""}};
    models = {orders};
    store::WriteStoreOptions w;
    w.dir = dir / "write";
    w.durability = Durability::kNoSync;
    log = std::move(store::WriteStore::Open(w)).value();
    store::ReadStoreOptions r;
    r.dir = dir / "live";
    live = std::move(store::ReadStore::Open(r)).value();
    r.dir = dir / "bulk";
    bulk = std::move(store::ReadStore::Open(r)).value();
    live_applier = std::make_unique<EventApplier>(*live, models);
  }

  void Append(const std::vector<wire::AlignedBuffer>& events) {
    auto txn = store::Txn::BeginWrite(log->env());
    REQUIRE(txn.ok());
    for (const auto& e : events) {
      const store::KeyBuffer k = store::SeqKey(AsEvent(e).seq());
      REQUIRE(txn->Put(log->dbs().events, k.view(),
                       {reinterpret_cast<const char*>(e.data()), e.size()}, MDB_APPEND)
                  .ok());
    }
    REQUIRE(txn->Commit().ok());
  }

  static void ApplyEach(store::ReadStore& store, EventApplier& applier,
                        const std::vector<wire::AlignedBuffer>& events) {
    auto txn = store::Txn::BeginWrite(store.env());
    REQUIRE(applier.Begin(txn.value()).ok());
    for (const auto& e : events) REQUIRE(applier.Apply(txn.value(), AsEvent(e)).ok());
    REQUIRE(applier.End(txn.value()).ok());
    REQUIRE(txn->Commit().ok());
  }

  testing::TempDir dir;
  std::vector<CollectionSpec> models;
  std::unique_ptr<store::WriteStore> log;
  std::unique_ptr<store::ReadStore> live, bulk;
  std::unique_ptr<EventApplier> live_applier;
};

}  // namespace

TEST_CASE("A bulk rebuild holds what applying each event holds, window and budget sizes aside",
          "[projector][rebuild]") {
  const std::size_t window = GENERATE(1u, 97u, 5000u);
  const std::size_t budget = GENERATE(std::size_t{1}, std::size_t{4096}, kDeriveBudgetBytes);
  INFO("window " << window << ", budget " << budget);
  Stores s;
  std::mt19937_64 rng(window * 31 + budget);
  const auto events = RandomLog(rng, 1, 3000);
  s.Append(events);
  Stores::ApplyEach(*s.live, *s.live_applier, events);

  std::atomic<bool> cancel{false};
  std::vector<std::uint64_t> progress;
  auto applied = BulkApplyLog(*s.log, *s.bulk, 2500, window, cancel,
                              [&](std::uint64_t seq) { progress.push_back(seq); });
  REQUIRE(applied.ok());
  CHECK(applied.value() == 2500);  // stops at to_seq
  REQUIRE(!progress.empty());
  CHECK(progress.back() == 2500);
  CHECK(std::is_sorted(progress.begin(), progress.end()));
  applied = BulkApplyLog(*s.log, *s.bulk, 3000, window, cancel, {});
  REQUIRE(applied.ok());
  CHECK(applied.value() == 500);
  REQUIRE(DeriveReadModels(*s.bulk, s.models, budget).ok());
  CHECK(Dump(*s.bulk) == Dump(*s.live));

  // The tail goes through an ordinary applier on the derived store.
  EventApplier tail(*s.bulk, s.models);
  const auto more = RandomLog(rng, 3001, 700);
  s.Append(more);
  Stores::ApplyEach(*s.live, *s.live_applier, more);
  Stores::ApplyEach(*s.bulk, tail, more);
  CHECK(Dump(*s.bulk) == Dump(*s.live));
}

TEST_CASE("A bulk rebuild refuses a log entry that is not the event of its seq",
          "[projector][rebuild]") {
  Stores s;
  std::vector<wire::AlignedBuffer> events;
  events.push_back(MakeEvent(1, fb::Op::Upsert, "orders", "a", 1, {{"status", std::string("x")}}));
  events.push_back(MakeEvent(5, fb::Op::Upsert, "orders", "b", 1));  // stored under seq 2
  auto txn = store::Txn::BeginWrite(s.log->env());
  for (std::uint64_t seq = 1; seq <= 2; ++seq) {
    const auto& e = events[seq - 1];
    REQUIRE(txn->Put(s.log->dbs().events, store::SeqKey(seq).view(),
                     {reinterpret_cast<const char*>(e.data()), e.size()})
                .ok());
  }
  REQUIRE(txn->Put(s.log->dbs().events, store::SeqKey(3).view(), "not an event").ok());
  REQUIRE(txn->Commit().ok());
  std::atomic<bool> cancel{false};
  auto applied = BulkApplyLog(*s.log, *s.bulk, 3, 100, cancel, {});
  CHECK(applied.status().code() == Code::kInternal);
  CHECK_THAT(applied.status().message(), Catch::Contains("event seq 5 where seq 2 belongs"));
  // Nothing of the failed window was committed.
  auto read = store::Txn::BeginRead(s.bulk->env());
  CHECK(s.bulk->ReadCheckpoint(read.value())->applied_seq == 0);
}

TEST_CASE("LogEventSource hands out the events after a seq, in order, bounded by count and bytes",
          "[projector][source]") {
  Stores s;
  std::mt19937_64 rng(5);
  s.Append(RandomLog(rng, 1, 300));
  LogEventSource source(*s.log);
  std::vector<wire::AlignedBuffer> out;
  auto n = source.Read(0, 100, 1 << 20, &out);
  REQUIRE(n.ok());
  REQUIRE(n.value() == 100);
  for (std::size_t i = 0; i < 100; ++i) CHECK(AsEvent(out[i]).seq() == i + 1);
  n = source.Read(250, 100, 1 << 20, &out);
  REQUIRE(n.ok());
  REQUIRE(n.value() == 50);
  CHECK(AsEvent(out[0]).seq() == 251);
  CHECK(AsEvent(out[49]).seq() == 300);
  n = source.Read(300, 100, 1 << 20, &out);
  REQUIRE(n.ok());
  CHECK(n.value() == 0);              // nothing yet
  n = source.Read(0, 1000, 1, &out);  // the byte bound: the event that reaches it ends the read
  REQUIRE(n.ok());
  CHECK(n.value() == 1);
  s.Append(RandomLog(rng, 301, 5));  // committed later: the next read's snapshot sees it
  n = source.Read(300, 100, 1 << 20, &out);
  REQUIRE(n.ok());
  CHECK(n.value() == 5);
  CHECK(AsEvent(out[4]).seq() == 305);
}

}  // namespace cqrs::projector

namespace cqrs::projector {

TEST_CASE("After retention, a rebuild seeds from the state checkpoint and equals the live store",
          "[projector][rebuild][retention]") {
  Stores s;
  std::mt19937_64 rng(22);
  const auto first = RandomLog(rng, 1, 2000);
  const auto second = RandomLog(rng, 2001, 1000);
  testing::AppendToLog(*s.log, first);
  Stores::ApplyEach(*s.live, *s.live_applier, first);

  // The writer's entity state at seq 2000, and its checkpoint.
  store::StateStoreOptions so;
  so.dir = s.dir / "write/state";
  so.checkpoints_dir = s.log->checkpoints_dir();
  {
    auto state = store::StateStore::Open(so, s.log->store_id());
    REQUIRE(state.ok());
    REQUIRE(writer::CatchUpState(*s.log, *state.value(), 10000, false).ok());
    auto checkpoint = store::WriteStateCheckpoint(*state.value(), so.checkpoints_dir);
    REQUIRE(checkpoint.ok());
    CHECK(checkpoint->seq == 2000);
  }
  testing::AppendToLog(*s.log, second);
  Stores::ApplyEach(*s.live, *s.live_applier, second);

  // Retention keeps the last 1,500 events: 1..1500 go.
  LogConfig policy;
  policy.keep_events = 1500;
  writer::LogRetention retention(*s.log, s.dir.path(), policy);
  for (bool more = true; more;) REQUIRE(retention.Step(0, 2000, &more).ok());
  REQUIRE(retention.stats().first_seq == 1501);

  // A plain replay from seq 1 is refused, naming the start and the snapshot.
  std::atomic<bool> cancel{false};
  auto refused = BulkApplyLog(*s.log, *s.bulk, 3000, 1000, cancel, {});
  REQUIRE(refused.status().code() == Code::kOutOfRange);
  CHECK_THAT(refused.status().message(), Catch::Contains("starts at seq 1501") &&
                                             Catch::Contains("state checkpoint at seq 2000"));

  Config config;
  config.data_dir = s.dir.path();
  config.collections = s.models;
  {
    auto target = CreateRebuildTarget(s.dir / "target", config, s.log->store_id());
    REQUIRE(target.ok());
    std::vector<std::uint64_t> progress;
    auto built = BuildRebuildTarget(*s.log, target.value(), s.models, 3000, cancel,
                                    [&](std::uint64_t seq) { progress.push_back(seq); });
    REQUIRE(built.ok());
    REQUIRE(built.value());
    CHECK(progress.back() == 3000);
    // While the target lives, its temporary hold keeps the log from where it is.
    auto holds = store::ListLogHolds(s.dir.path());
    REQUIRE(holds.size() == 1);
    CHECK(holds[0].name.starts_with("rebuild-"));

    // Equal to the live store, but for the collection logs of the events retention removed:
    // those of every event the log still holds are there, before the snapshot and after it.
    auto seq_of = [](const std::string& log_line) {  // "log <name>|<seq as 16 hex digits>"
      return std::stoull(log_line.substr(log_line.rfind('|') + 1), nullptr, 16);
    };
    std::vector<std::string> live;
    for (const std::string& line : Dump(*s.live))
      if (!line.starts_with("log ") || seq_of(line) >= 1501) live.push_back(line);
    const std::vector<std::string> seeded = Dump(*target->store);
    CHECK(seeded == live);
    CHECK(std::count_if(seeded.begin(), seeded.end(),
                        [](const std::string& l) { return l.starts_with("log "); }) == 1500);

    // The tail goes through its applier, as the projector's switch does.
    const auto more = RandomLog(rng, 3001, 300);
    testing::AppendToLog(*s.log, more);
    Stores::ApplyEach(*s.live, *s.live_applier, more);
    auto tail = ApplyLog(*s.log, *target->store, *target->applier, 3300, 1000, cancel, {});
    REQUIRE(tail.ok());
    live.clear();
    for (const std::string& line : Dump(*s.live))
      if (!line.starts_with("log ") || seq_of(line) >= 1501) live.push_back(line);
    CHECK(Dump(*target->store) == live);
  }
  CHECK(store::ListLogHolds(s.dir.path()).empty());  // released with the target
}

}  // namespace cqrs::projector
