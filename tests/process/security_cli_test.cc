// cqrs keygen and cqrs principal through the real binary: files, output, exit codes, messages.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "tests/support/writer_process.h"

namespace cqrs {
namespace {

struct Run {
  int exit_code;
  std::string out;  // stdout and stderr
};

Run Cqrs(const std::string& args) {
  std::string out =
      testing::RunShell(fmt::format("{} {} 2>&1; echo \"exit=$?\"", testing::CliBinary(), args));
  auto at = out.rfind("exit=");
  return {std::atoi(out.c_str() + at + 5), out.substr(0, at)};
}

}  // namespace

TEST_CASE("cqrs keygen and cqrs principal edit the principals file", "[process][security]") {
  testing::TempDir dir;  // Z85 keys hold shell characters: they are passed in '' below
  std::string file = "--file " + (dir / "principals.toml");
  Run key = Cqrs(fmt::format("keygen svc --dir {}", dir.path()));
  REQUIRE(key.exit_code == 0);
  CHECK(std::filesystem::exists(dir / "svc.key"));
  std::string public_key = key.out.substr(key.out.rfind("\n", key.out.size() - 2) + 1, 40);
  CHECK(Cqrs(fmt::format("keygen svc --dir {}", dir.path())).exit_code == 1);  // kept

  Run add =
      Cqrs(fmt::format("principal add svc --tenant acme --key-file {} --read orders,items "
                       "--write orders {}",
                       dir / "svc.pub", file));
  INFO(add.out);
  REQUIRE(add.exit_code == 0);
  Run list = Cqrs("principal list " + file);
  CHECK(list.exit_code == 0);
  CHECK(list.out == fmt::format("{{\"name\":\"svc\",\"tenant\":\"acme\",\"public_key\":\"{}\","
                                "\"read\":[\"orders\",\"items\"],\"write\":[\"orders\"],"
                                "\"disabled\":false}}\n",
                                public_key));
  CHECK(Cqrs("principal disable svc " + file).exit_code == 0);
  CHECK_THAT(Cqrs("principal list " + file).out, Catch::Contains("\"disabled\":true"));
  CHECK(Cqrs("principal enable svc " + file).exit_code == 0);
  CHECK_THAT(Cqrs("principal list " + file).out, Catch::Contains("\"disabled\":false"));

  // Refusals: each names what is wrong, and the file is unchanged.
  const std::string before = testing::ReadFile(dir / "principals.toml");
  struct Case {
    std::string args;
    int exit_code;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"principal add svc --tenant acme --key-file " + (dir / "svc.pub"), 1,
            "a principal named svc exists"},
           {"principal add other --tenant acme --key '" + public_key + "'", 1,
            "principal svc already has this public key"},
           {"principal add x --tenant Acme --key '" + public_key + "'", 2, "tenant \"Acme\""},
           {"principal add x --tenant acme --key nope", 2, "public_key must be 40 Z85"},
           {"principal add x --tenant acme", 2, "--key or --key-file is required"},
           {"principal add x --tenant acme --key-file " + (dir / "none.pub"), 1, "none.pub"},
           {"principal disable nobody", 1, "no principal named nobody"},
       }) {
    Run r = Cqrs(c.args + " " + file);
    INFO(c.args << "\n" << r.out);
    CHECK(r.exit_code == c.exit_code);
    CHECK_THAT(r.out, Catch::Contains(c.message));
  }
  CHECK(testing::ReadFile(dir / "principals.toml") == before);
}

}  // namespace cqrs
