// Pipeline test support.
#include "tests/support/pipeline.h"

#include <fmt/format.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <zmq.hpp>

#include "security/curve_client.h"
#include "security/principals.h"
#include "shm/control_block.h"

namespace cqrs::testing {

std::string ProjectorBinary() { return CQRS_PROJECTOR_BINARY; }
std::string ReaderBinary() { return CQRS_READER_BINARY; }
std::string MirrorBinary() { return CQRS_MIRROR_BINARY; }
std::string ReplicaBinary() { return CQRS_REPLICA_BINARY; }
std::string PgSinkBinary() { return CQRS_PGSINK_BINARY; }

Pipeline::Pipeline(const TempDir& dir, PipelineConfig config) : replica(config.replica) {
  data_dir = dir / "data";
  config_path = dir / "pipeline.toml";
  log_path = dir / "pipeline.log";
  writer = "ipc://" + (dir / "writer.sock");
  events = "ipc://" + (dir / "events.sock");
  replay = "ipc://" + (dir / "replay.sock");
  std::string reader_list;
  for (int i = 0; i < config.readers; ++i) {
    readers.push_back("ipc://" + (dir / fmt::format("reader{}.sock", i)));
    reader_list += fmt::format("{}\"{}\"", i ? ", " : "", readers.back());
  }
  std::string security_toml;
  if (config.security) {
    const std::string keys = dir / "keys";
    std::filesystem::create_directories(keys);
    server_keys = security::GenerateKeyPair().value();
    REQUIRE(security::WriteKeyFiles(keys, "server", server_keys, false).ok());
    security_toml =
        fmt::format("[security]\nserver_key = \"{}/server.key\"\n{}", keys, config.security_toml);
    probe = AddPrincipal("probe", "probe", {"*"}, {"*"});
  }
  std::ofstream(config_path) << fmt::format(
      "log_level = \"warn\"\n"
      "[writer]\nendpoint = \"{}\"\ndurability = \"{}\"\n{}"
      "[projector]\nevents_endpoint = \"{}\"\nreplay_endpoint = \"{}\"\n{}"
      "[reader]\nendpoints = [{}]\n{}[cache]\nslots = {}\n{}{}\n",
      writer, config.durability, config.writer_toml, events, replay, config.projector_toml,
      reader_list, config.reader_toml, config.cache_slots, security_toml, config.extra_toml);
}

std::string Pipeline::principals_path() const {
  return (std::filesystem::path(data_dir) / "principals.toml").string();
}

security::ClientCurve Pipeline::AddPrincipal(const std::string& name, const std::string& tenant,
                                             std::vector<std::string> read,
                                             std::vector<std::string> write) {
  std::filesystem::create_directories(data_dir);
  auto principals = security::Principals::Load(principals_path());
  REQUIRE(principals.ok());
  security::ClientCurve curve;
  curve.keys = security::GenerateKeyPair().value();
  curve.server_public_key = server_keys.public_key;
  security::Principal p{name, curve.keys.public_key, tenant, std::move(read), std::move(write),
                        false};
  REQUIRE(principals->Add(p).ok());
  REQUIRE(principals->Save(principals_path()).ok());
  return curve;
}

Pipeline::~Pipeline() {
  if (up && up->running()) {
    up->Signal(SIGTERM);
    up->Wait(std::chrono::seconds(15));
  }
  CheckProcessLog(log_path, expect_restarts);
  shm::ControlBlock::Remove(data_dir);  // /dev/shm outlives the temp dir otherwise
}

std::vector<std::string> Pipeline::common_flags() const {
  return {"--config", config_path, "--data", data_dir};
}

void Pipeline::StartUp(std::vector<std::string> extra) {
  std::vector<std::string> argv = exec_prefix;
  argv.insert(argv.end(), {CliBinary(), "up", "--quiet"});
  if (replica) argv.push_back("--replica");
  for (const auto& f : common_flags()) argv.push_back(f);
  argv.insert(argv.end(), extra.begin(), extra.end());
  up = std::make_unique<ChildProcess>(argv, log_path);
  WaitAllAnswering();
}

std::unique_ptr<ChildProcess> Pipeline::StartProcess(const std::string& name,
                                                     std::vector<std::string> extra,
                                                     std::vector<std::string> env) {
  std::string binary = name == "cqrs-writer"      ? WriterBinary()
                       : name == "cqrs-projector" ? ProjectorBinary()
                       : name == "cqrs-mirror"    ? MirrorBinary()
                       : name == "cqrs-replica"   ? ReplicaBinary()
                       : name == "cqrs-pgsink"    ? PgSinkBinary()
                                                  : ReaderBinary();
  std::vector<std::string> argv = exec_prefix;
  argv.push_back(binary);
  for (const auto& f : common_flags()) argv.push_back(f);
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<ChildProcess>(argv, log_path, std::move(env));
}

void Pipeline::WaitAnswering(const std::string& endpoint, const security::ClientCurve& curve) {
  zmq::context_t context;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::socket_t s(context, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    security::SecureClient(s, curve);
    s.connect(endpoint);
    const char junk[] = "ping";
    s.send(zmq::buffer(junk, 4));
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(200));
    if (item.revents & ZMQ_POLLIN) return;
  }
  throw std::runtime_error("no answer from " + endpoint);
}

void Pipeline::WaitAllAnswering() {
  if (!replica) WaitAnswering(writer, probe);
  WaitAnswering(replay, probe);
  for (const auto& r : readers) WaitAnswering(r, probe);
}

ClientOptions Pipeline::client_options(const security::ClientCurve& curve) const {
  ClientOptions o;
  o.writer_endpoint = writer;
  o.reader_endpoints = readers;
  o.curve = curve;
  return o;
}

SubscriberOptions Pipeline::subscriber_options(const security::ClientCurve& curve,
                                               const std::string& tenant) const {
  SubscriberOptions o;
  o.events_endpoint = events;
  o.replay_endpoint = replay;
  o.curve = curve;
  o.tenant = tenant;
  return o;
}

}  // namespace cqrs::testing
