#include "base/config.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>

#include "tests/support/test_support.h"

namespace cqrs {
namespace {

std::string Write(const testing::TempDir& dir, const std::string& text) {
  std::string path = dir / "config.toml";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("Config defaults follow the endpoint plan of docs/PROTOCOL.md", "[base][config]") {
  Config c;
  CHECK(c.WriterEndpoint() == "tcp://127.0.0.1:7101");
  c.base_port = 8000;
  CHECK(c.WriterEndpoint() == "tcp://127.0.0.1:8001");
  CHECK(c.limits.max_key_bytes == 507);
  CHECK(c.limits.remembered_replies >= 1024);
  CHECK(ValidateConfig(c).ok());
}

TEST_CASE("LoadConfigFile reads every section and flags override it", "[base][config]") {
  testing::TempDir dir;
  std::string path = Write(dir, R"(
data = "/var/lib/cqrs"
base_port = 9000
[writer]
durability = "nosync"
batch_max_requests = 64
[projector]
sync_read_store = true
[limits]
max_fields = 10
[cache]
slots = 1024
fill_ms = 0
)");
  CommonFlags flags;
  flags.config_file = path;
  flags.base_port = 9100;
  auto c = ResolveConfig(flags);
  REQUIRE(c.ok());
  CHECK(c->data_dir == "/var/lib/cqrs");
  CHECK(c->base_port == 9100);
  CHECK(c->writer.durability == Durability::kNoSync);
  CHECK(c->writer.batch_max_requests == 64);
  CHECK(c->limits.max_fields == 10);
  CHECK(c->projector.sync_read_store);
  CHECK(c->cache.slots == 1024);
  CHECK(c->cache.fill_ms == 0);
}

TEST_CASE("LoadConfigFile names an unknown key instead of ignoring it", "[base][config]") {
  testing::TempDir dir;
  Config c;
  Status s = LoadConfigFile(Write(dir, "[writer]\ndurabilty = \"sync\"\n"), &c);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("unknown config key writer.durabilty"));
}

TEST_CASE("LoadConfigFile names a mistyped key", "[base][config]") {
  testing::TempDir dir;
  Config c;
  Status s = LoadConfigFile(Write(dir, "[writer]\ndurability = \"fast\"\n"), &c);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("writer.durability must be \"sync\" or \"nosync\""));
  s = LoadConfigFile(Write(dir, "base_port = \"x\"\n"), &c);
  CHECK_THAT(s.message(), Catch::Contains("base_port must be an integer"));
  s = LoadConfigFile(Write(dir, "[projector]\nsync_read_store = 1\n"), &c);
  CHECK_THAT(s.message(), Catch::Contains("projector.sync_read_store must be true or false"));
  s = LoadConfigFile(Write(dir, "[limits]\nmax_fields = -1\n"), &c);
  CHECK_THAT(s.message(), Catch::Contains("limits.max_fields must be an integer in range"));
}

TEST_CASE("LoadConfigFile reports a syntax error with the file name", "[base][config]") {
  testing::TempDir dir;
  Config c;
  std::string path = Write(dir, "data = \n");
  Status s = LoadConfigFile(path, &c);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains(path));
}

TEST_CASE("ValidateConfig refuses limits the store cannot hold", "[base][config]") {
  Config c;
  c.limits.max_key_bytes = 512;
  Status s = ValidateConfig(c);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("limits.max_key_bytes"));
  c = Config();
  c.limits.remembered_replies = 10;
  CHECK_THAT(ValidateConfig(c).message(), Catch::Contains("remembered_replies"));
  c = Config();
  c.writer.max_map_size_mb = 1;
  CHECK_THAT(ValidateConfig(c).message(), Catch::Contains("max_map_size_mb"));
  c = Config();
  c.cache.slots = 1000;
  CHECK_THAT(ValidateConfig(c).message(), Catch::Contains("cache.slots must be 0 or a power of 2"));
  c = Config();
  c.cache.fill_ms = 60001;
  CHECK_THAT(ValidateConfig(c).message(), Catch::Contains("cache.fill_ms must be in 0..60000"));
}

