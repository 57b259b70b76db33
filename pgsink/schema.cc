// Creating and migrating the sink's tables.
#include "pgsink/schema.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "base/hash.h"
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

Status EnsureTable(pqxx::connection& c, const PostgresConfig& pg, const PgTableSpec& t) {
  const std::string table = QuoteIdent(t.table);
  std::map<std::string, std::string> existing;  // column → format_type
  {
    pqxx::nontransaction n(c);
    pqxx::result r = n.exec_params(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
        table);
    for (const auto& row : r) existing[row[0].c_str()] = row[1].c_str();
  }
  if (existing.empty()) {
    std::string columns;
    for (const auto& col : t.columns)
      columns += fmt::format(", {} {}", QuoteIdent(col.name), PgSqlType(col.type));
    Exec(c, fmt::format("CREATE TABLE IF NOT EXISTS {} (tenant text NOT NULL, key text NOT NULL, "
                        "version bigint NOT NULL, seq bigint NOT NULL, entity jsonb NOT NULL{}, "
                        "PRIMARY KEY (tenant, key))",
                        table, columns));
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
    std::vector<std::string> added;
    for (const auto& col : t.columns) {
      auto at = existing.find(col.name);
      if (at == existing.end()) {
        added.push_back(col.name);
      } else if (at->second != CatalogType(col.type)) {
        return Error(Code::kInternal,
                     "column {} of table {} is {}, the config declares {}: run `cqrs pg "
                     "rebuild` to rebuild the table with the new columns",
                     col.name, t.table, at->second, PgTypeName(col.type));
      }
    }
    if (!added.empty()) {
      pqxx::work w(c);
      // Locks the table against writers until the columns are in; the sink is its only one.
      w.exec(fmt::format("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE", table));
      if (!w.exec(fmt::format("SELECT 1 FROM {} LIMIT 1", table)).empty())
        return Error(Code::kInternal,
                     "table {} has rows and the config adds column(s) {}: their values are in "
                     "the log, not in the table; run `cqrs pg rebuild`",
                     t.table, fmt::join(added, ", "));
      for (const std::string& name : added) {
        const PgColumnSpec* col = t.FindColumn(name);
        w.exec(fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, QuoteIdent(name),
                           PgSqlType(col->type)));
      }
      w.commit();
      spdlog::info("table {}: added column(s) {}", t.table, fmt::join(added, ", "));
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
  std::set<std::string> wanted;
  for (const std::string& column : t.indexes) {
    const std::string name = IndexName(t.table, column);
    wanted.insert(name);
    auto at = indexes.find(name);
    if (at != indexes.end() && at->second) continue;
    if (at != indexes.end()) Exec(c, "DROP INDEX CONCURRENTLY IF EXISTS " + QuoteIdent(name));
    // (column, key): also a page in key order within one value, as `cqrs find` reads its index.
    Exec(c, fmt::format("CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({}, key)",
                        QuoteIdent(name), table, QuoteIdent(column)));
    spdlog::info("table {}: index {} on {}", t.table, name, column);
  }
  for (const auto& [name, valid] : indexes) {
    if (wanted.count(name)) continue;
    Exec(c, "DROP INDEX CONCURRENTLY IF EXISTS " + QuoteIdent(name));
    spdlog::info("table {}: dropped index {}, no longer declared", t.table, name);
  }
  if (pg.row_level_security) {
    Exec(c, fmt::format("ALTER TABLE {0} ENABLE ROW LEVEL SECURITY; "
                        "DROP POLICY IF EXISTS cqrs_tenant ON {0}; "
                        "CREATE POLICY cqrs_tenant ON {0} FOR SELECT USING (tenant IN (SELECT "
                        "r.tenant FROM cqrs_tenant_roles r WHERE r.role = current_user))",
                        table));
  } else {
    Exec(c, fmt::format("DROP POLICY IF EXISTS cqrs_tenant ON {0}; "
                        "ALTER TABLE {0} DISABLE ROW LEVEL SECURITY",
                        table));
  }
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
    // (serialization, deadlock).
    if (state.starts_with("08") || state.starts_with("57P") || state.starts_with("53") ||
        state.starts_with("40"))
      return Error(Code::kUnavailable, "PostgreSQL {}: {} (SQLSTATE {})", doing, what, state);
    return Error(Code::kInternal, "PostgreSQL {}: {} (SQLSTATE {})", doing, what, state);
  }
  return Error(Code::kUnavailable, "PostgreSQL {}: {}", doing, what);
}

Status EnsureSchema(pqxx::connection& c, const PostgresConfig& pg) {
  try {
    Exec(c, std::string(kOwnTables));
    if (pg.row_level_security) Exec(c, std::string(kTenantRolesSecurity));
    for (const PgTableSpec& t : pg.tables) CQRS_RETURN_IF_ERROR(EnsureTable(c, pg, t));
  } catch (const std::exception& e) {
    return PgStatus(e, "creating or migrating the sink's tables");
  }
  return OkStatus();
}

}  // namespace cqrs::pgsink
