// Test support: temporary directories, child processes, polling with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace cqrs::testing {

// A fresh directory under /tmp (short, so ipc:// paths fit), removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A child process; killed (SIGKILL) and reaped on destruction if still running.
class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`; stdout and stderr go to `log_path` (appended). `env`
  // ("NAME=value") is added to the inherited environment, replacing a variable of that name.
  ChildProcess(std::vector<std::string> argv, const std::string& log_path,
               std::vector<std::string> env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `timeout` for exit; returns the wait status, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// Polls `condition` every millisecond until true or `timeout`; returns its last value.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

std::string ReadFile(const std::string& path);
// Writes (replaces) the file at `path` with `content`; REQUIREs success.
void WriteFile(const std::string& path, const std::string& content);

// Runs `command` with /bin/sh and returns its stdout; the command must exit 0 (REQUIREd; on
// failure the report shows its output and, if given, the end of the file `log_on_failure`).
std::string RunShell(const std::string& command, const std::string& log_on_failure = {});

}  // namespace cqrs::testing