TEST_CASE("[mirror] is read, split into servers and checked key by key", "[base][config]") {
  testing::TempDir dir;
  CommonFlags flags;
  flags.config_file = Write(dir, R"(
[mirror]
nats = "nats://10.0.0.1:4222, tls://n2:4222"
stream = "orders-log"
replicas = 1
tls_ca = "/etc/cqrs/nats-ca.pem"
)");
  auto c = ResolveConfig(flags);
  REQUIRE(c.ok());
  CHECK(c->mirror.on());
  CHECK(c->mirror.Servers() == std::vector<std::string>{"nats://10.0.0.1:4222", "tls://n2:4222"});
  CHECK(c->mirror.Subject() == "orders-log.log");
  CHECK(c->mirror.replicas == 1);
  CHECK_FALSE(Config().mirror.on());

  auto refused = [](const std::function<void(MirrorConfig&)>& change) {
    Config bad;
    bad.mirror.nats = "nats://127.0.0.1:4222";
    change(bad.mirror);
    return ValidateConfig(bad).message();
  };
  CHECK_THAT(refused([](MirrorConfig& m) { m.nats = "http://x:1"; }),
             Catch::Contains("mirror.nats server 'http://x:1' is not nats://host:port"));
  CHECK_THAT(refused([](MirrorConfig& m) { m.nats = "nats://a:1,"; }),
             Catch::Contains("mirror.nats server '' is not"));
  CHECK_THAT(refused([](MirrorConfig& m) { m.stream = "a.b"; }),
             Catch::Contains("mirror.stream must be 1..64 letters"));
  CHECK_THAT(refused([](MirrorConfig& m) { m.subject = "log.>"; }),
             Catch::Contains("mirror.subject must be tokens"));
  CHECK_THAT(refused([](MirrorConfig& m) { m.subject = "a..b"; }),
             Catch::Contains("mirror.subject must be tokens"));
  CHECK_THAT(refused([](MirrorConfig& m) { m.replicas = 0; }),
             Catch::Contains("mirror.replicas must be in 1..5"));
  CHECK_THAT(refused([](MirrorConfig& m) { m.max_message_bytes = 1000; }),
             Catch::Contains("mirror.max_message_bytes must be in 69632..8388608"));
  CHECK_THAT(refused([](MirrorConfig& m) { m.publish_timeout_ms = 5; }),
             Catch::Contains("mirror.publish_timeout_ms must be in 100..600000"));
  CHECK_THAT(refused([](MirrorConfig& m) { m.user = "cqrs"; }),
             Catch::Contains("mirror.password_file must be set together with mirror.user"));
  const std::string nkey = "U" + std::string(55, 'A');
  CHECK_THAT(refused([&](MirrorConfig& m) { m.nkey = nkey; }),
             Catch::Contains("mirror.nkey_seed_file must be set together with mirror.nkey"));
  CHECK_THAT(refused([](MirrorConfig& m) {
               m.nkey = "SUABC";
               m.nkey_seed_file = "u.nk";
             }),
             Catch::Contains("mirror.nkey must be an nkey user's public key"));
  CHECK_THAT(refused([&](MirrorConfig& m) {
               m.nkey = nkey;
               m.nkey_seed_file = "u.nk";
               m.user = "cqrs";
               m.password_file = "p";
             }),
             Catch::Contains("mirror.nkey and mirror.user are two ways to log in"));
  CHECK(refused([&](MirrorConfig& m) {
          m.nkey = nkey;
          m.nkey_seed_file = "u.nk";
        }).empty());
  CHECK_THAT(refused([](MirrorConfig& m) { m.tls_key = "k.pem"; }),
             Catch::Contains("mirror.tls_cert must be set together"));
  CHECK_THAT(refused([](MirrorConfig& m) { m.nats = "tls://n1:4222"; }),
             Catch::Contains("mirror.tls_ca must name the CA file"));
  CHECK(refused([](MirrorConfig& m) {
          m.nats = "tls://n1:4222";
          m.tls_ca = "ca.pem";
        }).empty());
  CHECK(refused([](MirrorConfig& m) { m.subject = "cqrs.log.v1"; }).empty());
}

}  // namespace cqrs

