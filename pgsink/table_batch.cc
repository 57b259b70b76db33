// Rows of a sink table as unnest parameters.
#include "pgsink/table_batch.h"

#include <fmt/format.h>

#include <algorithm>

#include "wire/value_codec.h"

namespace cqrs::pgsink {
namespace {

constexpr std::size_t kFixed = 5;  // tenant, key, version, seq, entity

}  // namespace

TableBatch::TableBatch(const PgTableSpec& spec, std::string statements)
    : spec_(spec),
      upsert_name_("upsert_" + statements),
      delete_name_("delete_" + statements),
      upsert_(kFixed + spec.columns.size()),
      delete_(3) {
  for (const auto& c : spec.columns)
    indexed_.push_back(std::find(spec.indexes.begin(), spec.indexes.end(), c.name) !=
                       spec.indexes.end());
  Clear();
}

std::string TableBatch::UpsertSql() const {
  const std::string table = QuoteIdent(spec_.table);
  std::string names = "tenant, key, version, seq, entity";
  std::string arrays = "$1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::jsonb[]";
  std::string sets = "version = EXCLUDED.version, seq = EXCLUDED.seq, entity = EXCLUDED.entity";
  for (std::size_t i = 0; i < spec_.columns.size(); ++i) {
    const PgColumnSpec& c = spec_.columns[i];
    const std::string name = QuoteIdent(c.name);
    names += ", " + name;
    arrays += fmt::format(", ${}::{}[]", kFixed + i + 1, PgSqlType(c.type));
    sets += fmt::format(", {0} = EXCLUDED.{0}", name);
  }
  // A row changes only for a newer version: replaying a batch (which the checkpoint's fence
  // already prevents) could not move a row back.
  return fmt::format(
      "INSERT INTO {0} AS t ({1}) SELECT * FROM unnest({2}) "
      "ON CONFLICT (tenant, key) DO UPDATE SET {3} WHERE t.version < EXCLUDED.version",
      table, names, arrays, sets);
}

std::string TableBatch::DeleteSql() const {
  return fmt::format(
      "DELETE FROM {} AS t USING unnest($1::text[], $2::text[], $3::bigint[]) AS d(tenant, key, "
      "version) WHERE t.tenant = d.tenant AND t.key = d.key AND t.version < d.version",
      QuoteIdent(spec_.table));
}

void TableBatch::Clear() {
  for (auto& a : upsert_) a.Clear();
  for (auto& a : delete_) a.Clear();
}

void TableBatch::AddUpsert(const fb::Event& event, std::vector<Rejection>* rejected) {
  const std::string_view tenant = wire::AsView(event.tenant());
  const std::string_view collection = wire::AsView(event.collection());
  const std::string_view key = wire::AsView(event.key());
  auto reject = [&](std::string column, std::string_view reason) {
    rejected->push_back(
        {event.seq(), tenant, collection, key, std::move(column), std::string(reason)});
  };
  upsert_[0].Add(tenant);
  upsert_[1].Add(key);
  cell_.clear();
  fmt::format_to(std::back_inserter(cell_), "{}", event.version());
  upsert_[2].Add(cell_);
  cell_.clear();
  fmt::format_to(std::back_inserter(cell_), "{}", event.seq());
  upsert_[3].Add(cell_);

  // The fields come in name order, as do the declared columns: one merge pass.
  json_.assign(1, '{');
  std::size_t next_column = 0;
  const std::size_t n_fields = event.fields() ? event.fields()->size() : 0;
  bool first = true;
  auto column_null_until = [&](std::string_view name) {
    while (next_column < spec_.columns.size() && spec_.columns[next_column].name < name)
      upsert_[kFixed + next_column++].AddNull();
  };
  for (std::size_t i = 0; i < n_fields; ++i) {
    const fb::Field* f = event.fields()->Get(static_cast<flatbuffers::uoffset_t>(i));
    const std::string_view name = wire::AsView(f->name());
    const ValueView value = wire::ValueOf(*f);
    if (!AppendJsonField(&json_, first, name, value))
      reject("entity",
             fmt::format("field {}: a string holding NUL (jsonb cannot): null there", name));
    first = false;
    column_null_until(name);
    if (next_column < spec_.columns.size() && spec_.columns[next_column].name == name) {
      const PgColumnSpec& c = spec_.columns[next_column];
      ArrayLiteral& cells = upsert_[kFixed + next_column];
      std::string_view why = CastValue(value, c.type, indexed_[next_column], &cell_);
      if (why.empty()) {
        cells.Add(cell_);
      } else {
        cells.AddNull();
        reject(c.name, why);
      }
      ++next_column;
    }
  }
  while (next_column < spec_.columns.size()) upsert_[kFixed + next_column++].AddNull();
  json_.push_back('}');
  upsert_[4].Add(json_);
}

void TableBatch::AddDelete(const fb::Event& event) {
  delete_[0].Add(wire::AsView(event.tenant()));
  delete_[1].Add(wire::AsView(event.key()));
  cell_.clear();
  fmt::format_to(std::back_inserter(cell_), "{}", event.version());
  delete_[2].Add(cell_);
}

const std::vector<const char*>& TableBatch::UpsertParams() {
  params_.clear();
  for (auto& a : upsert_) params_.push_back(a.Finish().c_str());
  return params_;
}

const std::vector<const char*>& TableBatch::DeleteParams() {
  params_.clear();
  for (auto& a : delete_) params_.push_back(a.Finish().c_str());
  return params_;
}

}  // namespace cqrs::pgsink
