// The subcommands of `cqrs`, registered on the CLI11 app by area. Each sets *exit_code.
//   exit codes: 0 Ok, 1 a definite refusal or failure, 2 bad usage or input, 3 indeterminate
#pragma once

#include <optional>
#include <string>

#include "base/config.h"
#include "base/status.h"
#include "security/keys.h"

namespace CLI {
class App;
}

namespace cqrs::cli {

// --key FILE and --server-key FILE|Z85 (or CQRS_KEY, CQRS_SERVER_KEY): CURVE for the commands
// that talk to a secured pipeline. Neither: plaintext.
struct CurveFlags {
  std::string key_file;
  std::string server_key;
  void Add(CLI::App& cmd);
  Result<security::ClientCurve> Load() const {
    return security::LoadClientCurveOrEnvironment(key_file, server_key);
  }
};

// The command's configuration; nullopt once it has said on stderr what is wrong (exit 2).
std::optional<Config> ConfigOrComplain(const CommonFlags& common, const char* command);

// put, create, update, del, get, scan, watch, dump
void AddClientCommands(CLI::App& app, int* exit_code);
// up
void AddUpCommand(CLI::App& app, int* exit_code);
// load
void AddLoadCommand(CLI::App& app, int* exit_code);
void AddRebuildCommand(CLI::App& app, int* exit_code);
// migrate (a format-1 write store)
void AddMigrateCommand(CLI::App& app, int* exit_code);
void AddStatsCommand(CLI::App& app, int* exit_code);
// log status, log release
void AddLogCommands(CLI::App& app, int* exit_code);
// metrics
void AddMetricsCommand(CLI::App& app, int* exit_code);
// pg rejected, pg rebuild
void AddPgCommands(CLI::App& app, int* exit_code);
// keygen, principal add/disable/enable/list
void AddSecurityCommands(CLI::App& app, int* exit_code);

}  // namespace cqrs::cli