namespace cqrs {

TEST_CASE("Read models are declared per collection in [[collections]]", "[base][config]") {
  testing::TempDir dir;
  CommonFlags flags;
  flags.config_file = std::string(CQRS_SOURCE_DIR) + "/examples/orders.toml";
  auto c = ResolveConfig(flags);
  REQUIRE(c.ok());
  REQUIRE(c->collections.size() == 1);
  const CollectionSpec* orders = c->FindCollection("orders");
  REQUIRE(orders != nullptr);
  CHECK(orders->indexes == std::vector<std::string>{"status", "customer", "amount"});
  CHECK(orders->HasIndex("amount"));
  CHECK_FALSE(orders->HasIndex("qty"));
  REQUIRE(orders->aggregates.size() == 2);
  CHECK(orders->FindAggregate("by_customer")->group_by == "customer");
  CHECK(orders->FindAggregate("by_customer")->sum == "amount");
  CHECK(orders->FindAggregate("by_status")->sum.empty());
  CHECK(c->FindCollection("items") == nullptr);
  CHECK(c->ReadModelFingerprint() ==
        "orders:i=amount,customer,status;a=by_customer(customer,amount),by_status(status,)");

  // The fingerprint ignores the order of declaration.
  Config reordered;
  REQUIRE(LoadConfigFile(Write(dir, R"(
[[collections]]
name = "orders"
indexes = ["amount", "status", "customer"]
aggregates = [{ name = "by_status", group_by = "status" },
              { name = "by_customer", group_by = "customer", sum = "amount" }]
)"),
                         &reordered)
              .ok());
  CHECK(reordered.ReadModelFingerprint() == c->ReadModelFingerprint());

  // A fingerprint gives back its declarations.
  auto parsed = ParseReadModelFingerprint(c->ReadModelFingerprint());
  REQUIRE(parsed.ok());
  Config again;
  again.collections = parsed.value();
  CHECK(again.ReadModelFingerprint() == c->ReadModelFingerprint());
  CHECK(ParseReadModelFingerprint("").value().empty());
  CHECK_FALSE(ParseReadModelFingerprint("orders").ok());
  CHECK_FALSE(ParseReadModelFingerprint("orders:i=a;a=x(b").ok());
}

TEST_CASE("A bad read-model declaration is refused with the key that is wrong", "[base][config]") {
  testing::TempDir dir;
  auto check = [&](const std::string& toml, const std::string& expected) {
    CommonFlags flags;
    flags.config_file = Write(dir, toml);
    auto c = ResolveConfig(flags);
    INFO(toml);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == Code::kInvalidArgument);
    CHECK_THAT(c.status().message(), Catch::Contains(expected));
  };
  check("[[collections]]\nname = \"Orders\"\n", "collections[0] name 'Orders' is not");
  check("[[collections]]\nname = \"o\"\n[[collections]]\nname = \"o\"\n",
        "collections[1] declares 'o' a second time");
  check("[[collections]]\nname = \"o\"\nindexes = [\"a\", \"a\"]\n", "indexes 'a' twice");
  check("[[collections]]\nname = \"o\"\nindexes = [\"1a\"]\n", "index '1a' is not a field name");
  check("[[collections]]\nname = \"o\"\nindexes = \"a\"\n",
        "collections[0].indexes must be an array of strings");
  check("[[collections]]\nname = \"o\"\nindex = [\"a\"]\n",
        "unknown config key collections[0].index");
  check(
      "[[collections]]\nname = \"o\"\naggregates = [{ name = \"x\", group_by = \"a\", sun = \"b\" "
      "}]\n",
      "unknown config key collections[0].aggregates[0].sun");
  check("[[collections]]\nname = \"o\"\naggregates = [{ name = \"x\" }]\n",
        "aggregate 'x' group_by '' is not a field name");
  check(
      "[[collections]]\nname = \"o\"\naggregates = [{ name = \"x\", group_by = \"a\" },"
      " { name = \"x\", group_by = \"b\" }]\n",
      "declares aggregate 'x' twice");
  check("[[collections]]\nname = \"o\"\naggregates = [{ name = \"9x\", group_by = \"a\" }]\n",
        "aggregate name '9x' is not");
  check("collections = 5\n", "config key collections must be an array of tables");
}

}  // namespace cqrs

