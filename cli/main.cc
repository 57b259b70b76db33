// cqrs: the command-line tool. Writes (put, create, update, delete), reads (get, scan), the change
// feed (watch), the whole pipeline (up), load generation (load), a read-store dump (dump), key
// pairs and the principals file (keygen, principal), the PostgreSQL query side (pg).
#include <CLI/CLI.hpp>

#include "base/config.h"
#include "cli/commands.h"

// LeakSanitizer (sanitized builds only; never called otherwise): libpqxx 6.4 leaks a libpq
// result when it finds a connection broken (docs/DEPENDENCY_FACTS.md, fact 14).
extern "C" const char* __lsan_default_suppressions() { return "leak:libpq.so\n"; }

int main(int argc, char** argv) {
  CLI::App app{"cqrs: command-line client and launcher of a cqrs pipeline"};
  app.require_subcommand(1);
  int exit_code = 0;
  cqrs::cli::AddClientCommands(app, &exit_code);
  cqrs::cli::AddUpCommand(app, &exit_code);
  cqrs::cli::AddLoadCommand(app, &exit_code);
  cqrs::cli::AddRebuildCommand(app, &exit_code);
  cqrs::cli::AddMigrateCommand(app, &exit_code);
  cqrs::cli::AddStatsCommand(app, &exit_code);
  cqrs::cli::AddLogCommands(app, &exit_code);
  cqrs::cli::AddMetricsCommand(app, &exit_code);
  cqrs::cli::AddPgCommands(app, &exit_code);
  cqrs::cli::AddSecurityCommands(app, &exit_code);
  if (auto done = cqrs::ParseCommandLine(app, argc, argv)) return *done;
  return exit_code;
}
