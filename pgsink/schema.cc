// Creating and migrating the sink's tables.
#include "pgsink/schema.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "base/hash.h"
#include "base/status.h"
#include "pgsink/sql_text.h"

namespace cqrs::pgsink {
namespace {

// format_type()'s name of each column type.
std::string_view CatalogType(PgType t) {
  switch (t) {
    case PgType::kTimestampNs:
    case PgType::kTimestampMs:
      return "timestamp with time zone";
    default:
      return PgSqlType(t);
  }
}

constexpr std::string_view kOwnTables = R"sql(
CREATE TABLE IF NOT EXISTS cqrs_checkpoint (
  name text PRIMARY KEY,
  seq bigint NOT NULL,
  store_id text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE cqrs_checkpoint ADD COLUMN IF NOT EXISTS rebuild_seq bigint;
ALTER TABLE cqrs_checkpoint ADD COLUMN IF NOT EXISTS rebuild_requested boolean NOT NULL DEFAULT false;
CREATE TABLE IF NOT EXISTS cqrs_rejected (
  sink text NOT NULL,
  seq bigint NOT NULL,
  tenant text NOT NULL,
  collection text NOT NULL,
  key text NOT NULL,
  column_name text NOT NULL,
  reason text NOT NULL,
  parked_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sink, seq, column_name));
CREATE TABLE IF NOT EXISTS cqrs_tenant_roles (
  role name NOT NULL,
  tenant text NOT NULL,
  PRIMARY KEY (role, tenant));
CREATE OR REPLACE FUNCTION cqrs_wait_for(min_seq bigint, sink text DEFAULT 'cqrs',
                                         timeout_ms integer DEFAULT 1000)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  deadline timestamptz := clock_timestamp() + make_interval(secs => timeout_ms / 1000.0);
BEGIN
  LOOP
    IF (SELECT c.seq FROM cqrs_checkpoint c WHERE c.name = sink) >= min_seq THEN
      RETURN true;
    END IF;
    IF clock_timestamp() >= deadline THEN
      RETURN false;
    END IF;
    PERFORM pg_sleep(0.005);
  END LOOP;
END $$;
)sql";

// Row-level security: a role sees the rows of the tenants cqrs_tenant_roles maps it to, and
// only its own mappings. The sink owns the tables, and owners are not subject to the policies.
constexpr std::string_view kTenantRolesSecurity = R"sql(
ALTER TABLE cqrs_tenant_roles ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS cqrs_own_roles ON cqrs_tenant_roles;
CREATE POLICY cqrs_own_roles ON cqrs_tenant_roles FOR SELECT USING (role = current_user);
GRANT SELECT ON cqrs_tenant_roles TO PUBLIC;
)sql";

void Exec(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction n(c);
  n.exec(sql);
}

// The columns of `table` (none: there is no such table), each with its format_type().
std::map<std::string, std::string> Columns(pqxx::connection& c, const std::string& table) {
  std::map<std::string, std::string> out;
  pqxx::nontransaction n(c);
  const pqxx::result r = n.exec_params(
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
      "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
      QuoteIdent(table));
  for (const auto& row : r) out[row[0].c_str()] = row[1].c_str();
  return out;
}

// Creates `name` with the columns of `t` and its primary key (named for `name`), no other index.
void CreateTable(pqxx::connection& c, const PgTableSpec& t, const std::string& name) {
  std::string columns;
  for (const auto& col : t.columns)
    columns += fmt::format(", {} {}", QuoteIdent(col.name), PgSqlType(col.type));
  Exec(c, fmt::format("CREATE TABLE IF NOT EXISTS {} (tenant text NOT NULL, key text NOT NULL, "
                      "version bigint NOT NULL, seq bigint NOT NULL, entity jsonb NOT NULL{}, "
                      "CONSTRAINT {} PRIMARY KEY (tenant, key))",
                      QuoteIdent(name), columns, QuoteIdent(PrimaryKeyName(name))));
}