namespace cqrs {

TEST_CASE("[security] turns security on and is checked", "[base][config]") {
  testing::TempDir dir;
  Config c;
  c.data_dir = dir / "data";
  CHECK_FALSE(c.SecurityOn());
  CHECK(c.PrincipalsPath() == dir / "data/principals.toml");
  REQUIRE(LoadConfigFile(Write(dir,
                               "[security]\nserver_key = \"/k/server.key\"\n"
                               "principals = \"/etc/p.toml\"\nhandshake_timeout_ms = 700\n"),
                         &c)
              .ok());
  CHECK(c.SecurityOn());
  CHECK(c.PrincipalsPath() == "/etc/p.toml");
  CHECK(c.security.handshake_timeout_ms == 700);
  Status s = LoadConfigFile(Write(dir, "[security]\nserver_keys = \"x\"\n"), &c);
  CHECK_THAT(s.message(), Catch::Contains("unknown config key security.server_keys"));
  c.security.handshake_timeout_ms = 10;
  CHECK_THAT(ValidateConfig(c).message(), Catch::Contains("security.handshake_timeout_ms"));
}

}  // namespace cqrs

namespace cqrs {

TEST_CASE("[postgresql] and its tables are read, with their columns in name order",
          "[base][config]") {
  testing::TempDir dir;
  CommonFlags flags;
  flags.config_file = Write(dir, R"(
[postgresql]
dsn = "host=/run/postgresql dbname=cqrs user=cqrs"
row_level_security = true

[[postgresql.tables]]
collection = "orders"
columns = { status = "text", customer = "text", amount = "double precision", at = "timestamptz:ns" }
indexes = ["status", "customer"]

[[postgresql.tables]]
collection = "users"
table = "app_users"
)");
  auto c = ResolveConfig(flags);
  REQUIRE(c.ok());
  const PostgresConfig& pg = c->postgresql;
  CHECK(pg.on());
  CHECK(pg.row_level_security);
  CHECK(pg.name == "cqrs");
  REQUIRE(pg.tables.size() == 2);
  CHECK(pg.tables[0].table == "orders");  // the collection's name by default
  std::vector<std::string> columns;
  for (const auto& col : pg.tables[0].columns)
    columns.push_back(std::string(col.name) + ":" + std::string(PgTypeName(col.type)));
  CHECK(columns == std::vector<std::string>{"amount:double precision", "at:timestamptz:ns",
                                            "customer:text", "status:text"});
  CHECK(PgSqlType(pg.tables[0].columns[1].type) == "timestamptz");
  CHECK(pg.tables[1].table == "app_users");
  CHECK(pg.FindTable("users") == &pg.tables[1]);
  CHECK_FALSE(Config().postgresql.on());

  flags.config_file = std::string(CQRS_SOURCE_DIR) + "/examples/orders-postgresql.toml";
  auto example = ResolveConfig(flags);
  INFO(example.status().ToString());
  REQUIRE(example.ok());
  CHECK(example->postgresql.FindTable("orders")->indexes.size() == 2);
}

TEST_CASE("A bad [postgresql] declaration is refused with the key that is wrong",
          "[base][config]") {
  testing::TempDir dir;
  auto check = [&](const std::string& tables, const std::string& expected) {
    CommonFlags flags;
    flags.config_file = Write(dir, "[postgresql]\ndsn = \"dbname=x\"\n" + tables);
    auto c = ResolveConfig(flags);
    INFO(tables);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == Code::kInvalidArgument);
    CHECK_THAT(c.status().message(), Catch::Contains(expected));
  };
  const std::string t = "[[postgresql.tables]]\ncollection = \"o\"\n";
  check("", "postgresql.tables declares no table");
  check(t + "columns = { a = \"int\" }\n",
        "postgresql.tables[0].columns.a type 'int' is not text, bigint");
  check(t + "columns = { a = 5 }\n", "postgresql.tables[0].columns.a must be a string");
  check(t + "columns = { key = \"text\" }\n",
        "postgresql.tables[0].columns.key is a column every table has already");
  check(t + "columns = { \"a-b\" = \"text\" }\n", "'a-b' is not a field name");
  check(t + "indexes = [\"a\"]\n", "postgresql.tables[0].indexes 'a' is not one of the declared");
  check(t + "table = \"Orders\"\n", "postgresql.tables[0].table 'Orders' is not");
  check(t + "table = \"cqrs_x\"\n", "or is cqrs_*");
  check(t + t, "postgresql.tables[1].collection 'o' has a table already");
  check(t + "[[postgresql.tables]]\ncollection = \"p\"\ntable = \"o\"\n",
        "postgresql.tables[1].table 'o' is declared twice");
  check(t + "colums = {}\n", "unknown config key postgresql.tables[0].colums");
  check("name = \"A\"\n" + t, "postgresql.name must be 1..64");
  check("batch_max_events = 0\n" + t, "postgresql.batch_max_events must be in 1..100000");
}

}  // namespace cqrs

