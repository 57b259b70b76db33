// The subcommands of `cqrs`, registered on the CLI11 app by area. Each sets *exit_code.
//   exit codes: 0 Ok, 1 a definite refusal or failure, 2 bad usage or input, 3 indeterminate
#pragma once

namespace CLI {
class App;
}

namespace cqrs::cli {

// put, create, update, del, get, scan, watch, dump
void AddClientCommands(CLI::App& app, int* exit_code);
// up
void AddUpCommand(CLI::App& app, int* exit_code);
// load
void AddLoadCommand(CLI::App& app, int* exit_code);
void AddRebuildCommand(CLI::App& app, int* exit_code);
void AddStatsCommand(CLI::App& app, int* exit_code);
// keygen, principal add/disable/enable/list
void AddSecurityCommands(CLI::App& app, int* exit_code);

}  // namespace cqrs::cli
