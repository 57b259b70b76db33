// The sink's tables in PostgreSQL: its own (cqrs_checkpoint, cqrs_rejected, cqrs_tenant_roles)
// and one per declared collection, created when absent and migrated when the declarations
// changed in ways PostgreSQL applies online: an index added or dropped (CONCURRENTLY), a
// column dropped, a column added to a table with no rows yet. Any other change (a column added
// to a table with rows, a column's type changed) takes the values from the log: the table is
// rebuilt beside the one that serves (a shadow table, cqrs_rebuild_<i>) and swapped in by
// rename in one transaction, as `cqrs pg rebuild` does for every table.
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "base/config.h"
#include "base/status.h"

namespace cqrs::pgsink {

// SQL errors and lost connections as a Status: Unavailable for what retrying mends (the
// connection, the server starting or stopping, a serialization failure), Internal otherwise.
Status PgStatus(const std::exception& e, std::string_view doing);

// What a declared table is now: the columns the table has of the declared ones (all of them,
// unless the table must be rebuilt), kept current from the log until a rebuild swaps it.
struct TablePlan {
  PgTableSpec live;
  bool rebuild = false;  // the declarations need values the table does not have
};

// Creates or migrates every table (see above), and returns a plan per declared table.
// Statements run outside a transaction where PostgreSQL requires it (CREATE INDEX
// CONCURRENTLY); each step is idempotent, so a sink that dies half way finishes the work at its
// next start.
Result<std::vector<TablePlan>> EnsureSchema(pqxx::connection& c, const PostgresConfig& pg);

// The shadow table of declared table `index` while it is rebuilt.
std::string ShadowName(std::size_t index);
// The primary key's index of `table` (at most 63 bytes; no column's index has this name).
std::string PrimaryKeyName(std::string_view table);
// Creates shadow table `shadow` with the declared columns of `t` and its primary key; `fresh`
// drops one an earlier rebuild left first. Throws pqxx errors.
void CreateShadow(pqxx::connection& c, const PgTableSpec& t, const std::string& shadow, bool fresh);
// Whether `table` has exactly the columns of `t` (a shadow left by a rebuild that can resume).
bool TableMatches(pqxx::connection& c, const PgTableSpec& t, const std::string& table);
// For each (declared table, its shadow): builds the shadow's indexes and row-level security;
// then in one transaction for all of them: the grants on the old table copied to the shadow,
// the old table dropped, the shadow renamed to the declared name (indexes included), and
// `fence_sql` (which clears the checkpoint's rebuild state) run; false (nothing swapped) when it
// changed no row. A query still reading an old table past 5 s makes it fail (lock_timeout): the
// caller tries again. Throws pqxx errors.
bool SwapIn(pqxx::connection& c, const PostgresConfig& pg,
            const std::vector<std::pair<const PgTableSpec*, std::string>>& swaps,
            const std::string& fence_sql);

// The name of the index the sink keeps on `column` of `table` (at most 63 bytes).
std::string IndexName(std::string_view table, std::string_view column);

}  // namespace cqrs::pgsink