namespace cqrs {

TEST_CASE("[metrics] is read and its listen address checked", "[base][config]") {
  testing::TempDir dir;
  Config c;
  REQUIRE(LoadConfigFile(
              Write(dir, "[metrics]\nlisten = \"127.0.0.1:9464\"\nready_max_lag_events = 5\n"), &c)
              .ok());
  CHECK(c.metrics.on());
  CHECK(c.metrics.ready_max_lag_events == 5);
  CHECK(ValidateConfig(c).ok());
  c.metrics.listen = "localhost";
  CHECK_THAT(ValidateConfig(c).message(),
             Catch::Contains("config metrics.listen 'localhost' must be HOST:PORT"));
  c.metrics.listen = "127.0.0.1:70000";
  CHECK(!ValidateConfig(c).ok());
  Config other;
  CHECK_THAT(LoadConfigFile(Write(dir, "[metrics]\nport = 1\n"), &other).message(),
             Catch::Contains("unknown config key metrics.port"));
  std::string host;
  int port = 0;
  REQUIRE(ParseListenAddress("[::1]:9464", "x", &host, &port).ok());
  CHECK(host == "::1");
  CHECK(port == 9464);
}

}  // namespace cqrs

namespace cqrs {

TEST_CASE("[log] retention: ages, counts and what is refused", "[base][config]") {
  testing::TempDir dir;
  Config c;
  CHECK(!c.log.retains());
  REQUIRE(LoadConfigFile(Write(dir, "[log]\nkeep = \"7d\"\nkeep_events = 500\n"), &c).ok());
  CHECK(c.log.keep_s == 7 * 86400);
  CHECK(c.log.keep_events == 500);
  CHECK(c.log.retains());
  CHECK(ParseAge("90s").value() == 90);
  CHECK(ParseAge("30m").value() == 1800);
  CHECK(ParseAge("12h").value() == 43200);
  for (const char* bad : {"", "7", "d", "0d", "-1d", "7w", "7 d", "1.5h", "40000d"}) {
    INFO(bad);
    CHECK(ParseAge(bad).status().code() == Code::kInvalidArgument);
  }
  Config d;
  Status s = LoadConfigFile(Write(dir, "[log]\nkeep = \"a week\"\n"), &d);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("config log.keep 'a week' must be a positive age"));
  d.log.step_events = 0;
  CHECK_THAT(ValidateConfig(d).message(), Catch::Contains("log.step_events"));
}

}  // namespace cqrs
