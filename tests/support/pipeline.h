// A whole pipeline for process tests: a config with ipc:// endpoints in a temp dir (no port can
// collide), and the processes started either by `cqrs up` or one by one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/subscriber.h"
#include "tests/support/writer_process.h"

namespace cqrs::testing {

struct PipelineConfig {
  int readers = 2;
  std::string durability = "sync";
  std::string writer_toml;           // lines added to the [writer] table
  std::string projector_toml;        // lines added to the [projector] table
  std::string extra_toml;            // appended to the generated config
  std::uint32_t cache_slots = 1024;  // [cache] slots: small, tests run many pipelines
};

class Pipeline {
 public:
  Pipeline(const TempDir& dir, PipelineConfig config = {});
  ~Pipeline();

  // `cqrs up --quiet` with the generated config; waits until every endpoint answers.
  void StartUp();
  // One process by itself (name: "cqrs-writer", "cqrs-projector", "cqrs-reader"), with extra
  // flags and environment ("NAME=value"); returns it. Does not wait.
  std::unique_ptr<ChildProcess> StartProcess(const std::string& name,
                                             std::vector<std::string> extra = {},
                                             std::vector<std::string> env = {});
  // Waits until `endpoint` answers a garbage frame (every server answers one).
  static void WaitAnswering(const std::string& endpoint);
  void WaitAllAnswering();

  ClientOptions client_options() const;
  SubscriberOptions subscriber_options() const;
  std::vector<std::string> common_flags() const;  // --config FILE --data DIR

  // At the end the log must hold no sanitizer report and, unless this is set, no restart.
  bool expect_restarts = false;

  std::string data_dir, config_path, writer, events, replay;
  std::vector<std::string> readers;
  std::string log_path;
  std::unique_ptr<ChildProcess> up;
};

std::string ProjectorBinary();
std::string ReaderBinary();

}  // namespace cqrs::testing
