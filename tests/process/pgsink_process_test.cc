// cqrs-pgsink against a real PostgreSQL (issue #20): `cqrs up` starts it when [postgresql]
// names a database; its tables then equal the LMDB read store row for row (version and seq
// included: nothing applied twice), across kill -9 of the sink and an immediate stop of
// PostgreSQL; poison values are parked with the row still there; two sinks of one name never
// both apply; row-level security keeps two tenants' SQL users apart; a sink added after
// retention cut the log starts from a state checkpoint (issue #22).
#include <fmt/format.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "client/client.h"
#include "shm/control_block.h"
#include "tests/support/log_events.h"
#include "tests/support/nats_server.h"
#include "tests/support/pg_tables.h"
#include "tests/support/pipeline.h"
#include "tests/support/postgres_server.h"
#include "tests/support/writer_process.h"
#include "wire/value_codec.h"

namespace cqrs {
namespace {

constexpr const char* kOrdersTable = R"toml(
[[postgresql.tables]]
collection = "orders"
columns = { status = "text", customer = "text", amount = "double precision", placed = "timestamptz:ms" }
indexes = ["status", "customer"]
)toml";

testing::PipelineConfig SinkPipeline(const testing::PostgresServer& pg, const std::string& tables,
                                     const std::string& postgresql_toml = "") {
  testing::PipelineConfig c;
  c.readers = 1;
  c.extra_toml = fmt::format("[postgresql]\ndsn = \"{}\"\nretry_max_ms = 200\n{}\n{}", pg.dsn(),
                             postgresql_toml, tables);
  return c;
}

// Writes `n` orders changes over 150 keys (upserts, a delete every 7th); returns the last seq.
std::uint64_t WriteOrders(Client& client, int n, int from = 0) {
  CommandResult last{};
  for (int i = from; i < from + n; i += 10) {
    std::vector<CommandSpec> batch;
    for (int j = i; j < std::min(i + 10, from + n); ++j) {
      const std::string key = fmt::format("o{}", (j * 7919) % 150);
      if (j % 7 == 6)
        batch.push_back(Upsert("orders", key, {{"status", std::string("cancelled")}}));
      else
        batch.push_back(Upsert("orders", key,
                               {{"status", std::string(j % 3 ? "open" : "paid")},
                                {"customer", fmt::format("c{}", j % 13)},
                                {"amount", 0.5 * j},
                                {"placed", std::int64_t{1'700'000'000'000} + j},
                                {"note", std::string(static_cast<std::size_t>(j % 40), 'n')}}));
    }
    last = client.Execute(batch);
    REQUIRE(last.ok());
    if (i % 70 == 0) {
      auto del = client.Execute({Delete("orders", fmt::format("o{}", (i * 31) % 150))});
      REQUIRE((del.ok() || del.status == Code::kNotFound));
      if (del.ok()) last = del;
    }
  }
  return last.seq;
}

// The table equals the read store's `collection` at `seq`, row for row: the keys, each row's
// version and seq (nothing applied twice), its entity.
void CheckTableEqualsReadStore(const testing::PostgresServer& pg, Client& client,
                               const std::string& collection, const std::string& table,
                               std::uint64_t seq) {
  REQUIRE(testing::PgCheckpoint(pg) == seq);
  testing::ExpectedRows rows;
  wire::ScanQuery scan;
  scan.collection = collection;
  scan.limit = 1000;
  ReadOptions at;
  at.min_seq = seq;
  for (;;) {
    QueryResult page = client.Scan(scan, at);
    REQUIRE(page.ok());
    REQUIRE(page.seq == seq);  // nothing written meanwhile: the store at exactly `seq`
    for (const auto& e : page.entities) {
      std::size_t i = 0;
      rows.Add("default", e.key, e.version, e.seq, [&](FieldView* f) {
        if (i >= e.fields.size()) return false;
        f->name = e.fields[i].name;
        f->value = wire::ToView(e.fields[i++].value);
        return true;
      });
    }
    if (page.next.empty()) break;
    scan.after = page.next;
  }
  REQUIRE(rows.count() > 20);
  rows.Check(pg, table);
}

pid_t SinkPid(const testing::Pipeline& p) {
  auto control = shm::ControlBlock::Attach(p.data_dir, 1024);
  REQUIRE(control.ok());
  return static_cast<pid_t>(control->slot(shm::kPgSinkSlot).pid.load());
}

}  // namespace

