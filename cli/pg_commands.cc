// cqrs pg: the PostgreSQL query side seen from the command line. `cqrs pg rejected` lists the
// values cqrs-pgsink parked in cqrs_rejected; `cqrs pg rebuild` asks the sink to rebuild its
// tables from the log beside the ones that serve, and follows it until they are swapped in
// (docs/OPERATIONS.md, "PostgreSQL query side").
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "base/config.h"
#include "base/json.h"
#include "cli/commands.h"
#include "pgsink/schema.h"

namespace cqrs::cli {
namespace {

struct RejectedCommand {
  CommonFlags common;
  std::string dsn;
  std::uint32_t limit = 100;
  std::uint64_t after = 0;
  bool json = false;
};

// The common flags and --dsn.
void AddPgFlags(CLI::App& cmd, CommonFlags* common, std::string* dsn) {
  AddCommonFlags(cmd, common);
  cmd.add_option("--dsn", *dsn, "libpq connection string (overrides [postgresql] dsn)");
}

// The config with --dsn over [postgresql] dsn; nullopt once it said why not (exit 2).
std::optional<Config> PgConfig(const CommonFlags& common, const std::string& dsn,
                               const char* command) {
  auto resolved = ResolveConfig(common);
  if (!resolved.ok()) {
    std::fprintf(stderr, "cqrs pg %s: %s\n", command, resolved.status().message().c_str());
    return std::nullopt;
  }
  Config config = std::move(resolved).value();
  if (!dsn.empty()) config.postgresql.dsn = dsn;
  if (!config.postgresql.on()) {
    std::fprintf(stderr, "cqrs pg %s: no PostgreSQL: set [postgresql] dsn, or --dsn\n", command);
    return std::nullopt;
  }
  return config;
}

int RunRejected(const RejectedCommand& c) {
  std::optional<Config> pg_config = PgConfig(c.common, c.dsn, "rejected");
  if (!pg_config) return 2;
  const Config& config = *pg_config;
  try {
    pqxx::connection db(config.postgresql.dsn);
    pqxx::nontransaction n(db);
    if (n.exec("SELECT to_regclass('cqrs_rejected')")[0][0].is_null()) {
      std::fprintf(stderr,
                   "cqrs pg rejected: the database has no cqrs_rejected table (no cqrs-pgsink "
                   "has run against it)\n");
      return 1;
    }
    const pqxx::result rows = n.exec_params(
        "SELECT seq, tenant, collection, key, column_name, reason, parked_at FROM cqrs_rejected "
        "WHERE sink = $1 AND seq > $2 ORDER BY seq, column_name LIMIT $3",
        config.postgresql.name, static_cast<std::int64_t>(c.after),
        static_cast<std::int64_t>(c.limit));
    for (const auto& r : rows) {
      if (c.json) {
        std::string line = fmt::format("{{\"seq\":{},\"tenant\":", r[0].c_str());
        AppendJsonString(&line, r[1].c_str());
        line += ",\"collection\":";
        AppendJsonString(&line, r[2].c_str());
        line += ",\"key\":";
        AppendJsonString(&line, r[3].c_str());
        line += ",\"column\":";
        AppendJsonString(&line, r[4].c_str());
        line += ",\"reason\":";
        AppendJsonString(&line, r[5].c_str());
        line += ",\"parked_at\":";
        AppendJsonString(&line, r[6].c_str());
        std::printf("%s}\n", line.c_str());
      } else {
        std::printf("seq %s  %s/%s/%s  column %s: %s  (parked %s)\n", r[0].c_str(), r[1].c_str(),
                    r[2].c_str(), r[3].c_str(), r[4].c_str(), r[5].c_str(), r[6].c_str());
      }
    }
    if (!c.json && rows.size() == c.limit)
      std::fprintf(stderr, "cqrs pg rejected: more may follow: --after %s\n",
                   rows[rows.size() - 1][0].c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cqrs pg rejected: %s\n",
                 pgsink::PgStatus(e, "listing cqrs_rejected").message().c_str());
    return 1;
  }
  return 0;
}

struct RebuildCommand {
  CommonFlags common;
  std::string dsn;
  bool no_wait = false;
};

int RunRebuild(const RebuildCommand& c) {
  std::optional<Config> pg_config = PgConfig(c.common, c.dsn, "rebuild");
  if (!pg_config) return 2;
  const std::string& name = pg_config->postgresql.name;
  try {
    pqxx::connection db(pg_config->postgresql.dsn);
    pqxx::nontransaction n(db);
    const bool has_table = !n.exec("SELECT to_regclass('cqrs_checkpoint')")[0][0].is_null();
    if (!has_table ||
        n.exec_params("UPDATE cqrs_checkpoint SET rebuild_requested = true WHERE name = $1", name)
                .affected_rows() != 1) {
      std::fprintf(stderr,
                   "cqrs pg rebuild: no cqrs-pgsink named '%s' has run against this database "
                   "(no cqrs_checkpoint row): start one; it makes the tables from the log\n",
                   name.c_str());
      return 1;
    }
    std::fprintf(stderr, "cqrs pg rebuild: asked sink '%s' to rebuild its tables%s\n", name.c_str(),
                 c.no_wait ? "" : "; following it (Ctrl-C stops following only)");
    if (c.no_wait) return 0;
    std::int64_t shown = -1;
    int idle_s = 0;
    for (int tick = 0;; ++tick) {
      const pqxx::row r = n.exec_params1(
          "SELECT seq, rebuild_seq, rebuild_requested FROM cqrs_checkpoint WHERE name = $1", name);
      const auto seq = r[0].as<std::int64_t>();
      const bool requested = r[2].as<bool>();
      if (!requested && r[1].is_null()) {
        std::fprintf(stderr,
                     "\ncqrs pg rebuild: rebuilt and swapped in; the tables hold seq %lld\n",
                     static_cast<long long>(seq));
        return 0;
      }
      const std::int64_t at = r[1].is_null() ? -1 : r[1].as<std::int64_t>();
      if (at != shown) {
        shown = at;
        idle_s = 0;
        if (at >= 0)
          std::fprintf(stderr, "\rcqrs pg rebuild: seq %lld of %lld", static_cast<long long>(at),
                       static_cast<long long>(seq));
      } else if (tick % 2 == 1 && ++idle_s == 10 && at < 0) {
        std::fprintf(stderr,
                     "cqrs pg rebuild: no sink has taken the request up in 10 s: is cqrs-pgsink "
                     "running? (it takes it up when it starts)\n");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cqrs pg rebuild: %s\n",
                 pgsink::PgStatus(e, "asking for a rebuild").message().c_str());
    return 1;
  }
}

}  // namespace

void AddPgCommands(CLI::App& app, int* exit_code) {
  CLI::App* pg = app.add_subcommand("pg", "the PostgreSQL query side ([postgresql], cqrs-pgsink)");
  pg->require_subcommand(1);
  auto c = std::make_shared<RejectedCommand>();
  CLI::App* rejected = pg->add_subcommand(
      "rejected",
      "list the values cqrs-pgsink could not store as their columns' types (the rows are there, "
      "those columns NULL), in seq order");
  AddPgFlags(*rejected, &c->common, &c->dsn);
  rejected->add_option("--limit", c->limit, "at most this many")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  rejected->add_option("--after", c->after, "those of events after this seq");
  rejected->add_flag("--json", c->json, "one line of JSON each");
  rejected->callback([c, exit_code] { *exit_code = RunRejected(*c); });

  auto r = std::make_shared<RebuildCommand>();
  CLI::App* rebuild = pg->add_subcommand(
      "rebuild",
      "rebuild the sink's tables from the log beside the ones that keep serving, then swap them "
      "in by rename in one transaction (grants kept); follows it until done");
  AddPgFlags(*rebuild, &r->common, &r->dsn);
  rebuild->add_flag("--no-wait", r->no_wait, "ask, and return at once");
  rebuild->callback([r, exit_code] { *exit_code = RunRebuild(*r); });
}

}  // namespace cqrs::cli
