#include "base/config.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/support/test_support.h"

namespace cqrs {
namespace {

std::string Write(const testing::TempDir& dir, const std::string& text) {
  std::string path = dir / "config.toml";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("Config defaults follow DESIGN.md's endpoint plan", "[base][config]") {
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
}

}  // namespace cqrs
