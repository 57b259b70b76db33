// The sink's loop: log → batches → PostgreSQL, exactly once.
#include "pgsink/sink_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ranges>
#include <unordered_map>

#include "base/clock.h"
#include "base/fault.h"
#include "base/status.h"
#include "pgsink/schema.h"
#include "pgsink/sql_text.h"
#include "store/record_format.h"
#include "store/state_checkpoint.h"
#include "wire/event_codec.h"
#include "wire/protocol.h"
#include "wire/value_codec.h"

namespace cqrs::pgsink {
namespace {

constexpr std::chrono::milliseconds kBeat(100);
constexpr std::size_t kMaxBatchBytes = 64u << 20;
// Rows per statement of a seed from a state checkpoint.
constexpr std::size_t kSeedRows = 10000;
constexpr std::chrono::seconds kRequestCheck(1);  // how often `cqrs pg rebuild` is looked for

}  // namespace

SinkServer::SinkServer(const Config& config, zmq::context_t& context)
    : config_(config),
      context_(context),
      hold_(config.data_dir, "pgsink"),
      retry_(std::chrono::milliseconds(config.postgresql.retry_max_ms)) {}

Result<std::unique_ptr<SinkServer>> SinkServer::Open(const Config& config,
                                                     zmq::context_t& context) {
  std::unique_ptr<SinkServer> s(new SinkServer(config, context));
  CQRS_RETURN_IF_ERROR(s->Init());
  return s;
}

Status SinkServer::Init() {
  auto log = projector::LocalLogTail::Open(config_, context_);
  if (!log.ok()) return log.status();
  log_ = std::move(log).value();
  control_ =
      shm::ControlBlock::AttachAndClaim(config_.data_dir, config_.cache.slots, shm::kPgSinkSlot);
  if (control_) control_->seqs().pgsink_applied_seq.store(0, std::memory_order_relaxed);
  return OkStatus();
}

void SinkServer::Beat() {
  if (!control_) return;
  control_->Beat(shm::kPgSinkSlot);
  control_->ExitIfOrphaned();
}

Status SinkServer::Connect() {
  Status s = ConnectOnce();
  if (!s.ok()) db_.reset();  // half set up: start over at the next try
  return s;
}

Status SinkServer::ConnectOnce() {
  const PostgresConfig& pg = config_.postgresql;
  rebuilding_ = false;
  try {
    db_ = std::make_unique<pqxx::connection>(pg.dsn);
    {
      pqxx::nontransaction n(*db_);
      n.exec("SET client_min_messages = warning");
      // The lock is the session's: it goes with the connection, however the sink ends.
      const bool locked = n.exec_params1("SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                                         "cqrs-pgsink:" + pg.name)[0]
                              .as<bool>();
      if (!locked)
        return Error(Code::kUnavailable,
                     "another cqrs-pgsink named '{}' is applying the log to this database; "
                     "waiting for it to stop",
                     pg.name);
    }
    auto plans = EnsureSchema(*db_, pg);
    if (!plans.ok()) return plans.status();
    // The live tables as they are (a table waiting for its rebuild: the columns it has).
    tables_.clear();
    live_specs_.clear();
    live_specs_.reserve(plans->size());  // TableBatch holds a reference: no reallocation
    for (std::size_t i = 0; i < plans->size(); ++i) {
      live_specs_.push_back((*plans)[i].live);
      tables_.emplace_back(live_specs_.back(), std::to_string(i));
      db_->prepare(tables_[i].upsert_name(), tables_[i].UpsertSql());
      db_->prepare(tables_[i].delete_name(), tables_[i].DeleteSql());
    }
    db_->prepare("reject",
                 "INSERT INTO cqrs_rejected (sink, seq, tenant, collection, key, column_name, "
                 "reason) SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], "
                 "$5::text[], $6::text[], $7::text[]) ON CONFLICT DO NOTHING");
    db_->prepare("advance",
                 "UPDATE cqrs_checkpoint SET seq = $3, updated_at = now() WHERE name = $1 AND "
                 "seq = $2");
    db_->prepare("advance_rebuild",
                 "UPDATE cqrs_checkpoint SET rebuild_seq = $3 WHERE name = $1 AND rebuild_seq = "
                 "$2");
    pqxx::work w(*db_);
    w.exec_params(
        "INSERT INTO cqrs_checkpoint (name, seq, store_id) VALUES ($1, 0, $2) ON CONFLICT DO "
        "NOTHING",
        pg.name, log_->store().store_id());
    pqxx::row row = w.exec_params1(
        "SELECT seq, store_id, rebuild_seq, rebuild_requested FROM cqrs_checkpoint WHERE name = "
        "$1",
        pg.name);
    const auto seq = row[0].as<std::int64_t>();
    const std::string store_id = row[1].as<std::string>();
    const std::optional<std::int64_t> rebuild_seq =
        row[2].is_null() ? std::nullopt : std::optional<std::int64_t>(row[2].as<std::int64_t>());
    const bool requested = row[3].as<bool>();
    if (store_id != log_->store().store_id()) {
      if (seq != 0)
        return Error(Code::kInternal,
                     "the PostgreSQL tables of sink '{}' hold write store {}'s events up to seq "
                     "{}, not this log's ({}): drop them, or give this pipeline another "
                     "[postgresql] name and tables",
                     pg.name, store_id, seq, log_->store().store_id());
      w.exec_params("UPDATE cqrs_checkpoint SET store_id = $2 WHERE name = $1", pg.name,
                    log_->store().store_id());
    }
    rejected_total_ =
        w.exec_params1("SELECT count(*) FROM cqrs_rejected WHERE sink = $1", pg.name)[0]
            .as<std::uint64_t>();
    w.commit();
    store::Txn snapshot;
    CQRS_RETURN_IF_ERROR(store::RenewSnapshot(log_->store().env(), &snapshot));
    auto last = log_->store().LastSeq(snapshot);
    if (!last.ok()) return last.status();
    if (static_cast<std::uint64_t>(seq) > last.value())
      return Error(Code::kInternal,
                   "the PostgreSQL checkpoint of sink '{}' is at seq {}, past this log's last "
                   "seq {} (a log restored from an older copy, or a nosync log that lost its "
                   "tail): drop the sink's tables and its cqrs_checkpoint row, and they are "
                   "made again from this log",
                   pg.name, seq, last.value());
    checkpoint_ = static_cast<std::uint64_t>(seq);
    std::vector<std::size_t> rebuild;
    for (std::size_t i = 0; i < plans->size(); ++i)
      if (requested || (*plans)[i].rebuild) rebuild.push_back(i);
    CQRS_RETURN_IF_ERROR(SetUpRebuild(rebuild, rebuild_seq));
    spdlog::info("applying the log to PostgreSQL from seq {} ({} tables, {} events parked{})",
                 checkpoint_ + 1, tables_.size(), rejected_total_,
                 rebuilding_ ? fmt::format("; rebuilding {} of them, at seq {}",
                                           rebuild_batches_.size(), rebuild_seq_)
                             : "");
  } catch (const std::exception& e) {
    return PgStatus(e, "connecting");
  }
  retry_.ClearCause();
  next_request_check_ = std::chrono::steady_clock::now() + kRequestCheck;
  if (control_) {
    control_->seqs().pgsink_applied_seq.store(checkpoint_, std::memory_order_relaxed);
    control_->seqs().pgsink_rejected.store(rejected_total_, std::memory_order_relaxed);
  }
  return OkStatus();
}

Status SinkServer::SetUpRebuild(const std::vector<std::size_t>& tables,
                                std::optional<std::int64_t> at_seq) {
  const PostgresConfig& pg = config_.postgresql;
  rebuild_batches_.clear();
  rebuild_specs_.clear();
  rebuild_index_.clear();
  rebuild_specs_.reserve(tables.size());
  if (tables.empty()) {
    if (at_seq) {  // a rebuild no longer wanted (the config went back): its shadows go
      for (std::size_t i = 0; i < pg.tables.size(); ++i)
        Exec("DROP TABLE IF EXISTS " + QuoteIdent(ShadowName(i)));
      Exec(fmt::format("UPDATE cqrs_checkpoint SET rebuild_seq = NULL WHERE name = {}",
                       db_->quote(pg.name)));
    }
    return OkStatus();
  }
  // Resumed where it was when every shadow is there with the declared columns; else begun
  // afresh from seq 0.
  bool resume = at_seq.has_value();
  for (std::size_t i : tables) resume = resume && TableMatches(*db_, pg.tables[i], ShadowName(i));
  for (std::size_t i : tables) {
    PgTableSpec& shadow = rebuild_specs_.emplace_back(pg.tables[i]);
    shadow.table = ShadowName(i);
    if (!resume) CreateShadow(*db_, pg.tables[i], shadow.table, /*fresh=*/true);
    TableBatch& batch = rebuild_batches_.emplace_back(shadow, shadow.table);
    db_->prepare(batch.upsert_name(), batch.UpsertSql());
    db_->prepare(batch.delete_name(), batch.DeleteSql());
    rebuild_index_.push_back(i);
  }
  // A request is taken up here: one made while this rebuild runs asks for another after it.
  Exec(fmt::format(
      "UPDATE cqrs_checkpoint SET rebuild_seq = {}, rebuild_requested = false WHERE name = {}",
      resume ? *at_seq : 0, db_->quote(pg.name)));
  rebuild_seq_ = resume ? static_cast<std::uint64_t>(*at_seq) : 0;
  rebuilding_ = true;
  spdlog::info("{} the rebuild of table(s) {} from the log at seq {}",
               resume ? "resuming" : "starting",
               fmt::join(rebuild_specs_ | std::views::transform([&](const PgTableSpec& t) {
                           return pg.FindTable(t.collection)->table;
                         }),
                         ", "),
               rebuild_seq_);
  return OkStatus();
}

void SinkServer::Exec(const std::string& sql) {
  pqxx::nontransaction n(*db_);
  n.exec(sql);
}

Result<std::size_t> SinkServer::ApplyNext() {
  return ApplyRange(checkpoint_, config_.postgresql.batch_max_events, tables_, "advance",
                    &checkpoint_);
}

Result<std::size_t> SinkServer::RebuildNext() {
  if (rebuild_seq_ < checkpoint_) {
    const std::size_t most = static_cast<std::size_t>(
        std::min<std::uint64_t>(config_.postgresql.batch_max_events, checkpoint_ - rebuild_seq_));
    auto applied =
        ApplyRange(rebuild_seq_, most, rebuild_batches_, "advance_rebuild", &rebuild_seq_);
    if (!applied.ok() || rebuild_seq_ < checkpoint_) return applied;
  }
  // Level with the live tables: swap the rebuilt ones in, clearing the rebuild in the same
  // transaction (fenced on both seqs).
  const PostgresConfig& pg = config_.postgresql;
  std::vector<std::pair<const PgTableSpec*, std::string>> swaps;
  for (std::size_t j = 0; j < rebuild_specs_.size(); ++j)
    swaps.emplace_back(&pg.tables[rebuild_index_[j]], rebuild_specs_[j].table);
  try {
    const bool swapped =
        SwapIn(*db_, pg, swaps,
               fmt::format("UPDATE cqrs_checkpoint SET rebuild_seq = NULL WHERE name = {} AND "
                           "seq = {} AND rebuild_seq = {}",
                           db_->quote(pg.name), checkpoint_, rebuild_seq_));
    if (!swapped)
      return Error(Code::kUnavailable,
                   "the checkpoint of sink '{}' moved under the rebuild's swap; reading it again",
                   pg.name);
  } catch (const std::exception& e) {
    return PgStatus(e, "swapping the rebuilt tables in");
  }
  spdlog::info("rebuilt table(s) swapped in at seq {}", checkpoint_);
  db_.reset();  // reconnect: the live statements are prepared for the tables as they now are
  return std::size_t{0};
}

Status SinkServer::Advance(pqxx::work& w, const char* advance, std::uint64_t after,
                           std::uint64_t to) {
  const pqxx::result advanced =
      w.exec_prepared(advance, config_.postgresql.name, static_cast<std::int64_t>(after),
                      static_cast<std::int64_t>(to));
  if (advanced.affected_rows() == 1) return OkStatus();
  w.abort();
  db_.reset();
  return Error(Code::kUnavailable,
               "the checkpoint of sink '{}' is no longer at seq {}: another sink applied the log "
               "meanwhile; reading it again",
               config_.postgresql.name, after);
}

void SinkServer::ExecRejects(pqxx::work& w) {
  if (rejected_.empty()) return;
  ArrayLiteral seqs, tenants, collections, keys, columns, reasons;
  for (auto* a : {&seqs, &tenants, &collections, &keys, &columns, &reasons}) a->Clear();
  for (const Rejection& r : rejected_) {
    seqs.Add(fmt::format("{}", r.seq));
    tenants.Add(r.tenant);
    collections.Add(r.collection);
    keys.Add(r.key);
    columns.Add(r.column);
    reasons.Add(r.reason);
  }
  w.exec_prepared("reject", config_.postgresql.name, seqs.Finish(), tenants.Finish(),
                  collections.Finish(), keys.Finish(), columns.Finish(), reasons.Finish());
}

Result<std::size_t> SinkServer::SeedTables(std::uint64_t after, std::vector<TableBatch>& tables,
                                           const char* advance, std::uint64_t* seq) {
  const std::uint64_t begin = MonoNs();
  store::WriteStore& log = log_->store();
  // A temporary hold: the sink's own stays at what PostgreSQL holds until the commit.
  store::LogHold hold = store::LogHold::Temporary(config_.data_dir);
  auto checkpoint = store::HoldNewestCheckpoint(log, hold);
  if (!checkpoint.ok()) return checkpoint.status();
  std::unordered_map<std::uint32_t, std::string> names;
  {
    auto snapshot = store::Txn::BeginRead(log.env());
    if (!snapshot.ok()) return snapshot.status();
    CQRS_RETURN_IF_ERROR(log.namespaces().ReadAll(snapshot.value(), &names));
  }
  auto entities = store::CheckpointEntities::Open(checkpoint.value());
  if (!entities.ok()) return entities.status();
  const std::string& name = config_.postgresql.name;
  std::size_t written = 0;
  try {
    pqxx::work w(*db_);
    for (TableBatch& t : tables) w.exec("DELETE FROM " + QuoteIdent(t.spec().table));
    auto flush = [&] {
      for (TableBatch& t : tables) {
        if (t.upserts() > 0)
          w.exec_prepared(t.upsert_name(), pqxx::prepare::make_dynamic_params(t.UpsertParams()));
        t.Clear();
      }
      ExecRejects(w);
      rejected_.clear();
    };
    for (TableBatch& t : tables) t.Clear();
    rejected_.clear();
    flatbuffers::FlatBufferBuilder fbb(1024);
    std::vector<flatbuffers::Offset<fb::Field>> fields;
    store::RecordHeader header;
    FieldView field;
    std::uint32_t ns = 0, last_ns = UINT32_MAX;
    std::size_t table = SIZE_MAX, in_batch = 0;
    std::string_view tenant, collection, key, record;
    Status got;
    while ((got = entities.value()->Next(&ns, &key, &record)).ok()) {
      if (ns != last_ns) {
        auto found = names.find(ns);
        if (found == names.end() || !store::SplitName(found->second, &tenant, &collection))
          return Error(Code::kInternal, "{}: namespace {} is not in the log's names",
                       checkpoint->path, ns);
        table = SIZE_MAX;
        for (std::size_t t = 0; t < tables.size(); ++t)
          if (tables[t].spec().collection == collection) table = t;
        last_ns = ns;
      }
      if (table == SIZE_MAX) continue;  // a collection without a table
      if (!store::ParseRecordHeader(record, &header))
        return Error(Code::kInternal, "{}: an entity record is not of this format",
                     checkpoint->path);
      if (header.tombstone) continue;
      // The entity as the event that left it so (an Update carries the whole state).
      fbb.Clear();
      fields.clear();
      store::RecordFieldReader reader(record);
      while (reader.Next(&field)) {
        auto value = wire::CreateValue(fbb, field.value);
        fields.push_back(
            fb::CreateField(fbb, fbb.CreateString(field.name), value.first, value.second));
      }
      if (!reader.ok())
        return Error(Code::kInternal, "{}: a malformed entity record", checkpoint->path);
      fbb.Finish(
          fb::CreateEvent(fbb, header.seq, 0, 0, fbb.CreateString(tenant),
                          fbb.CreateString(collection), fbb.CreateString(key), fb::Op::Update,
                          header.version, fbb.CreateVector(fields), 0, 0, wire::kEventFormat),
          wire::kEventId);
      if (events_.size() <= in_batch) events_.emplace_back();
      events_[in_batch].Assign(fbb.GetBufferPointer(), fbb.GetSize());
      tables[table].AddUpsert(*flatbuffers::GetRoot<fb::Event>(events_[in_batch].data()),
                              &rejected_);
      ++written;
      if (++in_batch == kSeedRows) {
        flush();
        in_batch = 0;
      }
    }
    if (got.code() != Code::kNotFound) return got;
    flush();
    CQRS_RETURN_IF_ERROR(Advance(w, advance, after, checkpoint->seq));
    w.commit();
  } catch (const std::exception& e) {
    db_.reset();
    return PgStatus(e, fmt::format("seeding from state checkpoint {}", checkpoint->path));
  }
  *seq = checkpoint->seq;
  spdlog::warn(
      "sink '{}': the log no longer holds the events after seq {}: {} table(s) filled with {} "
      "entities from state checkpoint {} (seq {}) in {:.2f} s; applying the log after it",
      name, after, tables.size(), written, checkpoint->path, checkpoint->seq,
      static_cast<double>(MonoNs() - begin) / 1e9);
  return written;
}

Result<std::size_t> SinkServer::ApplyRange(std::uint64_t after, std::size_t max_events,
                                           std::vector<TableBatch>& tables, const char* advance,
                                           std::uint64_t* seq) {
  auto read = log_->source().Read(after, max_events, kMaxBatchBytes, &events_);
  // Retention removed what this sink (new, or its hold released) has not applied yet.
  if (read.status().code() == Code::kOutOfRange) return SeedTables(after, tables, advance, seq);
  if (!read.ok()) return read.status();
  const std::size_t n = read.value();
  if (n == 0) return std::size_t{0};
  const std::uint64_t first = after + 1;
  verified_.clear();
  touches_.clear();
  for (std::size_t i = 0; i < n; ++i) {
    const fb::Event* event = nullptr;
    Status valid = wire::VerifyEvent(events_[i].span(), &event);
    if (!valid.ok())
      return Error(Code::kInternal, "the log's event at seq {} is unreadable: {}", first + i,
                   valid.ToString());
    if (event->seq() != first + i)
      return Error(Code::kInternal, "the log holds seq {} where seq {} was expected", event->seq(),
                   first + i);
    verified_.push_back(event);
    const std::string_view collection = wire::AsView(event->collection());
    for (std::size_t t = 0; t < tables.size(); ++t)
      if (tables[t].spec().collection == collection) {
        touches_.push_back({static_cast<std::uint32_t>(t), wire::AsView(event->tenant()),
                            wire::AsView(event->key()), static_cast<std::uint32_t>(i)});
        break;
      }
  }
  // Each key's last event in the batch stands for all of its events (each carries the whole
  // entity): a statement may touch a row once.
  std::sort(touches_.begin(), touches_.end(), [](const Touch& a, const Touch& b) {
    if (a.table != b.table) return a.table < b.table;
    if (a.tenant != b.tenant) return a.tenant < b.tenant;
    if (a.key != b.key) return a.key < b.key;
    return a.event < b.event;
  });
  for (TableBatch& t : tables) t.Clear();
  rejected_.clear();
  for (std::size_t i = 0; i < touches_.size(); ++i) {
    const Touch& t = touches_[i];
    if (i + 1 < touches_.size() && touches_[i + 1].table == t.table &&
        touches_[i + 1].tenant == t.tenant && touches_[i + 1].key == t.key)
      continue;
    const fb::Event& event = *verified_[t.event];
    if (event.op() == fb::Op::Delete)
      tables[t.table].AddDelete(event);
    else
      tables[t.table].AddUpsert(event, &rejected_);
  }
  const std::uint64_t last = first + n - 1;
  try {
    pqxx::work w(*db_);
    for (TableBatch& table : tables) {
      if (table.upserts() > 0)
        w.exec_prepared(table.upsert_name(),
                        pqxx::prepare::make_dynamic_params(table.UpsertParams()));
      if (table.deletes() > 0)
        w.exec_prepared(table.delete_name(),
                        pqxx::prepare::make_dynamic_params(table.DeleteParams()));
    }
    ExecRejects(w);
    CQRS_RETURN_IF_ERROR(Advance(w, advance, after, last));
    fault::MaybeCrash(fault::Point::kSinkCrashBeforeCommit);
    w.commit();
  } catch (const std::exception& e) {
    db_.reset();  // the outcome of a commit that was not heard is read back from the checkpoint
    return PgStatus(e, fmt::format("applying events {}..{}", first, last));
  }
  fault::MaybeCrash(fault::Point::kSinkCrashAfterCommit);
  *seq = last;
  if (seq != &checkpoint_) return n;  // a rebuild's batch: the live figures stay as they are
  rejected_total_ += rejected_.size();
  if (!rejected_.empty())
    spdlog::warn(
        "events {}..{}: {} value(s) parked in cqrs_rejected (first: seq {} {}/{} column "
        "{}: {})",
        first, last, rejected_.size(), rejected_[0].seq, rejected_[0].collection, rejected_[0].key,
        rejected_[0].column, rejected_[0].reason);
  if (control_) {
    auto& seqs = control_->seqs();
    seqs.pgsink_applied_seq.store(last, std::memory_order_relaxed);
    seqs.pgsink_rejected.store(rejected_total_, std::memory_order_relaxed);
    auto& slot = control_->slot(shm::kPgSinkSlot);
    slot.counters[shm::kBatches].fetch_add(1, std::memory_order_relaxed);
    slot.counters[shm::kEventsApplied].fetch_add(n, std::memory_order_relaxed);
    // The batch's lag: from the writer's commit of its last event to its COMMIT here.
    const std::uint64_t committed_ns = verified_.back()->timestamp_ns(), now = WallNs();
    slot.latency[shm::LatencyBucket(now > committed_ns ? now - committed_ns : 0)].fetch_add(
        1, std::memory_order_relaxed);
  }
  return n;
}

Status SinkServer::CheckRebuildRequest() {
  if (rebuilding_ || std::chrono::steady_clock::now() < next_request_check_) return OkStatus();
  next_request_check_ = std::chrono::steady_clock::now() + kRequestCheck;
  try {
    pqxx::nontransaction n(*db_);
    const bool requested =
        n.exec_params1("SELECT rebuild_requested FROM cqrs_checkpoint WHERE name = $1",
                       config_.postgresql.name)[0]
            .as<bool>();
    if (requested) {
      spdlog::info("a rebuild of every table was asked for (cqrs pg rebuild)");
      db_.reset();  // set up again, with the rebuild
    }
  } catch (const std::exception& e) {
    db_.reset();
    return PgStatus(e, "reading the checkpoint");
  }
  return OkStatus();
}

Status SinkServer::Run(const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  auto next_beat = Clock::now();
  auto wait = [&](std::chrono::milliseconds most) { log_->WaitForCommit(std::min(most, kBeat)); };
  while (!stop.load(std::memory_order_relaxed)) {
    if (Clock::now() >= next_beat) {
      Beat();
      next_beat = Clock::now() + kBeat;
    }
    Status step = db_ ? CheckRebuildRequest() : Connect();
    if (step.ok() && !db_) continue;  // let go to be set up again (a rebuild): at once
    if (step.ok()) {
      auto applied = ApplyNext();
      // A rebuild goes on between the live batches, so that the live tables stay current.
      if (applied.ok() && rebuilding_ && db_) {
        auto rebuilt = RebuildNext();
        if (!rebuilt.ok())
          applied = rebuilt.status();
        else if (applied.value() == 0)
          applied = rebuilt.value();
      }
      if (applied.ok()) {
        if (db_) hold_.Set(rebuilding_ ? std::min(checkpoint_, rebuild_seq_) : checkpoint_);
        retry_.Succeeded();
        if (applied.value() == 0 && db_) wait(kBeat);
        continue;
      }
      step = applied.status();
    }
    if (step.code() != Code::kUnavailable) return step;
    // Waits in beats, so that the heartbeat stays fresh through a long backoff.
    const auto until = Clock::now() + retry_.Failed(step);
    while (!stop.load(std::memory_order_relaxed) && Clock::now() < until) {
      Beat();
      wait(std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()));
    }
  }
  return OkStatus();
}

}  // namespace cqrs::pgsink
