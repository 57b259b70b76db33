// The sink's tables in PostgreSQL: its own (cqrs_checkpoint, cqrs_rejected, cqrs_tenant_roles)
// and one per declared collection, created when absent and migrated when the declarations
// changed in ways PostgreSQL applies online: an index added or dropped (CONCURRENTLY), a
// column dropped, a column added to a table with no rows yet. Any other change (a column added
// to a table with rows, a column's type changed) needs `cqrs pg rebuild` and is refused here.
#pragma once

#include <pqxx/pqxx>
#include <string>

#include "base/config.h"
#include "base/status.h"

namespace cqrs::pgsink {

// SQL errors and lost connections as a Status: Unavailable for what retrying mends (the
// connection, the server starting or stopping, a serialization failure), Internal otherwise.
Status PgStatus(const std::exception& e, std::string_view doing);

// Creates or migrates every table (see above). Statements run outside a transaction where
// PostgreSQL requires it (CREATE INDEX CONCURRENTLY); each step is idempotent, so a sink that
// dies half way finishes the work at its next start.
Status EnsureSchema(pqxx::connection& c, const PostgresConfig& pg);

// The name of the index the sink keeps on `column` of `table` (at most 63 bytes).
std::string IndexName(std::string_view table, std::string_view column);

}  // namespace cqrs::pgsink
