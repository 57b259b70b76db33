// cqrs pg: the PostgreSQL query side seen from the command line. `cqrs pg rejected` lists the
// values cqrs-pgsink parked in cqrs_rejected (docs/OPERATIONS.md, "PostgreSQL query side").
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <pqxx/pqxx>

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

int RunRejected(const RejectedCommand& c) {
  auto resolved = ResolveConfig(c.common);
  if (!resolved.ok()) {
    std::fprintf(stderr, "cqrs pg rejected: %s\n", resolved.status().message().c_str());
    return 2;
  }
  Config config = std::move(resolved).value();
  if (!c.dsn.empty()) config.postgresql.dsn = c.dsn;
  if (!config.postgresql.on()) {
    std::fprintf(stderr, "cqrs pg rejected: no PostgreSQL: set [postgresql] dsn, or --dsn\n");
    return 2;
  }
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

}  // namespace

void AddPgCommands(CLI::App& app, int* exit_code) {
  CLI::App* pg = app.add_subcommand("pg", "the PostgreSQL query side ([postgresql], cqrs-pgsink)");
  pg->require_subcommand(1);
  auto c = std::make_shared<RejectedCommand>();
  CLI::App* rejected = pg->add_subcommand(
      "rejected",
      "list the values cqrs-pgsink could not store as their columns' types (the rows are there, "
      "those columns NULL), in seq order");
  AddCommonFlags(*rejected, &c->common);
  rejected->add_option("--dsn", c->dsn, "libpq connection string (overrides [postgresql] dsn)");
  rejected->add_option("--limit", c->limit, "at most this many")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  rejected->add_option("--after", c->after, "those of events after this seq");
  rejected->add_flag("--json", c->json, "one line of JSON each");
  rejected->callback([c, exit_code] { *exit_code = RunRejected(*c); });
}

}  // namespace cqrs::cli
