// Test support for the PostgreSQL query side: the sink's checkpoint, and a sink table compared
// row for row (tenant, key, version, seq, entity) with what it must hold: the read store's
// entities, or the last state of each key in the event log.
#pragma once

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <utility>

#include "pgsink/sql_text.h"
#include "tests/support/log_events.h"
#include "tests/support/postgres_server.h"
#include "wire/value_codec.h"

namespace cqrs::testing {

// The checkpoint of sink `name` (0 before the sink made it, or while PostgreSQL is away).
inline std::uint64_t PgCheckpoint(const PostgresServer& pg, const std::string& name = "cqrs") {
  try {
    auto r = pg.Exec(fmt::format("SELECT seq FROM cqrs_checkpoint WHERE name = '{}'", name));
    return r.empty() ? 0 : r[0][0].as<std::uint64_t>();
  } catch (const std::exception&) {
    return 0;
  }
}

inline bool WaitPgCheckpoint(const PostgresServer& pg, std::uint64_t seq,
                             std::chrono::seconds timeout = std::chrono::seconds(60)) {
  return WaitFor([&] { return PgCheckpoint(pg) >= seq; }, timeout);
}

// The rows a table must hold.
class ExpectedRows {
 public:
  ExpectedRows() {
    for (auto* a : {&tenants_, &keys_, &versions_, &seqs_, &entities_}) a->Clear();
  }
  // `next(&field)` yields the entity's fields in name order until it returns false.
  template <typename Next>
  void Add(std::string_view tenant, std::string_view key, std::uint64_t version, std::uint64_t seq,
           Next&& next) {
    tenants_.Add(tenant);
    keys_.Add(key);
    versions_.Add(std::to_string(version));
    seqs_.Add(std::to_string(seq));
    std::string json = "{";
    bool first = true;
    FieldView f;
    while (next(&f)) {
      pgsink::AppendJsonField(&json, first, f.name, f.value);
      first = false;
    }
    entities_.Add(json + "}");
    ++count_;
  }
  std::size_t count() const { return count_; }

  // CHECKs that `table` holds exactly these rows; FAIL_CHECKs each difference.
  void Check(const PostgresServer& pg, const std::string& table) {
    pqxx::connection c(pg.dsn());
    pqxx::nontransaction n(c);
    const pqxx::result diff = n.exec_params(
        fmt::format(
            "SELECT coalesce(e.tenant, t.tenant), coalesce(e.key, t.key), e.version, t.version, "
            "e.seq, t.seq FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], "
            "$5::jsonb[]) AS e(tenant, key, version, seq, entity) FULL JOIN {} t ON t.tenant = "
            "e.tenant AND t.key = e.key WHERE e.key IS NULL OR t.key IS NULL OR e.version <> "
            "t.version OR e.seq <> t.seq OR e.entity <> t.entity LIMIT 20",
            table),
        tenants_.Finish(), keys_.Finish(), versions_.Finish(), seqs_.Finish(), entities_.Finish());
    for (const auto& row : diff)
      FAIL_CHECK(
          fmt::format("{}/{}: expected version {} seq {}, PostgreSQL has version {} seq {} "
                      "(or another entity)",
                      row[0].c_str(), row[1].c_str(), row[2].c_str(), row[4].c_str(),
                      row[3].c_str(), row[5].c_str()));
    CHECK(diff.empty());
  }

 private:
  pgsink::ArrayLiteral tenants_, keys_, versions_, seqs_, entities_;
  std::size_t count_ = 0;
};

// CHECKs that `table` holds each key of `collection` as the last event of the log at
// <data_dir> left it (deleted keys: no row), and that the checkpoint is at the log's end.
inline void CheckTableEqualsLog(const PostgresServer& pg, const std::string& data_dir,
                                const std::string& collection, const std::string& table) {
  // (tenant, key) → the key's last change: its version, seq and whole entity. None: deleted.
  struct Row {
    std::uint64_t version = 0, seq = 0;
    std::vector<FieldSpec> fields;
  };
  std::map<std::pair<std::string, std::string>, Row> last;
  std::uint64_t head = 0;
  ForEachLogEvent(data_dir, [&](const fb::Event& e) {
    head = e.seq();
    if (wire::AsView(e.collection()) != collection) return;
    auto id =
        std::make_pair(std::string(wire::AsView(e.tenant())), std::string(wire::AsView(e.key())));
    if (e.op() == fb::Op::Delete) {
      last.erase(id);
      return;
    }
    Row& row = last[id];
    row.version = e.version();
    row.seq = e.seq();
    row.fields.clear();
    for (const fb::Field* f : *e.fields())
      row.fields.push_back(
          {std::string(wire::AsView(f->name())), wire::ToValue(wire::ValueOf(*f))});
  });
  CHECK(PgCheckpoint(pg) == head);
  ExpectedRows rows;
  for (const auto& [id, row] : last) {
    std::size_t i = 0;
    rows.Add(id.first, id.second, row.version, row.seq, [&](FieldView* f) {
      if (i >= row.fields.size()) return false;
      f->name = row.fields[i].name;
      f->value = wire::ToView(row.fields[i++].value);
      return true;
    });
  }
  REQUIRE(rows.count() > 0);
  rows.Check(pg, table);
}

}  // namespace cqrs::testing
