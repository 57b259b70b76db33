// [postgresql]: the PostgreSQL query side's declarations, read and checked at start so that
// every table and column name the sink quotes into SQL is one PostgreSQL takes as it is.
#include "base/pg_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "base/names.h"
#include "base/status.h"
#include "base/toml_reader.h"

namespace cqrs {
namespace {

struct PgTypeNames {
  PgType type;
  std::string_view config;
  std::string_view sql;
};
constexpr PgTypeNames kPgTypes[] = {
    {PgType::kText, "text", "text"},
    {PgType::kBigint, "bigint", "bigint"},
    {PgType::kDouble, "double precision", "double precision"},
    {PgType::kBoolean, "boolean", "boolean"},
    {PgType::kBytea, "bytea", "bytea"},
    {PgType::kTimestampNs, "timestamptz:ns", "timestamptz"},
    {PgType::kTimestampMs, "timestamptz:ms", "timestamptz"},
};

// The columns every table has before the declared ones.
constexpr std::string_view kFixedColumns[] = {"tenant", "key", "version", "seq", "entity"};

// Table names: [a-z_][a-z0-9_]{0,62}, lower case so that a SQL user need not quote them, and not
// cqrs_*, the sink's own tables.
bool IsValidTableName(std::string_view s) {
  if (s.empty() || s.size() > kMaxPgIdentifierBytes) return false;
  if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

Status ReadTable(const toml::value& table, std::size_t i, PgTableSpec* out) {
  const std::string prefix = fmt::format("postgresql.tables[{}].", i);
  TableReader r(table, prefix);
  r.Read("collection", &out->collection);
  r.Read("table", &out->table);
  r.Read("indexes", &out->indexes);
  if (const toml::value* columns = r.Table("columns")) {
    for (const auto& [name, type] : columns->as_table()) {
      if (!type.is_string())
        return Error(Code::kInvalidArgument, "config {}columns.{} must be a string (a type)",
                     prefix, name);
      auto parsed = ParsePgType(type.as_string().str);
      if (!parsed)
        return Error(Code::kInvalidArgument,
                     "config {}columns.{} type '{}' is not text, bigint, double precision, "
                     "boolean, bytea, timestamptz:ns or timestamptz:ms",
                     prefix, name, type.as_string().str);
      out->columns.push_back({name, *parsed});
    }
    std::sort(out->columns.begin(), out->columns.end(),
              [](const PgColumnSpec& a, const PgColumnSpec& b) { return a.name < b.name; });
  }
  CQRS_RETURN_IF_ERROR(r.Finish());
  if (out->table.empty()) out->table = out->collection;
  return OkStatus();
}

}  // namespace

std::optional<PgType> ParsePgType(std::string_view name) {
  for (const auto& t : kPgTypes)
    if (t.config == name) return t.type;
  return std::nullopt;
}

std::string_view PgTypeName(PgType type) {
  for (const auto& t : kPgTypes)
    if (t.type == type) return t.config;
  return "?";
}

std::string_view PgSqlType(PgType type) {
  for (const auto& t : kPgTypes)
    if (t.type == type) return t.sql;
  return "?";
}

const PgColumnSpec* PgTableSpec::FindColumn(std::string_view name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

const PgTableSpec* PostgresConfig::FindTable(std::string_view collection) const {
  for (const auto& t : tables)
    if (t.collection == collection) return &t;
  return nullptr;
}

Status ReadPostgres(const toml::value& table, PostgresConfig* out) {
  TableReader r(table, "postgresql.");
  r.Read("dsn", &out->dsn);
  r.Read("row_level_security", &out->row_level_security);
  r.Read("name", &out->name);
  r.Read("batch_max_events", &out->batch_max_events);
  r.Read("retry_max_ms", &out->retry_max_ms);
  if (const toml::array* tables = r.Tables("tables")) {
    out->tables.clear();
    for (std::size_t i = 0; i < tables->size(); ++i)
      r.Adopt(ReadTable((*tables)[i], i, &out->tables.emplace_back()));
  }
  return r.Finish();
}

Status ValidatePostgres(const PostgresConfig& pg) {
  auto bad = [](std::string_view key, std::string_view rule) {
    return Error(Code::kInvalidArgument, "config postgresql.{} {}", key, rule);
  };
  if (pg.name.empty() || pg.name.size() > 64 || !IsValidCollectionName(pg.name))
    return bad("name", "must be 1..64 of a-z, 0-9 and '_'");
  if (pg.batch_max_events < 1 || pg.batch_max_events > 100000)
    return bad("batch_max_events", "must be in 1..100000");
  if (pg.retry_max_ms < 10 || pg.retry_max_ms > 600000)
    return bad("retry_max_ms", "must be in 10..600000");
  if (pg.on() && pg.tables.empty())
    return bad("tables", "declares no table: add [[postgresql.tables]] collection = \"...\"");
  if (pg.tables.size() > kMaxCollectionSpecs)
    return bad("tables", fmt::format("declares more than {} tables", kMaxCollectionSpecs));
  std::set<std::string_view> collections, tables;
  for (std::size_t i = 0; i < pg.tables.size(); ++i) {
    const PgTableSpec& t = pg.tables[i];
    const std::string at = fmt::format("tables[{}].", i);
    if (!IsValidCollectionName(t.collection))
      return bad(at + "collection",
                 fmt::format("'{}' is not a collection name ([a-z0-9_]{{1,64}})", t.collection));
    if (!collections.insert(t.collection).second)
      return bad(at + "collection", fmt::format("'{}' has a table already", t.collection));
    if (!IsValidTableName(t.table) || t.table.starts_with("cqrs_"))
      return bad(at + "table", fmt::format("'{}' is not [a-z_][a-z0-9_]{{0,62}}, or is cqrs_* "
                                           "(the sink's own tables)",
                                           t.table));
    if (!tables.insert(t.table).second)
      return bad(at + "table", fmt::format("'{}' is declared twice", t.table));
    if (t.columns.size() > 256) return bad(at + "columns", "declares more than 256 columns");
    for (const auto& c : t.columns) {
      if (!IsValidFieldName(c.name) || c.name.size() > kMaxPgIdentifierBytes)
        return bad(at + "columns",
                   fmt::format("'{}' is not a field name of at most 63 characters", c.name));
      if (std::find(std::begin(kFixedColumns), std::end(kFixedColumns), c.name) !=
          std::end(kFixedColumns))
        return bad(at + "columns." + c.name,
                   "is a column every table has already (tenant, key, version, seq, entity)");
    }
    std::set<std::string_view> indexed;
    for (const auto& f : t.indexes) {
      if (!t.FindColumn(f))
        return bad(at + "indexes", fmt::format("'{}' is not one of the declared columns", f));
      if (!indexed.insert(f).second) return bad(at + "indexes", fmt::format("'{}' twice", f));
    }
  }
  return OkStatus();
}

}  // namespace cqrs