TEST_CASE(
    "cqrs up keeps PostgreSQL tables equal to the read store, across kill -9 of the sink "
    "and an immediate stop of PostgreSQL",
    "[process][pgsink]") {
  testing::TempDir dir;
  testing::PostgresServer pg;
  testing::Pipeline p(dir, SinkPipeline(pg, kOrdersTable));
  p.expect_restarts = true;  // the sink is killed below
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  std::uint64_t seq = WriteOrders(**client, 1500);
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  CheckTableEqualsReadStore(pg, **client, "orders", "orders", seq);
  // The declared indexes, and the columns as the entity says.
  CHECK(pg.Exec("SELECT 1 FROM pg_indexes WHERE tablename = 'orders' AND indexname IN "
                "('cqrs_orders_status', 'cqrs_orders_customer')")
            .size() == 2);
  CHECK(pg.Exec("SELECT 1 FROM orders WHERE status IS DISTINCT FROM entity->>'status' OR "
                "amount IS DISTINCT FROM (entity->>'amount')::float8 OR placed IS DISTINCT FROM "
                "to_timestamp((entity->>'placed')::bigint / 1000.0)")
            .empty());
  CHECK(pg.Exec("SELECT count(*) FROM orders WHERE status = 'cancelled'")[0][0].as<int>() > 0);

  // The lag and the sink's row in cqrs stats.
  auto [code, stats] =
      testing::RunCli(fmt::format("stats --json --config {} --data {}", p.config_path, p.data_dir));
  REQUIRE(code == 0);
  CHECK_THAT(stats, Catch::Contains(fmt::format("\"postgresql_applied_seq\":{},", seq)));
  CHECK_THAT(stats, Catch::Contains("{\"role\":\"postgresql\","));

  // kill -9 while the log grows, three times: `cqrs up` restarts it, it resumes from its
  // checkpoint.
  for (int round = 0; round < 3; ++round) {
    const pid_t pid = SinkPid(p);
    REQUIRE(pid > 0);
    seq = WriteOrders(**client, 300, 2000 + round * 300);
    REQUIRE(kill(pid, SIGKILL) == 0);
    seq = WriteOrders(**client, 300, 5000 + round * 300);
    REQUIRE(testing::WaitFor([&] { return SinkPid(p) != pid; }, std::chrono::seconds(30)));
  }
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  CheckTableEqualsReadStore(pg, **client, "orders", "orders", seq);

  // PostgreSQL stopped -m immediate (a crash of it) while the writes go on, then started: the
  // sink retries, reconnects, reads its checkpoint and catches up.
  pg.Stop("immediate");
  seq = WriteOrders(**client, 300, 9000);
  pg.Start();
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  CheckTableEqualsReadStore(pg, **client, "orders", "orders", seq);
  testing::CheckTableEqualsLog(pg, p.data_dir, "orders", "orders");
}

TEST_CASE(
    "Changed columns rebuild the table from the log while the old one serves; cqrs pg "
    "rebuild does it on demand; grants are kept",
    "[process][pgsink]") {
  testing::TempDir dir;
  testing::PostgresServer pg;
  testing::Pipeline p(dir, SinkPipeline(pg, kOrdersTable));
  p.expect_restarts = true;  // the sink is killed to take the new config
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  std::uint64_t seq = WriteOrders(**client, 3000);
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  pg.Exec("CREATE ROLE viewer LOGIN; GRANT SELECT ON orders TO viewer");

  // A column added (note) and one changed (placed: timestamptz:ms → bigint) on a table with
  // rows: the values are in the log. The sink restarted with that config rebuilds the table
  // beside the old one, which answers all along, then swaps it in.
  std::string config = testing::ReadFile(p.config_path);
  const std::string from = "placed = \"timestamptz:ms\" }";
  REQUIRE(config.find(from) != std::string::npos);
  config.replace(config.find(from), from.size(), "placed = \"bigint\", note = \"text\" }");
  testing::WriteFile(p.config_path, config);
  const pid_t pid = SinkPid(p);
  REQUIRE(kill(pid, SIGKILL) == 0);
  std::size_t reads = 0;
  REQUIRE(testing::WaitFor(
      [&] {
        const auto rows = pg.Exec("SELECT count(*) FROM orders", "viewer")[0][0].as<int>();
        CHECK(rows > 100);
        ++reads;
        return !pg.Exec(
                      "SELECT 1 FROM pg_attribute WHERE attrelid = 'orders'::regclass AND "
                      "attname = 'note'")
                    .empty();
      },
      std::chrono::seconds(60)));
  CHECK(reads > 0);
  CHECK_THAT(testing::ReadFile(p.log_path),
             Catch::Contains("rebuilding it from the log beside the one that serves"));
  seq = WriteOrders(**client, 300, 4000);
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  CheckTableEqualsReadStore(pg, **client, "orders", "orders", seq);
  CHECK(pg.Exec("SELECT 1 FROM orders WHERE placed IS DISTINCT FROM (entity->>'placed')::bigint "
                "OR note IS DISTINCT FROM entity->>'note'")
            .empty());
  CHECK(pg.Exec("SELECT count(*) FROM orders WHERE note IS NOT NULL")[0][0].as<int>() > 0);
  CHECK(pg.Exec("SELECT count(*) FROM orders", "viewer")[0][0].as<int>() > 100);  // kept
  CHECK(pg.Exec("SELECT 1 FROM pg_indexes WHERE tablename = 'orders' AND indexname IN "
                "('cqrs_orders_status', 'cqrs_orders_customer', 'cqrs_orders-pkey')")
            .size() == 3);

  // On demand: cqrs pg rebuild follows it to the swap.
  auto [code, out] = testing::RunCli(
      fmt::format("pg rebuild --config {} --data {} 2>&1", p.config_path, p.data_dir));
  INFO(out);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("rebuilt and swapped in"));
  seq = WriteOrders(**client, 300, 6000);
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  CheckTableEqualsReadStore(pg, **client, "orders", "orders", seq);
  testing::CheckTableEqualsLog(pg, p.data_dir, "orders", "orders");
  CHECK(pg.Exec("SELECT to_regclass('cqrs_rebuild_0') IS NULL")[0][0].as<bool>());
  CHECK(pg.Exec("SELECT rebuild_seq IS NULL AND NOT rebuild_requested FROM cqrs_checkpoint")[0][0]
            .as<bool>());
}

