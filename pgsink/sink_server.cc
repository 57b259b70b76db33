// The sink's loop: log → batches → PostgreSQL, exactly once.
#include "pgsink/sink_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "base/clock.h"
#include "base/fault.h"
#include "pgsink/schema.h"
#include "wire/event_codec.h"
#include "wire/value_codec.h"

namespace cqrs::pgsink {
namespace {

constexpr std::chrono::milliseconds kBeat(100);
constexpr std::size_t kMaxBatchBytes = 64u << 20;

}  // namespace

SinkServer::SinkServer(const Config& config, zmq::context_t& context)
    : config_(config),
      context_(context),
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
  for (const PgTableSpec& t : config_.postgresql.tables) tables_.emplace_back(t);
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
  const PostgresConfig& pg = config_.postgresql;
  try {
    if (!db_) {
      db_ = std::make_unique<pqxx::connection>(pg.dsn);
      pqxx::nontransaction n(*db_);
      n.exec("SET client_min_messages = warning");
      // The lock is the session's: it goes with the connection, however the sink ends.
      const bool locked = n.exec_params1("SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                                         "cqrs-pgsink:" + pg.name)[0]
                              .as<bool>();
      if (!locked) {
        db_.reset();
        return Error(Code::kUnavailable,
                     "another cqrs-pgsink named '{}' is applying the log to this database; "
                     "waiting for it to stop",
                     pg.name);
      }
    }
    CQRS_RETURN_IF_ERROR(EnsureSchema(*db_, pg));
    for (std::size_t i = 0; i < tables_.size(); ++i) {
      db_->prepare(fmt::format("upsert_{}", i), tables_[i].UpsertSql());
      db_->prepare(fmt::format("delete_{}", i), tables_[i].DeleteSql());
    }
    db_->prepare("reject",
                 "INSERT INTO cqrs_rejected (sink, seq, tenant, collection, key, column_name, "
                 "reason) SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], "
                 "$5::text[], $6::text[], $7::text[]) ON CONFLICT DO NOTHING");
    db_->prepare("advance",
                 "UPDATE cqrs_checkpoint SET seq = $3, updated_at = now() WHERE name = $1 AND "
                 "seq = $2");
    pqxx::work w(*db_);
    w.exec_params(
        "INSERT INTO cqrs_checkpoint (name, seq, store_id) VALUES ($1, 0, $2) ON CONFLICT DO "
        "NOTHING",
        pg.name, log_->store().store_id());
    pqxx::row row =
        w.exec_params1("SELECT seq, store_id FROM cqrs_checkpoint WHERE name = $1", pg.name);
    const auto seq = row[0].as<std::int64_t>();
    const std::string store_id = row[1].as<std::string>();
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
                   "tail): run `cqrs pg rebuild`",
                   pg.name, seq, last.value());
    checkpoint_ = static_cast<std::uint64_t>(seq);
    spdlog::info("applying the log to PostgreSQL from seq {} ({} tables, {} events parked)",
                 checkpoint_ + 1, tables_.size(), rejected_total_);
  } catch (const std::exception& e) {
    db_.reset();
    return PgStatus(e, "connecting");
  }
  retry_.ClearCause();
  if (control_) {
    control_->seqs().pgsink_applied_seq.store(checkpoint_, std::memory_order_relaxed);
    control_->seqs().pgsink_rejected.store(rejected_total_, std::memory_order_relaxed);
  }
  return OkStatus();
}

Result<std::size_t> SinkServer::ApplyNext() {
  auto read = log_->source().Read(checkpoint_, config_.postgresql.batch_max_events, kMaxBatchBytes,
                                  &events_);
  if (!read.ok()) return read.status();
  const std::size_t n = read.value();
  if (n == 0) return std::size_t{0};
  const std::uint64_t first = checkpoint_ + 1;
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
    for (std::size_t t = 0; t < tables_.size(); ++t)
      if (tables_[t].spec().collection == collection) {
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
  for (TableBatch& t : tables_) t.Clear();
  rejected_.clear();
  for (std::size_t i = 0; i < touches_.size(); ++i) {
    const Touch& t = touches_[i];
    if (i + 1 < touches_.size() && touches_[i + 1].table == t.table &&
        touches_[i + 1].tenant == t.tenant && touches_[i + 1].key == t.key)
      continue;
    const fb::Event& event = *verified_[t.event];
    if (event.op() == fb::Op::Delete)
      tables_[t.table].AddDelete(event);
    else
      tables_[t.table].AddUpsert(event, &rejected_);
  }
  const std::uint64_t last = first + n - 1;
  const std::string& name = config_.postgresql.name;
  try {
    pqxx::work w(*db_);
    for (std::size_t t = 0; t < tables_.size(); ++t) {
      TableBatch& table = tables_[t];
      if (table.upserts() > 0)
        w.exec_prepared(fmt::format("upsert_{}", t),
                        pqxx::prepare::make_dynamic_params(table.UpsertParams()));
      if (table.deletes() > 0)
        w.exec_prepared(fmt::format("delete_{}", t),
                        pqxx::prepare::make_dynamic_params(table.DeleteParams()));
    }
    if (!rejected_.empty()) {
      ArrayLiteral seqs, tenants, collections, keys, columns, reasons;
      seqs.Clear(), tenants.Clear(), collections.Clear(), keys.Clear(), columns.Clear(),
          reasons.Clear();
      for (const Rejection& r : rejected_) {
        seqs.Add(fmt::format("{}", r.seq));
        tenants.Add(r.tenant);
        collections.Add(r.collection);
        keys.Add(r.key);
        columns.Add(r.column);
        reasons.Add(r.reason);
      }
      w.exec_prepared("reject", name, seqs.Finish(), tenants.Finish(), collections.Finish(),
                      keys.Finish(), columns.Finish(), reasons.Finish());
    }
    const pqxx::result advanced = w.exec_prepared(
        "advance", name, static_cast<std::int64_t>(checkpoint_), static_cast<std::int64_t>(last));
    if (advanced.affected_rows() != 1) {
      w.abort();
      db_.reset();
      return Error(Code::kUnavailable,
                   "the checkpoint of sink '{}' is no longer at seq {}: another sink applied "
                   "the log meanwhile; reading it again",
                   name, checkpoint_);
    }
    fault::MaybeCrash(fault::Point::kSinkCrashBeforeCommit);
    w.commit();
  } catch (const std::exception& e) {
    db_.reset();  // the outcome of a commit that was not heard is read back from the checkpoint
    return PgStatus(e, fmt::format("applying events {}..{}", first, last));
  }
  fault::MaybeCrash(fault::Point::kSinkCrashAfterCommit);
  checkpoint_ = last;
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

Status SinkServer::Run(const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  auto next_beat = Clock::now();
  auto wait = [&](std::chrono::milliseconds most) { log_->WaitForCommit(std::min(most, kBeat)); };
  while (!stop.load(std::memory_order_relaxed)) {
    if (Clock::now() >= next_beat) {
      Beat();
      next_beat = Clock::now() + kBeat;
    }
    Status step = db_ ? OkStatus() : Connect();
    if (step.ok()) {
      auto applied = ApplyNext();
      if (applied.ok()) {
        retry_.Succeeded();
        if (applied.value() == 0) wait(kBeat);
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