// The index of `column` on `table`, named as the index of `name_table` (a rebuilt table's indexes
// are renamed to its final name's when it is swapped in): (column, key), so that a page of one
// value's rows in key order, as `cqrs find` reads its index, is an index range.
std::string IndexSql(std::string_view table, std::string_view name_table, std::string_view column,
                     bool concurrently) {
  return fmt::format("CREATE INDEX {}IF NOT EXISTS {} ON {} ({}, key)",
                     concurrently ? "CONCURRENTLY " : "", QuoteIdent(IndexName(name_table, column)),
                     QuoteIdent(table), QuoteIdent(column));
}

// The row-level security of a table as [postgresql] row_level_security says.
std::string SecuritySql(const PostgresConfig& pg, std::string_view table) {
  const std::string t = QuoteIdent(table);
  if (pg.row_level_security)
    return fmt::format(
        "ALTER TABLE {0} ENABLE ROW LEVEL SECURITY; DROP POLICY IF EXISTS cqrs_tenant ON {0}; "
        "CREATE POLICY cqrs_tenant ON {0} FOR SELECT USING (tenant IN (SELECT r.tenant FROM "
        "cqrs_tenant_roles r WHERE r.role = current_user))",
        t);
  return fmt::format(
      "DROP POLICY IF EXISTS cqrs_tenant ON {0}; ALTER TABLE {0} DISABLE ROW LEVEL SECURITY", t);
}

Status EnsureTable(pqxx::connection& c, const PostgresConfig& pg, const PgTableSpec& t,
                   TablePlan* plan) {
  const std::string table = QuoteIdent(t.table);
  plan->live = t;
  plan->rebuild = false;
  const std::map<std::string, std::string> existing = Columns(c, t.table);
  if (existing.empty()) {
    CreateTable(c, t, t.table);
    spdlog::info("created table {} for collection {}", t.table, t.collection);
  } else {
    static constexpr std::pair<std::string_view, std::string_view> kFixed[] = {
        {"tenant", "text"},
        {"key", "text"},
        {"version", "bigint"},
        {"seq", "bigint"},
        {"entity", "jsonb"}};
    for (const auto& [name, type] : kFixed) {
      auto at = existing.find(std::string(name));
      if (at == existing.end() || at->second != type)
        return Error(Code::kInternal,
                     "table {} exists but is not a sink table (no column {} of type {}): drop "
                     "it, or declare another table name for collection {}",
                     t.table, name, type, t.collection);
    }
    std::vector<std::string> added, changed;
    for (const auto& col : t.columns) {
      auto at = existing.find(col.name);
      if (at == existing.end())
        added.push_back(col.name);
      else if (at->second != CatalogType(col.type))
        changed.push_back(fmt::format("{} ({} → {})", col.name, at->second, PgTypeName(col.type)));
    }
    if (!added.empty() || !changed.empty()) {
      pqxx::work w(c);
      // Locks the table against writers until the columns are in; the sink is its only one.
      w.exec(fmt::format("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE", table));
      if (changed.empty() && w.exec(fmt::format("SELECT 1 FROM {} LIMIT 1", table)).empty()) {
        for (const std::string& name : added) {
          const PgColumnSpec* col = t.FindColumn(name);
          w.exec(fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, QuoteIdent(name),
                             PgSqlType(col->type)));
        }
        w.commit();
        spdlog::info("table {}: added column(s) {}", t.table, fmt::join(added, ", "));
      } else {
        // The values are in the log, not in the table: the table is rebuilt from the log beside
        // it and swapped in. Meanwhile it is kept current in the columns it has.
        w.abort();
        plan->rebuild = true;
        std::erase_if(plan->live.columns, [&](const PgColumnSpec& col) {
          auto at = existing.find(col.name);
          return at == existing.end() || at->second != CatalogType(col.type);
        });
        std::erase_if(plan->live.indexes,
                      [&](const std::string& col) { return !plan->live.FindColumn(col); });
        spdlog::warn(
            "table {}: the config adds column(s) [{}] and changes [{}]: rebuilding it "
            "from the log beside the one that serves",
            t.table, fmt::join(added, ", "), fmt::join(changed, ", "));
      }
    }
    for (const auto& [name, type] : existing) {
      const bool fixed = std::any_of(std::begin(kFixed), std::end(kFixed),
                                     [&](const auto& f) { return f.first == name; });
      if (fixed || t.FindColumn(name)) continue;
      Exec(c, fmt::format("ALTER TABLE {} DROP COLUMN IF EXISTS {}", table, QuoteIdent(name)));
      spdlog::info("table {}: dropped column {}, no longer declared", t.table, name);
    }
  }
  // Indexes: the declared ones built CONCURRENTLY (the table keeps serving), an invalid one left
  // by an interrupted build dropped and built again, ours no longer declared dropped.
  std::map<std::string, bool> indexes;  // our index name → valid
  {
    pqxx::nontransaction n(c);
    pqxx::result r = n.exec_params(
        "SELECT i.relname, x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = to_regclass($1) AND i.relname LIKE 'cqrs\\_%'",
        table);
    for (const auto& row : r) indexes[row[0].c_str()] = row[1].as<bool>();
  }
  // A table waiting for its rebuild keeps the indexes it has of declared ones (a column whose
  // type changed) and gets those of the columns it has.
  std::set<std::string> wanted = {PrimaryKeyName(t.table), t.table + "_pkey"};
  for (const std::string& column : t.indexes) wanted.insert(IndexName(t.table, column));
  for (const std::string& column : plan->live.indexes) {
    const std::string name = IndexName(t.table, column);
    auto at = indexes.find(name);
    if (at != indexes.end() && at->second) continue;
    if (at != indexes.end()) Exec(c, "DROP INDEX CONCURRENTLY IF EXISTS " + QuoteIdent(name));
    Exec(c, IndexSql(t.table, t.table, column, /*concurrently=*/true));
    spdlog::info("table {}: index {} on {}", t.table, name, column);
  }
  for (const auto& [name, valid] : indexes) {
    if (wanted.count(name)) continue;
    Exec(c, "DROP INDEX CONCURRENTLY IF EXISTS " + QuoteIdent(name));
    spdlog::info("table {}: dropped index {}, no longer declared", t.table, name);
  }
  Exec(c, SecuritySql(pg, t.table));
  return OkStatus();
}

}  // namespace

