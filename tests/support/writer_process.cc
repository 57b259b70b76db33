// Process-test helpers implementation.
#include "tests/support/writer_process.h"

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "shm/control_block.h"

namespace cqrs::testing {

std::string WriterBinary() { return CQRS_WRITER_BINARY; }

void CheckProcessLog(const std::string& path, bool restarts_expected) {
  std::string log = ReadFile(path);
  for (const char* bad : {"Sanitizer", "runtime error:", "CHECK failed"}) {
    auto at = log.find(bad);
    if (at != std::string::npos)
      FAIL_CHECK("process log " << path
                                << " reports: " << log.substr(at > 200 ? at - 200 : 0, 2000));
  }
  if (!restarts_expected) {
    auto at = log.find("restarting in");
    if (at != std::string::npos)
      FAIL_CHECK("a process had to be restarted: " << log.substr(at > 300 ? at - 300 : 0, 600));
  }
}

WriterProcess::~WriterProcess() {
  if (process && process->running()) {
    process->Signal(SIGTERM);
    process->Wait(std::chrono::seconds(10));
  }
  CheckProcessLog(log_path);
  shm::ControlBlock::Remove(data_dir);  // /dev/shm outlives the temp dir otherwise
}
std::string CliBinary() { return CQRS_CLI_BINARY; }

std::pair<int, std::string> RunCli(const std::string& args) {
  return RunCommand(CliBinary() + " " + args);
}

std::pair<int, std::string> RunCommand(const std::string& line) {
  std::string command = line + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

WriterProcess::WriterProcess(const TempDir& dir, std::vector<std::string> extra, std::string bind,
                             std::vector<std::string> extra_env)
    : env(std::move(extra_env)) {
  data_dir = dir / "data";
  endpoint = bind.empty() ? "ipc://" + (dir / "writer.sock") : bind;
  log_path = dir / "writer.log";
  endpoint_file = dir / "writer.endpoint";
  argv = {
      WriterBinary(),          "--data",      data_dir, "--endpoint", endpoint, "--endpoint-file",
      dir / "writer.endpoint", "--log-level", "warn"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Start();
}

void WriterProcess::Start() {
  std::filesystem::remove(endpoint_file);
  process = std::make_unique<ChildProcess>(argv, log_path, env);
  bool up = WaitFor([&] { return std::filesystem::exists(endpoint_file) || !process->running(); },
                    std::chrono::seconds(20));
  if (!up || !process->running())
    throw std::runtime_error("cqrs-writer did not start: " + ReadFile(log_path));
  endpoint = ReadFile(endpoint_file);
  endpoint.erase(endpoint.find_last_not_of('\n') + 1);
}

void WriterProcess::Restart(int sig) {
  process->Signal(sig);
  process->Wait(std::chrono::seconds(20));
  Start();
}

}  // namespace cqrs::testing
