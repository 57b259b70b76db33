// Process-test helpers: the built binaries and a cqrs-writer child on a temp dir.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/test_support.h"

namespace cqrs::testing {

// Paths of the built binaries (set by CMake).
std::string WriterBinary();
std::string CliBinary();
// Runs the cqrs CLI with `args` (a shell line); returns its exit code and its output (stdout and
// stderr).
std::pair<int, std::string> RunCli(const std::string& args);
// Runs any command line the same way.
std::pair<int, std::string> RunCommand(const std::string& line);

// Fails the running test if the log of processes at `path` holds a sanitizer report (the
// processes of a sanitizer build report there and may be restarted, hiding the crash) or, unless
// `restarts_expected`, a child that `cqrs up` had to restart.
void CheckProcessLog(const std::string& path, bool restarts_expected = false);

// Starts cqrs-writer on <dir>/data with an ipc endpoint in `dir` (or `endpoint`), waits until
// it serves and reads back the endpoint it bound. Extra flags are appended; `env`
// ("NAME=value") is added to its environment.
struct WriterProcess {
  WriterProcess(const TempDir& dir, std::vector<std::string> extra = {}, std::string endpoint = "",
                std::vector<std::string> env = {});
  ~WriterProcess();
  std::string endpoint;
  std::string data_dir;
  std::unique_ptr<ChildProcess> process;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string log_path;
  std::string endpoint_file;  // the writer writes its bound endpoint here once serving
  // kill -9 and start again with the same arguments; waits until it serves.
  void Restart(int sig = 9);
  void Start();
};

}  // namespace cqrs::testing