std::string IndexName(std::string_view table, std::string_view column) {
  std::string name = fmt::format("cqrs_{}_{}", table, column);
  if (name.size() <= kMaxPgIdentifierBytes) return name;
  return fmt::format("cqrs_{}_{:016x}", table.substr(0, 40),
                     Fnv1a64(fmt::format("{}\x1f{}", table, column)));
}

Status PgStatus(const std::exception& e, std::string_view doing) {
  std::string what = e.what();
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  if (dynamic_cast<const pqxx::broken_connection*>(&e) ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e))
    return Error(Code::kUnavailable, "PostgreSQL {}: {}", doing, what);
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    // 08: connection; 57P0x: shutdown, crash, cannot connect now; 53: resources; 40: rollback
    // (serialization, deadlock); 55P03: a lock not had in time (a rebuild's swap behind a long
    // query); 2BP01: objects depend on a table a swap drops (a user's view: the message says).
    if (state.starts_with("08") || state.starts_with("57P") || state.starts_with("53") ||
        state.starts_with("40") || state == "55P03" || state == "2BP01")
      return Error(Code::kUnavailable, "PostgreSQL {}: {} (SQLSTATE {})", doing, what, state);
    return Error(Code::kInternal, "PostgreSQL {}: {} (SQLSTATE {})", doing, what, state);
  }
  return Error(Code::kUnavailable, "PostgreSQL {}: {}", doing, what);
}

