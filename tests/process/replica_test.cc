// cqrs-replica against a real nats-server (issue #19): `cqrs up --replica --nats URL` on another
// data directory copies the primary's log from the stream and serves it with its own projector
// and readers: a read there with min_seq = a seq acknowledged on the primary answers from a
// snapshot at least that new (or DeadlineExceeded while the stream is behind), its read store
// dumps equal to the primary's at the same seq, across kill -9 of the replica and a faked machine
// restart of its host, and a writer refuses to run on a replica's copy.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "client/client.h"
#include "shm/control_block.h"
#include "tests/support/nats_server.h"
#include "tests/support/pipeline.h"
#include "tests/support/writer_process.h"

namespace cqrs {
namespace {

// Upserts k0..k199 in batches of 10 commands per request, `n` commands from `from`; returns the
// last seq.
std::uint64_t Write(Client& client, int n, int from) {
  CommandResult last{};
  for (int i = from; i < from + n; i += 10) {
    std::vector<CommandSpec> batch;
    for (int j = i; j < std::min(i + 10, from + n); ++j)
      batch.push_back(Upsert("m", fmt::format("k{}", j % 200), {{"i", std::int64_t{j}}}));
    last = client.Execute(batch);
    REQUIRE(last.ok());
  }
  return last.seq;
}

std::int64_t IntField(const wire::EntityData& e, const std::string& name) {
  for (const auto& f : e.fields)
    if (f.name == name && std::holds_alternative<std::int64_t>(f.value))
      return std::get<std::int64_t>(f.value);
  return -1;
}

std::string Dump(const testing::Pipeline& p) {
  auto [code, out] =
      testing::RunCli(fmt::format("dump --config {} --data {}", p.config_path, p.data_dir));
  REQUIRE(code == 0);
  return out;
}

}  // namespace

TEST_CASE("A read replica copies the stream and reads there are never older than min_seq",
          "[process][replica]") {
  testing::TempDir primary_dir, replica_dir;
  testing::NatsServer nats(primary_dir);
  testing::PipelineConfig pc;
  pc.readers = 1;
  pc.extra_toml = fmt::format("[mirror]\nnats = \"{}\"\nreplicas = 1\n", nats.url());
  testing::Pipeline primary(primary_dir, pc);
  primary.StartUp({"--stream", "orders_log"});  // passed on to the mirror, as to the replica
  auto writes = Client::Connect(primary.client_options());
  REQUIRE(writes.ok());
  std::uint64_t seq = Write(**writes, 1000, 0);

  // The replica host: no [mirror] in its config, the servers on the command line.
  testing::PipelineConfig rc;
  rc.readers = 2;
  rc.replica = true;
  testing::Pipeline replica(replica_dir, rc);
  replica.expect_restarts = true;  // its cqrs-replica is killed below
  replica.StartUp({"--nats", nats.url(), "--stream", "orders_log"});
  // A client that writes on the primary and reads on the replica's readers.
  ClientOptions o = primary.client_options();
  o.reader_endpoints = replica.readers;
  auto client = Client::Connect(o);
  REQUIRE(client.ok());
  QueryResult got = (*client)->Get("m", "k7", ReadOptions{seq, std::chrono::seconds(30)});
  REQUIRE(got.status == Code::kOk);
  CHECK(got.seq >= seq);

  // Read-your-writes through the replica while its copier is killed -9 mid-stream.
  auto control = shm::ControlBlock::Attach(replica.data_dir, 1024);
  REQUIRE(control.ok());
  for (int round = 0; round < 3; ++round) {
    const auto pid = static_cast<pid_t>(control->slot(shm::kMirrorSlot).pid.load());
    REQUIRE(pid > 0);
    CommandResult w = (*client)->Execute({Upsert("m", "mine", {{"round", std::int64_t{round}}})});
    REQUIRE(w.ok());
    Write(**writes, 300, 1000 + round * 300);
    REQUIRE(kill(pid, SIGKILL) == 0);
    seq = Write(**writes, 300, 5000 + round * 300);
    // Default min_seq: this client's own last write.
    QueryResult mine =
        (*client)->Get("m", "mine", ReadOptions{std::nullopt, std::chrono::seconds(30)});
    REQUIRE(mine.status == Code::kOk);
    CHECK(mine.seq >= w.seq);
    REQUIRE(mine.entities.size() == 1);
    CHECK(IntField(mine.entities[0], "round") == round);
    REQUIRE(testing::WaitFor(
        [&] { return static_cast<pid_t>(control->slot(shm::kMirrorSlot).pid.load()) != pid; },
        std::chrono::seconds(30)));
  }

  // Both read stores at the primary's last seq: equal, entity for entity, checkpoint included.
  auto primary_control = shm::ControlBlock::Attach(primary.data_dir, 1024);
  REQUIRE(primary_control.ok());
  REQUIRE(testing::WaitFor(
      [&] {
        return primary_control->seqs().projector_applied_seq.load() == seq &&
               control->seqs().projector_applied_seq.load() == seq;
      },
      std::chrono::seconds(60)));
  CHECK(Dump(replica) == Dump(primary));

  // A faked machine restart of the replica host: its copy of the log and its read store were
  // never fsynced, so both are made again (copied, rebuilt) and dump equal once more.
  replica.up->Signal(SIGTERM);
  REQUIRE(replica.up->Wait(std::chrono::seconds(20)) != -1);
  for (const char* dir : {"/write/log", "/read"})
    testing::WriteFile(replica.data_dir + dir + "/unsynced", "another-boot\n");
  replica.StartUp({"--nats", nats.url(), "--stream", "orders_log"});
  auto restarted = shm::ControlBlock::Attach(replica.data_dir, 1024);
  REQUIRE(restarted.ok());
  REQUIRE(testing::WaitFor([&] { return restarted->seqs().projector_applied_seq.load() == seq; },
                           std::chrono::seconds(60)));
  CHECK(Dump(replica) == Dump(primary));
  CHECK_THAT(testing::ReadFile(replica.log_path),
             Catch::Contains("so it is removed and copied again from NATS stream orders_log"));
  // `cqrs rebuild` on a replica: a read store built afresh from its copy, switched in.
  auto [rebuilt, rebuild_out] = testing::RunCli(
      fmt::format("rebuild --config {} --data {}", replica.config_path, replica.data_dir));
  INFO(rebuild_out);
  CHECK(rebuilt == 0);
  CHECK(Dump(replica) == Dump(primary));

  // NATS down: the primary goes on, the replica cannot see it; a read asking for the new seq
  // waits, then DeadlineExceeded. Back up: the same read answers.
  nats.Kill(SIGKILL);
  seq = Write(**writes, 50, 9000);
  QueryResult late = (*client)->Get("m", "k0", ReadOptions{seq, std::chrono::milliseconds(300)});
  CHECK(late.status == Code::kDeadlineExceeded);
  nats.Start();
  got = (*client)->Get("m", "k0", ReadOptions{seq, std::chrono::seconds(30)});
  REQUIRE(got.status == Code::kOk);
  CHECK(got.seq >= seq);

  // A writer refuses the replica's copy of the log.
  auto writer = replica.StartProcess("cqrs-writer");
  const int status = writer->Wait(std::chrono::seconds(30));
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
  CHECK_THAT(testing::ReadFile(replica.log_path),
             Catch::Contains("is a read replica's copy of write store"));
}

}  // namespace cqrs

