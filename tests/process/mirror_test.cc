// cqrs-mirror against a real nats-server (issue #19): `cqrs up` starts it when [mirror] names
// NATS servers; the stream then holds every committed event once, in order, in segments whose
// ranges are contiguous; `cqrs stats` shows how far it is behind; a mirror refuses a stream that
// holds another write store's log, and starts again from the stream's tip after a restart of its
// own or of NATS.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "client/client.h"
#include "shm/control_block.h"
#include "tests/support/nats_server.h"
#include "tests/support/pipeline.h"
#include "tests/support/writer_process.h"

namespace cqrs {
namespace {

testing::PipelineConfig MirroredPipeline(const std::string& url, const std::string& extra = "") {
  testing::PipelineConfig c;
  c.readers = 1;
  c.extra_toml = fmt::format("[mirror]\nnats = \"{}\"\nreplicas = 1\n{}", url, extra);
  return c;
}

// Writes `n` upserts in batches of 10 commands per request; returns the last seq.
std::uint64_t Write(Client& client, int n, int from = 0) {
  CommandResult last{};
  for (int i = from; i < from + n; i += 10) {
    std::vector<CommandSpec> batch;
    for (int j = i; j < std::min(i + 10, from + n); ++j)
      batch.push_back(Upsert(
          "m", fmt::format("k{}", j % 300),
          {{"i", std::int64_t{j}}, {"pad", std::string(static_cast<std::size_t>(j % 97), 'x')}}));
    last = client.Execute(batch);
    REQUIRE(last.ok());
  }
  return last.seq;
}

}  // namespace

TEST_CASE("cqrs up mirrors every committed event to JetStream once, in order, across restarts",
          "[process][mirror]") {
  testing::TempDir dir;
  testing::NatsServer nats(dir);
  testing::Pipeline p(
      dir, MirroredPipeline(nats.url(), "max_message_bytes = 69632\npublish_timeout_ms = 1000\n"));
  p.expect_restarts = true;  // the mirror is killed below
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  std::uint64_t seq = Write(**client, 2000);
  REQUIRE(testing::WaitStreamAt(nats.url(), "cqrs", p.data_dir, seq, std::chrono::seconds(30)));

  // The lag is in cqrs stats, and the mirror's events/messages in its row.
  auto [code, stats] =
      testing::RunCli(fmt::format("stats --json --config {} --data {}", p.config_path, p.data_dir));
  REQUIRE(code == 0);
  CHECK_THAT(stats, Catch::Contains(fmt::format("\"mirrored_seq\":{},", seq)));
  CHECK_THAT(stats, Catch::Contains("{\"role\":\"nats\","));

  // kill -9 mid-stream, twice: `cqrs up` restarts it; it reads the tip and goes on from there.
  auto control = shm::ControlBlock::Attach(p.data_dir, 1024);
  REQUIRE(control.ok());
  for (int round = 0; round < 2; ++round) {
    const auto pid = static_cast<pid_t>(control->slot(shm::kMirrorSlot).pid.load());
    REQUIRE(pid > 0);
    seq = Write(**client, 500, 2000 + round * 500);
    REQUIRE(kill(pid, SIGKILL) == 0);
    seq = Write(**client, 500, 10000 + round * 500);
    REQUIRE(testing::WaitFor(
        [&] { return static_cast<pid_t>(control->slot(shm::kMirrorSlot).pid.load()) != pid; },
        std::chrono::seconds(30)));
  }
  REQUIRE(testing::WaitStreamAt(nats.url(), "cqrs", p.data_dir, seq, std::chrono::seconds(30)));

  // NATS itself killed -9 while the writes go on, then started again: the mirror retries,
  // reconnects, reads the tip and catches up.
  nats.Kill(SIGKILL);
  seq = Write(**client, 300, 20000);
  nats.Start();
  REQUIRE(testing::WaitStreamAt(nats.url(), "cqrs", p.data_dir, seq, std::chrono::seconds(60)));
  testing::StreamCheck check = testing::CheckStream(nats.url(), "cqrs", p.data_dir);
  INFO(check.problem);
  CHECK(check.problem.empty());
  CHECK(check.last_seq == seq);
  // Segments carry many events each (at most 69632 bytes): far fewer messages than events.
  CHECK(check.messages < seq / 4);
  CHECK(check.messages > seq * 100 / 69632);
}

TEST_CASE("A mirror refuses a stream that holds another write store's log", "[process][mirror]") {
  testing::TempDir dir, other;
  testing::NatsServer nats(dir);
  {
    testing::Pipeline p(dir, MirroredPipeline(nats.url()));
    p.StartUp();
    auto client = Client::Connect(p.client_options());
    REQUIRE(client.ok());
    const std::uint64_t seq = Write(**client, 50);
    REQUIRE(testing::WaitStreamAt(nats.url(), "cqrs", p.data_dir, seq, std::chrono::seconds(30)));
  }
  // Another data directory (another store id) told to mirror into the same stream.
  testing::Pipeline q(other, MirroredPipeline(nats.url()));
  auto writer = q.StartProcess("cqrs-writer");
  testing::Pipeline::WaitAnswering(q.writer);
  auto mirror = q.StartProcess("cqrs-mirror");
  const int status = mirror->Wait(std::chrono::seconds(30));
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_THAT(testing::ReadFile(q.log_path),
             Catch::Contains("NATS stream cqrs was made for another write store"));
  writer->Signal(SIGTERM);
  writer->Wait(std::chrono::seconds(15));
}

namespace {

// A CA and a certificate for 127.0.0.1 signed by it, made with openssl in <dir>/tls.
std::string MakeCertificates(const testing::TempDir& dir) {
  const std::string tls = dir / "tls";
  testing::WriteFile(dir / "san.ext", "subjectAltName=IP:127.0.0.1\n");
  testing::RunShell(fmt::format(
      "mkdir -p {0} && cd {0} && "
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-keyout ca.key -out ca.pem -subj /CN=cqrs-test-ca 2>/dev/null && "
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
      "-out server.csr -subj /CN=127.0.0.1 2>/dev/null && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile {1} -out server.pem 2>/dev/null",
      tls, dir / "san.ext"));
  REQUIRE(std::filesystem::exists(tls + "/server.pem"));
  return tls;
}

}  // namespace

TEST_CASE("The mirror reaches NATS over TLS as a user, and is kept out without the password",
          "[process][mirror]") {
  testing::TempDir dir, other;
  const std::string tls = MakeCertificates(dir);
  testing::NatsNode node;
  node.config = fmt::format(
      "tls {{\n  cert_file: \"{0}/server.pem\"\n  key_file: \"{0}/server.key\"\n}}\n"
      "authorization {{\n  user: cqrs\n  password: s3cret-pw\n}}\n",
      tls);
  node.tls = true;
  testing::NatsServer nats(dir, node);
  const std::string password = dir / "nats.password";
  testing::WriteFile(password, "s3cret-pw\n");
  REQUIRE(chmod(password.c_str(), 0600) == 0);
  const std::string auth = fmt::format(
      "user = \"cqrs\"\npassword_file = \"{}\"\ntls_ca = \"{}/ca.pem\"\n", password, tls);
  {
    testing::Pipeline p(dir, MirroredPipeline(nats.url(), auth));
    p.StartUp();
    auto client = Client::Connect(p.client_options());
    REQUIRE(client.ok());
    const std::uint64_t seq = Write(**client, 200);
    auto control = shm::ControlBlock::Attach(p.data_dir, 1024);
    REQUIRE(control.ok());
    CHECK(testing::WaitFor([&] { return control->seqs().mirror_published_seq.load() == seq; },
                           std::chrono::seconds(30)));
  }

  // A password file others may read is refused at once; a wrong password is retried, logged.
  const std::string wrong = other / "wrong.password";
  testing::WriteFile(wrong, "not-it\n");
  REQUIRE(chmod(wrong.c_str(), 0644) == 0);
  testing::Pipeline q(other,
                      MirroredPipeline(nats.url(), fmt::format("user = \"cqrs\"\npassword_file = "
                                                               "\"{}\"\ntls_ca = \"{}/ca.pem\"\n",
                                                               wrong, tls)));
  q.expect_restarts = true;
  auto writer = q.StartProcess("cqrs-writer");
  testing::Pipeline::WaitAnswering(q.writer);
  auto mirror = q.StartProcess("cqrs-mirror");
  int status = mirror->Wait(std::chrono::seconds(30));
  REQUIRE(status != -1);
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_THAT(testing::ReadFile(q.log_path), Catch::Contains("may be read by others (mode 644)"));
  REQUIRE(chmod(wrong.c_str(), 0600) == 0);
  mirror = q.StartProcess("cqrs-mirror");
  CHECK(testing::WaitFor(
      [&] {
        return testing::ReadFile(q.log_path).find("Authorization Violation") != std::string::npos;
      },
      std::chrono::seconds(30)));
  CHECK(mirror->running());  // still trying: the servers' users may change
  mirror->Signal(SIGTERM);
  CHECK(mirror->Wait(std::chrono::seconds(15)) != -1);
  writer->Signal(SIGTERM);
  writer->Wait(std::chrono::seconds(15));
}

}  // namespace cqrs

