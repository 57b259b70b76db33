// TableBatch: one batch's changes to one sink table, as the columns of `unnest` array
// parameters: the upserts (a row per key, its last event in the batch) and the deletes. One
// prepared statement of each kind applies them all, whatever the number of rows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/config.h"
#include "pgsink/sql_text.h"
#include "schemas/cqrs_generated.h"

namespace cqrs::pgsink {

// A value that could not be stored as its column's type: the event is applied with the column
// NULL and parked in cqrs_rejected with this.
struct Rejection {
  std::uint64_t seq = 0;
  std::string_view tenant, collection, key;  // into the batch's events
  std::string column;                        // a declared column, or "entity"
  std::string reason;
};

class TableBatch {
 public:
  // `statements`: the prefix of this table's prepared statements' names ("upsert_0", ...).
  TableBatch(const PgTableSpec& spec, std::string statements);

  // The statements, to prepare once per connection under the names below ($1.. the Params
  // below, in order).
  std::string UpsertSql() const;
  std::string DeleteSql() const;
  const std::string& upsert_name() const { return upsert_name_; }
  const std::string& delete_name() const { return delete_name_; }

  void Clear();
  // The event (verified, a Create or Update with the entity's whole state) as a row; values
  // that cannot be cast are NULL and appended to `rejected`.
  void AddUpsert(const fb::Event& event, std::vector<Rejection>* rejected);
  void AddDelete(const fb::Event& event);

  std::size_t upserts() const { return upsert_[0].count(); }
  std::size_t deletes() const { return delete_[0].count(); }
  // The array literals of the statements' parameters; valid until the next Clear().
  const std::vector<const char*>& UpsertParams();
  const std::vector<const char*>& DeleteParams();

  const PgTableSpec& spec() const { return spec_; }

 private:
  const PgTableSpec& spec_;
  std::string upsert_name_, delete_name_;
  std::vector<bool> indexed_;         // per declared column
  std::vector<ArrayLiteral> upsert_;  // tenant, key, version, seq, entity, the declared columns
  std::vector<ArrayLiteral> delete_;  // tenant, key, version
  std::vector<const char*> params_;
  std::string json_, cell_;  // reused per row
};

}  // namespace cqrs::pgsink
