// A whole pipeline for process tests: a config with ipc:// endpoints in a temp dir (no port can
// collide), and the processes started either by `cqrs up` or one by one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/subscriber.h"
#include "security/keys.h"
#include "tests/support/writer_process.h"

namespace cqrs::testing {

struct PipelineConfig {
  int readers = 2;
  std::string durability = "sync";
  std::string writer_toml;           // lines added to the [writer] table
  std::string projector_toml;        // lines added to the [projector] table
  std::string reader_toml;           // lines added to the [reader] table
  std::string extra_toml;            // appended to the generated config
  std::uint32_t cache_slots = 1024;  // [cache] slots: small, tests run many pipelines
  // Security on: a server key in <dir>/keys, [security] in the config, and a principal "probe"
  // (tenant "probe", read/write *) whose keys WaitAnswering uses.
  bool security = false;
  std::string security_toml;  // lines added to the [security] table
  // A read replica host: StartUp runs `cqrs up --replica` (no writer to wait for).
  bool replica = false;
};

class Pipeline {
 public:
  Pipeline(const TempDir& dir, PipelineConfig config = {});
  ~Pipeline();

  // `cqrs up --quiet` with the generated config and `extra` flags; waits until every endpoint
  // answers.
  void StartUp(std::vector<std::string> extra = {});
  // One process by itself (name: "cqrs-writer", "cqrs-projector", "cqrs-reader", "cqrs-mirror",
  // "cqrs-replica", "cqrs-pgsink"), with extra flags and environment ("NAME=value"); returns it.
  // Does not wait.
  std::unique_ptr<ChildProcess> StartProcess(const std::string& name,
                                             std::vector<std::string> extra = {},
                                             std::vector<std::string> env = {});
  // Waits until `endpoint` answers a garbage frame (every server answers one), sent with
  // `curve` (plaintext when it is disabled).
  static void WaitAnswering(const std::string& endpoint, const security::ClientCurve& curve = {});
  void WaitAllAnswering();

  // Security on: adds a principal to the principals file (before StartUp, or followed by a
  // SIGHUP) with a fresh key pair; returns its client settings.
  security::ClientCurve AddPrincipal(const std::string& name, const std::string& tenant,
                                     std::vector<std::string> read, std::vector<std::string> write);
  std::string principals_path() const;

  // Endpoints, and `curve` (default: none, plaintext).
  ClientOptions client_options(const security::ClientCurve& curve = {}) const;
  SubscriberOptions subscriber_options(const security::ClientCurve& curve = {},
                                       const std::string& tenant = {}) const;
  std::vector<std::string> common_flags() const;  // --config FILE --data DIR

  // At the end the log must hold no sanitizer report and, unless this is set, no restart.
  bool expect_restarts = false;
  bool replica = false;
  // Put before every process StartUp and StartProcess start, e.g. TestNetwork::Exec's: the
  // pipeline on another host.
  std::vector<std::string> exec_prefix;

  std::string data_dir, config_path, writer, events, replay;
  std::vector<std::string> readers;
  std::string log_path;
  std::unique_ptr<ChildProcess> up;
  security::KeyPair server_keys;  // security on
  security::ClientCurve probe;    // security on: the "probe" principal
};

std::string ProjectorBinary();
std::string ReaderBinary();
std::string MirrorBinary();
std::string ReplicaBinary();
std::string PgSinkBinary();

}  // namespace cqrs::testing
