// The command-line contract of every binary (issue #21): --help and --version exit 0, a usage
// error exits 2 naming what was wrong; `cqrs ping` answers for a running pipeline and exits 3 for
// a server that does not answer; `cqrs load` exits 1 when an operation failed.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "base/version.h"
#include "tests/support/pipeline.h"
#include "tests/support/test_support.h"
#include "tests/support/writer_process.h"

namespace cqrs::testing {
namespace {

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

}  // namespace

TEST_CASE("every binary: --help and --version exit 0, a usage error exits 2", "[process][cli]") {
  const std::vector<std::pair<std::string, std::string>> binaries = {
      {CliBinary(), "cqrs"},
      {WriterBinary(), "cqrs-writer"},
      {ProjectorBinary(), "cqrs-projector"},
      {ReaderBinary(), "cqrs-reader"},
      {MirrorBinary(), "cqrs-mirror"},
      {ReplicaBinary(), "cqrs-replica"},
      {PgSinkBinary(), "cqrs-pgsink"}};
  for (const auto& [path, name] : binaries) {
    INFO(name);
    auto [code, out] = RunCommand(path + " --version");
    CHECK(code == 0);
    CHECK(out == name + " " + CQRS_VERSION_STRING + "\n");
    std::tie(code, out) = RunCommand(path + " --help");
    CHECK(code == 0);
    CHECK_THAT(out, Catch::Contains("--version"));
    // cqrs names a missing subcommand first: its flags are its subcommands'.
    const std::string command = name == "cqrs" ? path + " stats" : path;
    std::tie(code, out) = RunCommand(command + " --no-such-flag");
    CHECK(code == 2);
    CHECK_THAT(out, Catch::Contains("--no-such-flag"));
    std::tie(code, out) = RunCommand(command + " --log-level");  // a flag without its value
    CHECK(code == 2);
  }
  auto [code, out] = RunCli("put");  // a subcommand without its arguments
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("collection is required"));
  std::tie(code, out) = RunCli("load --clients 0");  // a value out of range
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("--clients"));
  std::tie(code, out) = RunCli("no-such-command");
  CHECK(code == 2);
  std::tie(code, out) = RunCli("put --help");
  CHECK(code == 0);
}

TEST_CASE("cqrs ping: the writer and every reader answer; a server that does not, exit 3",
          "[process][cli]") {
  TempDir dir;
  Pipeline p(dir);
  p.StartUp();
  const std::string flags = Join(p.common_flags());
  auto [code, out] = RunCli("ping --count 2 " + flags);
  INFO(out);
  CHECK(code == 0);
  CHECK_THAT(
      out, Catch::Contains("writer   " + p.writer + " ") && Catch::Contains(" ms InvalidArgument"));
  for (std::size_t i = 0; i < p.readers.size(); ++i)
    CHECK_THAT(out, Catch::Contains("reader" + std::to_string(i) + "  " + p.readers[i] + " ") &&
                        Catch::Contains(" ms NotFound seq "));

  // Nothing was written by the pings.
  std::tie(code, out) = RunCli("stats --json " + flags);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("\"committed_seq\":0"));

  const std::string nobody = "ipc://" + (dir / "nobody.sock");
  std::tie(code, out) = RunCli("ping --timeout 200 --readers " + nobody + " " + flags);
  CHECK(code == 3);
  CHECK_THAT(out, Catch::Contains("reader0  " + nobody + " no answer within 200 ms"));
  CHECK_THAT(out, Catch::Contains("writer   " + p.writer));
}

TEST_CASE(
    "cqrs load: exit 1 when an operation failed; progress, --json settings, --csv, --hgrm, "
    "--workload",
    "[process][cli]") {
  TempDir dir;
  PipelineConfig config;
  config.durability = "nosync";
  config.extra_toml = "[limits]\nmax_entity_bytes = 300\n";
  Pipeline p(dir, config);
  p.StartUp();
  const std::string flags = Join(p.common_flags());
  const std::string load =
      "load --clients 1 --pipeline 4 --requests 40 --warmup 0 --keys 100 " + flags + " --mix put=1";
  const std::string put_json = load + " --json";
  const std::string hgrm = dir / "lat.hgrm";
  auto [code, out] = RunCli(put_json + " --value-size 100 --hgrm " + hgrm);
  INFO(out);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("40/40 done (100%), ETA 0s") &&
                      Catch::Contains("\"settings\":{\"mix\":\"put=1\",\"clients\":1,"));
  std::ifstream distribution(hgrm);
  std::string first;
  std::getline(distribution, first);
  CHECK_THAT(first, Catch::Contains("Percentile"));  // one op ran: the file itself
  std::tie(code, out) = RunCli(load + ",get=1 --value-size 100 --csv");
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("op,ok,failed,indeterminate,per_sec,min_us,") &&
                      Catch::Contains("\nput,") && Catch::Contains("\nget,"));
  std::tie(code, out) = RunCli(put_json + " --csv");
  CHECK(code == 2);                                               // one format
  std::tie(code, out) = RunCli(put_json + " --value-size 1000");  // each entity over 300 bytes
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains("cqrs load: 40 operations failed, 0 indeterminate"));

  // YCSB's workloads: each runs its ops against the pipeline, every one answered.
  const std::string ycsb = "load --clients 2 --pipeline 4 --requests 400 --warmup 0 --keys 200 " +
                           flags + " --value-size 200 --csv --workload ";
  for (const auto& [workload, rows] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"a", {"\nget,", "\nput,"}},
           {"d", {"\nget,", "\ninsert,"}},
           {"e", {"\nscan,", "\ninsert,"}},
           {"f", {"\nget,", "\nmodify,"}}}) {
    std::tie(code, out) = RunCli(ycsb + workload);
    INFO("workload " << workload << ": " << out);
    CHECK(code == 0);
    CHECK_THAT(out, Catch::Contains("YCSB workload " + workload));
    for (const std::string& row : rows) CHECK_THAT(out, Catch::Contains(row));
  }
  std::tie(code, out) = RunCli(ycsb + "a --mix put=1");
  CHECK(code == 2);  // a workload is its own mix
}

}  // namespace cqrs::testing