namespace cqrs {

// A replica host keeps its own [security]: its server key, its principals file. Its readers answer
// only its principals (CURVE), each within its tenant; a key the primary knows but the replica
// does not gets no answer there.
TEST_CASE("A replica host enforces its own principals and tenants",
          "[process][replica][security]") {
  testing::TempDir primary_dir, replica_dir;
  testing::NatsServer nats(primary_dir);
  testing::PipelineConfig pc;
  pc.readers = 1;
  pc.security = true;
  pc.extra_toml = fmt::format("[mirror]\nnats = \"{}\"\nreplicas = 1\n", nats.url());
  testing::Pipeline primary(primary_dir, pc);
  primary.StartUp();
  ClientOptions wo = primary.client_options(primary.probe);
  auto writes = Client::Connect(wo);
  REQUIRE(writes.ok());
  CommandResult w = (*writes)->Execute({Upsert("m", "k1", {{"i", std::int64_t{7}}})});
  REQUIRE(w.ok());

  testing::PipelineConfig rc;
  rc.readers = 1;
  rc.replica = true;
  rc.security = true;  // its own server key and "probe" principal (tenant probe)
  testing::Pipeline replica(replica_dir, rc);
  const security::ClientCurve other = replica.AddPrincipal("other", "other", {"*"}, {"*"});
  replica.StartUp({"--nats", nats.url()});
  auto read_as = [&](const security::ClientCurve& curve) {
    ClientOptions o;
    o.reader_endpoints = replica.readers;
    o.curve = curve;
    o.deadline = std::chrono::milliseconds(3000);
    o.attempt_timeout = std::chrono::milliseconds(1000);
    auto c = Client::Connect(o);
    REQUIRE(c.ok());
    return (*c)->Get("m", "k1", ReadOptions{w.seq, std::chrono::seconds(2)});
  };
  QueryResult got = read_as(replica.probe);
  REQUIRE(got.status == Code::kOk);
  REQUIRE(got.entities.size() == 1);
  CHECK(IntField(got.entities[0], "i") == 7);
  // Another tenant of the replica does not see tenant probe's entity.
  CHECK(read_as(other).status == Code::kNotFound);
  // The primary's principal is unknown on the replica: no answer at all.
  CHECK(read_as(primary.probe).status != Code::kOk);
}

}  // namespace cqrs