Result<std::vector<TablePlan>> EnsureSchema(pqxx::connection& c, const PostgresConfig& pg) {
  std::vector<TablePlan> plans(pg.tables.size());
  try {
    Exec(c, std::string(kOwnTables));
    if (pg.row_level_security) Exec(c, std::string(kTenantRolesSecurity));
    for (std::size_t i = 0; i < pg.tables.size(); ++i)
      CQRS_RETURN_IF_ERROR(EnsureTable(c, pg, pg.tables[i], &plans[i]));
  } catch (const std::exception& e) {
    return PgStatus(e, "creating or migrating the sink's tables");
  }
  return plans;
}

std::string ShadowName(std::size_t index) { return fmt::format("cqrs_rebuild_{}", index); }

std::string PrimaryKeyName(std::string_view table) {
  // '-' is in no field name: no index of a column can have this name.
  std::string name = fmt::format("cqrs_{}-pkey", table);
  if (name.size() <= kMaxPgIdentifierBytes) return name;
  return fmt::format("cqrs_{}_{:016x}-pkey", table.substr(0, 36), Fnv1a64(table));
}

void CreateShadow(pqxx::connection& c, const PgTableSpec& t, const std::string& shadow,
                  bool fresh) {
  if (fresh) Exec(c, "DROP TABLE IF EXISTS " + QuoteIdent(shadow));
  CreateTable(c, t, shadow);
}

bool TableMatches(pqxx::connection& c, const PgTableSpec& t, const std::string& table) {
  const std::map<std::string, std::string> existing = Columns(c, table);
  if (existing.size() != 5 + t.columns.size()) return false;
  for (const auto& col : t.columns) {
    auto at = existing.find(col.name);
    if (at == existing.end() || at->second != CatalogType(col.type)) return false;
  }
  return true;
}

bool SwapIn(pqxx::connection& c, const PostgresConfig& pg,
            const std::vector<std::pair<const PgTableSpec*, std::string>>& swaps,
            const std::string& fence_sql) {
  // The indexes first, on shadows that nothing reads yet: built at once, not row by row.
  for (const auto& [t, shadow] : swaps) {
    for (const std::string& column : t->indexes)
      Exec(c, IndexSql(shadow, shadow, column, /*concurrently=*/false));
    Exec(c, SecuritySql(pg, shadow));
  }
  pqxx::work w(c);
  // A query still reading an old table holds the swap back; past this, it is tried again.
  w.exec("SET LOCAL lock_timeout = '5s'");
  for (const auto& [t, shadow] : swaps) {
    const std::string table = QuoteIdent(t->table);
    // What others were granted on the old table, granted on the new one.
    const pqxx::result grants = w.exec_params(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, "
        "a.privilege_type FROM pg_class k CROSS JOIN LATERAL aclexplode(k.relacl) a LEFT JOIN "
        "pg_roles r ON r.oid = a.grantee WHERE k.oid = to_regclass($1) AND a.grantee <> "
        "k.relowner",
        table);
    for (const auto& g : grants)
      w.exec(fmt::format("GRANT {} ON {} TO {}", g[1].c_str(), QuoteIdent(shadow), g[0].c_str()));
    w.exec("DROP TABLE IF EXISTS " + table);
    w.exec(fmt::format("ALTER TABLE {} RENAME TO {}", QuoteIdent(shadow), table));
    w.exec(fmt::format("ALTER INDEX {} RENAME TO {}", QuoteIdent(PrimaryKeyName(shadow)),
                       QuoteIdent(PrimaryKeyName(t->table))));
    for (const std::string& column : t->indexes)
      w.exec(fmt::format("ALTER INDEX {} RENAME TO {}", QuoteIdent(IndexName(shadow, column)),
                         QuoteIdent(IndexName(t->table, column))));
  }
  if (w.exec(fence_sql).affected_rows() != 1) {
    w.abort();
    return false;
  }
  w.commit();
  return true;
}

}  // namespace cqrs::pgsink