namespace cqrs {

TEST_CASE("The mirror and a replica log in to NATS as an nkey user", "[process][mirror][replica]") {
  testing::TempDir dir, replica_dir, other;
  const std::string seed = dir / "user.nk";
  std::string pub = testing::RunShell(
      fmt::format("/usr/bin/python3 {}/tests/support/make_nkey.py {}", CQRS_SOURCE_DIR, seed));
  while (!pub.empty() && (pub.back() == '\n' || pub.back() == ' ')) pub.pop_back();
  REQUIRE(pub.size() == 56);
  REQUIRE(chmod(seed.c_str(), 0600) == 0);
  testing::NatsNode node;
  node.config = fmt::format("authorization {{\n  users = [ {{ nkey: {} }} ]\n}}\n", pub);
  testing::NatsServer nats(dir, node);
  const std::string auth = fmt::format("nkey = \"{}\"\nnkey_seed_file = \"{}\"\n", pub, seed);
  testing::Pipeline p(dir, MirroredPipeline(nats.url(), auth));
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  const std::uint64_t seq = Write(**client, 100);

  testing::PipelineConfig rc;
  rc.readers = 1;
  rc.replica = true;
  rc.extra_toml = fmt::format("[mirror]\nnats = \"{}\"\n{}", nats.url(), auth);
  testing::Pipeline replica(replica_dir, rc);
  replica.StartUp();
  auto control = shm::ControlBlock::Attach(replica.data_dir, 1024);
  REQUIRE(control.ok());
  CHECK(testing::WaitFor([&] { return control->seqs().projector_applied_seq.load() == seq; },
                         std::chrono::seconds(30)));

  // A seed others may read is refused at once, naming the file.
  REQUIRE(chmod(seed.c_str(), 0644) == 0);
  testing::Pipeline q(other, rc);
  auto refused = q.StartProcess("cqrs-replica");
  const int status = refused->Wait(std::chrono::seconds(30));
  REQUIRE(status != -1);
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_THAT(testing::ReadFile(q.log_path), Catch::Contains("mirror.nkey_seed_file " + seed +
                                                            " may be read by others (mode 644)"));
}

}  // namespace cqrs