TEST_CASE("On a read replica host the sink applies the replica's copy of the log",
          "[process][pgsink][replica]") {
  testing::TempDir primary_dir, replica_dir;
  testing::PostgresServer pg;
  testing::NatsServer nats(primary_dir);
  testing::PipelineConfig pc;
  pc.readers = 1;
  pc.extra_toml = fmt::format("[mirror]\nnats = \"{}\"\nreplicas = 1\n", nats.url());
  testing::Pipeline primary(primary_dir, pc);
  primary.StartUp();
  auto client = Client::Connect(primary.client_options());
  REQUIRE(client.ok());
  std::uint64_t seq = WriteOrders(**client, 700);  // the replica's copy starts with a message
  // PostgreSQL beside the replica, not the writer: `cqrs up --replica` starts the sink there.
  testing::PipelineConfig rc = SinkPipeline(pg, kOrdersTable);
  rc.replica = true;
  testing::Pipeline replica(replica_dir, rc);
  replica.StartUp({"--nats", nats.url()});
  seq = WriteOrders(**client, 800, 1000);
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  testing::CheckTableEqualsLog(pg, primary.data_dir, "orders", "orders");
  testing::CheckTableEqualsLog(pg, replica.data_dir, "orders", "orders");
}

TEST_CASE("A value that cannot be cast is parked in cqrs_rejected; its row is still there",
          "[process][pgsink]") {
  testing::TempDir dir;
  testing::PostgresServer pg;
  testing::Pipeline p(dir, SinkPipeline(pg, R"toml(
[[postgresql.tables]]
collection = "things"
table = "thing_rows"
columns = { n = "bigint", label = "text", ratio = "double precision", at = "timestamptz:ns", flag = "boolean", blob = "bytea" }
indexes = ["label"]
)toml"));
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  const std::string nul("a\0b", 3);
  std::vector<CommandSpec> changes = {
      Upsert("things", "good",
             {{"n", std::int64_t{1} << 60},
              {"label", std::string("fine")},
              {"ratio", std::int64_t{3}},
              {"at", std::int64_t{1'000'000'000}},
              {"flag", true},
              {"blob", Bytes{std::string("\x01\x02", 2)}}}),
      Upsert("things", "bad_n", {{"n", std::string("twelve")}, {"label", std::string("x")}}),
      Upsert("things", "bad_ratio", {{"ratio", std::string("1.5")}}),
      Upsert("things", "long_label", {{"label", std::string(3000, 'l')}}),
      Upsert("things", "nul_label", {{"label", nul}}),
      Upsert("things", "bad_at", {{"at", 1.5}}),
  };
  auto r = (*client)->Execute(changes);
  REQUIRE(r.ok());
  REQUIRE(testing::WaitPgCheckpoint(pg, r.seq));
  CHECK(pg.Exec("SELECT count(*) FROM thing_rows")[0][0].as<int>() == 6);
  auto good = pg.Exec(
      "SELECT n, label, ratio, at, flag, encode(blob, 'hex'), entity->>'n', entity->>'blob' "
      "FROM thing_rows WHERE key = 'good'");
  REQUIRE(good.size() == 1);
  CHECK(good[0][0].as<std::int64_t>() == std::int64_t{1} << 60);
  CHECK(good[0][1].as<std::string>() == "fine");
  CHECK(good[0][2].as<double>() == 3.0);
  CHECK(good[0][3].as<std::string>() == "1970-01-01 00:00:01+00");
  CHECK(good[0][4].as<bool>());
  CHECK(good[0][5].as<std::string>() == "0102");
  CHECK(good[0][6].as<std::string>() == "1152921504606846976");  // past 2^53: a string
  CHECK(good[0][7].as<std::string>() == "AQI=");
  CHECK(pg.Exec("SELECT 1 FROM thing_rows WHERE key = 'bad_n' AND n IS NULL AND label = 'x'")
            .size() == 1);
  CHECK(pg.Exec("SELECT 1 FROM thing_rows WHERE key = 'nul_label' AND entity->'label' = "
                "'null'::jsonb")
            .size() == 1);
  auto parked = pg.Exec(
      "SELECT key, column_name, reason, seq, tenant, collection FROM cqrs_rejected ORDER BY key, "
      "column_name");
  std::vector<std::string> got;
  for (const auto& row : parked) {
    got.push_back(fmt::format("{} {}: {}", row[0].c_str(), row[1].c_str(), row[2].c_str()));
    CHECK(row[3].as<std::uint64_t>() <= r.seq);
    CHECK(row[4].as<std::string>() == "default");
    CHECK(row[5].as<std::string>() == "things");
  }
  CHECK(got == std::vector<std::string>{
                   "bad_at at: a double in a timestamptz:ns column",
                   "bad_n n: a string in a bigint column",
                   "bad_ratio ratio: a string in a double precision column",
                   "long_label label: a string longer than 2048 bytes in an indexed column",
                   "nul_label entity: field label: a string holding NUL (jsonb cannot): null there",
                   "nul_label label: a string holding NUL (PostgreSQL text cannot)",
               });
  auto [code, stats] =
      testing::RunCli(fmt::format("stats --json --config {} --data {}", p.config_path, p.data_dir));
  REQUIRE(code == 0);
  CHECK_THAT(stats, Catch::Contains("\"postgresql_rejected\":6,"));
  auto [pcode, listed] =
      testing::RunCli(fmt::format("pg rejected --config {} --data {}", p.config_path, p.data_dir));
  CHECK(pcode == 0);
  CHECK_THAT(listed, Catch::Contains("bad_n") && Catch::Contains("a string in a bigint column"));
}

TEST_CASE("Two sinks of one name: one applies, the other waits and takes over when it stops",
          "[process][pgsink]") {
  testing::TempDir dir;
  testing::PostgresServer pg;
  testing::Pipeline p(dir, SinkPipeline(pg, kOrdersTable));
  auto writer = p.StartProcess("cqrs-writer");
  testing::Pipeline::WaitAnswering(p.writer);
  auto projector = p.StartProcess("cqrs-projector");
  auto reader = p.StartProcess("cqrs-reader", {"--index", "0"});
  testing::Pipeline::WaitAnswering(p.readers[0]);
  auto first = p.StartProcess("cqrs-pgsink");
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  std::uint64_t seq = WriteOrders(**client, 300);
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  auto second = p.StartProcess("cqrs-pgsink");
  REQUIRE(testing::WaitFor(
      [&] {
        return testing::ReadFile(p.log_path)
                   .find("another cqrs-pgsink named 'cqrs' is applying the log to this database") !=
               std::string::npos;
      },
      std::chrono::seconds(30)));
  seq = WriteOrders(**client, 300, 1000);
  first->Signal(SIGKILL);
  first->Wait(std::chrono::seconds(10));
  seq = WriteOrders(**client, 300, 2000);
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  CHECK(second->running());
  CheckTableEqualsReadStore(pg, **client, "orders", "orders", seq);
  for (auto* c : {second.get(), reader.get(), projector.get(), writer.get()}) {
    c->Signal(SIGTERM);
    c->Wait(std::chrono::seconds(15));
  }
}

TEST_CASE("Row-level security: a SQL role sees the rows of its tenant only", "[process][pgsink]") {
  testing::TempDir dir;
  testing::PostgresServer pg;
  auto config = SinkPipeline(pg, kOrdersTable, "row_level_security = true");
  config.security = true;
  testing::Pipeline p(dir, config);
  const auto alice = p.AddPrincipal("alice", "tenant_a", {"*"}, {"*"});
  const auto bob = p.AddPrincipal("bob", "tenant_b", {"*"}, {"*"});
  p.StartUp();
  std::uint64_t seq = 0;
  for (const auto& [who, n] : {std::pair{alice, 40}, std::pair{bob, 25}}) {
    auto client = Client::Connect(p.client_options(who));
    REQUIRE(client.ok());
    for (int i = 0; i < n; ++i) {
      auto r = (*client)->Execute(
          {Upsert("orders", fmt::format("o{}", i), {{"status", std::string("open")}})});
      REQUIRE(r.ok());
      seq = std::max(seq, r.seq);
    }
  }
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  pg.Exec(
      "CREATE ROLE sql_a LOGIN; CREATE ROLE sql_b LOGIN; CREATE ROLE sql_none LOGIN; "
      "GRANT SELECT ON orders TO sql_a, sql_b, sql_none; "
      "INSERT INTO cqrs_tenant_roles VALUES ('sql_a', 'tenant_a'), ('sql_b', 'tenant_b')");
  auto count = [&](const std::string& role, const std::string& sql) {
    return pg.Exec(sql, role)[0][0].as<int>();
  };
  CHECK(count("postgres", "SELECT count(*) FROM orders") == 65);
  CHECK(count("sql_a", "SELECT count(*) FROM orders") == 40);
  CHECK(count("sql_a", "SELECT count(*) FROM orders WHERE tenant <> 'tenant_a'") == 0);
  CHECK(count("sql_b", "SELECT count(*) FROM orders") == 25);
  CHECK(count("sql_none", "SELECT count(*) FROM orders") == 0);
  // A role sees its own mappings only.
  CHECK(count("sql_a", "SELECT count(*) FROM cqrs_tenant_roles") == 1);
}

TEST_CASE(
    "issue #22: a sink added after retention cut the log fills its tables from the newest "
    "state checkpoint, then follows the log; a table rebuild does the same",
    "[process][pgsink][retention]") {
  testing::TempDir dir;
  testing::PostgresServer pg;
  testing::PipelineConfig config;
  config.readers = 1;
  config.writer_toml = "checkpoint_interval_events = 500\ncheckpoint_interval_s = 1\n";
  config.extra_toml = "[log]\nkeep_events = 200\nstep_events = 100\n";
  testing::Pipeline p(dir, config);
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  std::uint64_t seq = WriteOrders(**client, 1500);
  // The projector keeps up and checkpoints follow: retention removes all but the tail.
  REQUIRE(testing::WaitFor([&] { return testing::LogFirstSeq(p.data_dir) > 500; },
                           std::chrono::seconds(30)));

  // Only now is a sink configured: its first batch would start at seq 1, which is gone.
  testing::WriteFile(p.config_path, testing::ReadFile(p.config_path) +
                                        fmt::format("[postgresql]\ndsn = \"{}\"\nretry_max_ms = "
                                                    "200\n{}\n",
                                                    pg.dsn(), kOrdersTable));
  auto sink = p.StartProcess("cqrs-pgsink");
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  CheckTableEqualsReadStore(pg, **client, "orders", "orders", seq);
  CHECK_THAT(testing::ReadFile(p.log_path), Catch::Contains("entities from state checkpoint"));
  CHECK(pg.Exec("SELECT count(*) FROM orders WHERE status = 'cancelled'")[0][0].as<int>() > 0);

  // Then the log after the checkpoint, and on.
  seq = WriteOrders(**client, 700, 3000);
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  CheckTableEqualsReadStore(pg, **client, "orders", "orders", seq);

  // cqrs pg rebuild: the shadow table would replay from seq 1; it is seeded the same way.
  auto [code, out] = testing::RunCli(
      fmt::format("pg rebuild --config {} --data {} 2>&1", p.config_path, p.data_dir));
  INFO(out);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("rebuilt and swapped in"));
  const std::string log = testing::ReadFile(p.log_path);
  const auto first = log.find("entities from state checkpoint");
  CHECK(log.find("entities from state checkpoint", first + 1) != std::string::npos);  // twice
  seq = WriteOrders(**client, 300, 5000);
  REQUIRE(testing::WaitPgCheckpoint(pg, seq));
  CheckTableEqualsReadStore(pg, **client, "orders", "orders", seq);
  sink->Signal(SIGTERM);
  CHECK(sink->Wait(std::chrono::seconds(20)) == 0);
}

}  // namespace cqrs
