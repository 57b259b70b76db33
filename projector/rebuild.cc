// Bulk apply of the event log to a read store, and the rebuild of a read store beside the live
// one (its read models: projector/derive_read_models.cc).
#include "projector/rebuild.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/status.h"
#include "projector/ordered_writer.h"
#include "store/aggregate_group.h"
#include "store/key_format.h"
#include "store/ordered_value.h"
#include "store/read_store_format.h"
#include "store/record_format.h"
#include "store/state_checkpoint.h"
#include "store/write_store_format.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"
#include "wire/value_codec.h"

namespace cqrs::projector {
namespace {

using wire::AsView;

// Events copied out of one short snapshot of the log (never held across a whole transaction).
constexpr std::size_t kReadChunk = 4096;
constexpr std::uint32_t kNoEntry = UINT32_MAX;

// A snapshot of the log for the rebuild's thread. While another process's map growth waits for
// this process's other snapshots to end (rare: the log is mapped at the writer's maximum), it
// waits too, up to 10 s, rather than fail the rebuild.
Status LogSnapshot(store::WriteStore& log, store::Txn* snapshot) {
  for (int attempt = 0;; ++attempt) {
    Status s = store::RenewSnapshot(log.env(), snapshot);
    if (s.ok() || !store::IsMapResized(s) || attempt >= 1000) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// A window of the log applied in one transaction to entities and collection logs only, in
// three passes over one snapshot of the log:
//   1. read each event (copied to be aligned, verified), append it to its collection log (seq
//      order), and keep its namespace, seq and key (about 50 bytes an event);
//   2. sort those by (namespace, key, seq); each key's last event is the one to write;
//   3. read the window again in seq order and build the records of those events into an arena,
//      each in its slot of key order; then write them in key order, MDB_APPEND into an empty
//      store, else puts that land next to the previous one.
// Memory: about 50 bytes per event of the window plus the window's final records. The log
// snapshot lasts the window (a second or two per million events); meanwhile the writer cannot
// reuse pages it frees, so its file may grow by what it writes in that time.
class BulkWindow {
 public:
  // Applies the events after the checkpoint through `to_seq` (at most `max_events`) in `txn`;
  // `*applied` counts them (0: none left).
  Status Apply(store::Txn& txn, store::WriteStore& log, store::ReadStore& store,
               std::uint64_t to_seq, std::size_t max_events, std::size_t* applied) {
    *applied = 0;
    auto checkpoint = store.ReadCheckpoint(txn);
    if (!checkpoint.ok()) return checkpoint.status();
    store::Checkpoint c = checkpoint.value();
    if (c.applied_seq >= to_seq) return OkStatus();
    const std::uint64_t first = c.applied_seq + 1;
    entries_.clear();
    keys_.clear();
    last_ns_ = 0;
    const store::ReadDbs& dbs = store.dbs();
    store::Txn snapshot;
    CQRS_RETURN_IF_ERROR(LogSnapshot(log, &snapshot));
    CQRS_RETURN_IF_ERROR(log.CheckFrom(snapshot, first));
    auto cursor = store::Cursor::Open(snapshot, log.dbs().events);
    if (!cursor.ok()) return cursor.status();

    // Pass 1.
    auto log_out = OrderedWriter::Open(txn, dbs.collection_log, /*dupsort=*/false);
    if (!log_out.ok()) return log_out.status();
    store::KeyBuffer from = store::SeqKey(first);
    std::string_view k = from.view(), v;
    for (Status got = cursor->Get(MDB_SET_RANGE, &k, &v); entries_.size() < max_events;
         got = cursor->Get(MDB_NEXT, &k, &v)) {
      if (got.code() == Code::kNotFound) break;
      CQRS_RETURN_IF_ERROR(got);
      const std::uint64_t seq = first + entries_.size();
      if (seq > to_seq) break;
      const fb::Event* e = nullptr;
      CQRS_RETURN_IF_ERROR(Verify(v, seq, &e));
      std::uint32_t ns = 0;
      CQRS_RETURN_IF_ERROR(Namespace(txn, store, *e, &ns));
      const std::string_view key = AsView(e->key());
      entries_.push_back({KeyWord(key, 0), KeyWord(key, 8), keys_.size(), ns,
                          static_cast<std::uint32_t>(key.size()),
                          static_cast<std::uint32_t>(seq - first)});
      keys_.append(key);
      const store::KeyBuffer log_key = store::CollectionLogKey(ns, seq);
      CQRS_RETURN_IF_ERROR(log_out->Put(log_key.view(), {}, false));
    }
    const std::size_t n = entries_.size();
    if (n == 0) return OkStatus();

    // Pass 2.
    std::sort(entries_.begin(), entries_.end(), [this](const Entry& a, const Entry& b) {
      if (a.ns != b.ns) return a.ns < b.ns;
      if (a.word0 != b.word0) return a.word0 < b.word0;
      if (a.word1 != b.word1) return a.word1 < b.word1;
      if (a.key_size > 16 || b.key_size > 16)
        if (int cmp = Key(a).compare(Key(b)); cmp != 0) return cmp < 0;
      if (a.key_size != b.key_size) return a.key_size < b.key_size;
      return a.offset < b.offset;
    });
    rank_.assign(n, kNoEntry);
    finals_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      const Entry& en = entries_[i];
      if (i + 1 < n && entries_[i + 1].ns == en.ns && Key(entries_[i + 1]) == Key(en))
        continue;  // overwritten later in the window
      rank_[en.offset] = static_cast<std::uint32_t>(finals_.size());
      finals_.push_back(static_cast<std::uint32_t>(i));
    }

    // Pass 3.
    slots_.assign(finals_.size(), {0, kDeleted});
    records_.clear();
    k = from.view();
    std::size_t offset = 0;
    for (Status got = cursor->Get(MDB_SET_RANGE, &k, &v); offset < n;
         got = cursor->Get(MDB_NEXT, &k, &v), ++offset) {
      CQRS_RETURN_IF_ERROR(got);
      if (rank_[offset] == kNoEntry) continue;
      // Verified by pass 1 in this same snapshot: only aligned again.
      event_.Assign(v.data(), v.size());
      const fb::Event* e = flatbuffers::GetRoot<fb::Event>(event_.data());
      if (e->op() == fb::Op::Delete) continue;
      const std::string_view record = store::EventRecord(*e, &fields_, &record_);
      slots_[rank_[offset]] = {records_.size(), static_cast<std::uint32_t>(record.size())};
      records_.append(record);
    }
    auto out = OrderedWriter::Open(txn, dbs.entities, /*dupsort=*/false);
    if (!out.ok()) return out.status();
    for (std::size_t r = 0; r < finals_.size(); ++r) {
      const Entry& en = entries_[finals_[r]];
      const store::KeyBuffer key = store::EntityKey(en.ns, Key(en));
      if (slots_[r].size == kDeleted) {
        Status s = txn.Del(dbs.entities, key.view());
        if (!s.ok() && s.code() != Code::kNotFound) return s;
        continue;
      }
      CQRS_RETURN_IF_ERROR(out->Put(
          key.view(), std::string_view(records_).substr(slots_[r].at, slots_[r].size), false));
    }
    c.applied_seq += n;
    c.applied_events += n;
    CQRS_RETURN_IF_ERROR(store.WriteCheckpoint(txn, c));
    *applied = n;
    last_seq_ = c.applied_seq;
    return OkStatus();
  }
  std::uint64_t last_seq() const { return last_seq_; }

 private:
  static constexpr std::uint32_t kDeleted = UINT32_MAX;

  struct Entry {
    std::uint64_t word0, word1;  // the key's bytes 0-7 and 8-15, big-endian, zero-padded
    std::size_t key_at;          // in keys_
    std::uint32_t ns;
    std::uint32_t key_size;
    std::uint32_t offset;  // seq - the window's first seq
  };
  struct Slot {
    std::size_t at;      // in records_
    std::uint32_t size;  // kDeleted: the key's last event deletes it
  };

  static std::uint64_t KeyWord(std::string_view key, std::size_t at) {
    std::uint8_t bytes[8] = {};
    if (key.size() > at)
      std::memcpy(bytes, key.data() + at, std::min<std::size_t>(key.size() - at, 8));
    return store::GetU64BE(bytes);
  }
  std::string_view Key(const Entry& e) const { return {keys_.data() + e.key_at, e.key_size}; }

  // Copies a log value into the aligned buffer and verifies it is the event of `seq`.
  Status Verify(std::string_view value, std::uint64_t seq, const fb::Event** e) {
    event_.Assign(value.data(), value.size());
    Status s = wire::VerifyEvent(event_.span(), e);
    if (!s.ok()) return Error(Code::kInternal, "event log entry {}: {}", seq, s.message());
    if ((*e)->seq() != seq)
      return Error(Code::kInternal, "event seq {} where seq {} belongs", (*e)->seq(), seq);
    return OkStatus();
  }

  Status Namespace(store::Txn& txn, const store::ReadStore& store, const fb::Event& e,
                   std::uint32_t* ns) {
    if (last_ns_ == 0 || AsView(e.tenant()) != last_tenant_ ||
        AsView(e.collection()) != last_collection_) {
      CQRS_RETURN_IF_ERROR(
          store.namespaces().Intern(txn, AsView(e.tenant()), AsView(e.collection()), &last_ns_));
      last_tenant_.assign(AsView(e.tenant()));
      last_collection_.assign(AsView(e.collection()));
    }
    *ns = last_ns_;
    return OkStatus();
  }

  std::vector<Entry> entries_;
  std::string keys_;                 // the window's keys, back to back
  std::vector<std::uint32_t> rank_;  // per offset: its slot if it is its key's last, else kNoEntry
  std::vector<std::uint32_t> finals_;  // per slot: its entry
  std::vector<Slot> slots_;
  std::string records_;  // the final records, in seq order
  wire::AlignedBuffer event_;
  std::vector<FieldView> fields_;
  store::RecordBuilder record_;
  std::string last_tenant_, last_collection_;
  std::uint32_t last_ns_ = 0;
  std::uint64_t last_seq_ = 0;
};

}  // namespace

Result<std::uint64_t> ApplyLog(store::WriteStore& log, store::ReadStore& store,
                               EventApplier& applier, std::uint64_t to_seq,
                               std::size_t events_per_txn, const std::atomic<bool>& cancel,
                               const std::function<void(std::uint64_t)>& progress) {
  std::uint64_t applied = 0;
  std::vector<wire::AlignedBuffer> events(std::min(kReadChunk, events_per_txn));
  for (;;) {
    if (cancel.load(std::memory_order_relaxed)) return applied;
    auto begun = store::Txn::BeginWrite(store.env());
    if (!begun.ok()) return begun.status();
    store::Txn txn = std::move(begun).value();
    CQRS_RETURN_IF_ERROR(applier.Begin(txn));
    if (applier.checkpoint().applied_seq >= to_seq) return applied;
    std::size_t in_txn = 0;
    Status s;
    while (s.ok() && in_txn < events_per_txn && !cancel.load(std::memory_order_relaxed)) {
      // Copy a chunk out of a short snapshot of the log, then apply it.
      const std::uint64_t from = applier.checkpoint().applied_seq + 1;
      if (from > to_seq) break;
      const std::size_t want = std::min(events.size(), events_per_txn - in_txn);
      std::size_t count = 0;
      {
        store::Txn snapshot;
        CQRS_RETURN_IF_ERROR(LogSnapshot(log, &snapshot));
        CQRS_RETURN_IF_ERROR(log.CheckFrom(snapshot, from));
        auto cursor = store::Cursor::Open(snapshot, log.dbs().events);
        if (!cursor.ok()) return cursor.status();
        store::KeyBuffer key = store::SeqKey(from);
        std::string_view k = key.view(), v;
        for (Status got = cursor->Get(MDB_SET_RANGE, &k, &v); count < want;
             got = cursor->Get(MDB_NEXT, &k, &v)) {
          if (got.code() == Code::kNotFound) break;
          CQRS_RETURN_IF_ERROR(got);
          if (store::GetU64BE(reinterpret_cast<const std::uint8_t*>(k.data())) > to_seq) break;
          events[count++].Assign(v.data(), v.size());
        }
      }
      if (count == 0) break;
      for (std::size_t i = 0; s.ok() && i < count; ++i) {
        const fb::Event* event = nullptr;
        s = wire::VerifyEvent(events[i].span(), &event);
        if (!s.ok()) {
          s = Error(Code::kInternal, "event log entry after seq {}: {}",
                    applier.checkpoint().applied_seq, s.message());
          break;
        }
        s = applier.Apply(txn, *event);
      }
      in_txn += count;
      if (s.ok() && progress) progress(applier.checkpoint().applied_seq);
    }
    if (in_txn == 0 && s.ok()) return applied;  // the log ends before to_seq
    if (s.ok()) s = applier.End(txn);
    if (s.ok()) s = txn.Commit();
    if (!s.ok()) {
      txn.Abort();
      if (!store::IsMapFull(s)) return s;
      CQRS_RETURN_IF_ERROR(store.Grow());
      continue;  // the same events again, in a larger map
    }
    applied += in_txn;
  }
}

Result<std::uint64_t> BulkApplyLog(store::WriteStore& log, store::ReadStore& store,
                                   std::uint64_t to_seq, std::size_t events_per_txn,
                                   const std::atomic<bool>& cancel,
                                   const std::function<void(std::uint64_t)>& progress) {
  std::uint64_t applied = 0;
  BulkWindow window;
  while (!cancel.load(std::memory_order_relaxed)) {
    auto begun = store::Txn::BeginWrite(store.env());
    if (!begun.ok()) return begun.status();
    store::Txn txn = std::move(begun).value();
    std::size_t count = 0;
    Status s = window.Apply(txn, log, store, to_seq, events_per_txn, &count);
    if (s.ok() && count == 0) return applied;
    if (s.ok()) s = txn.Commit();
    if (!s.ok()) {
      txn.Abort();
      if (!store::IsMapFull(s)) return s;
      CQRS_RETURN_IF_ERROR(store.Grow());
      continue;  // the same window again, in a larger map
    }
    applied += count;
    if (progress) progress(window.last_seq());
  }
  return applied;
}

namespace {

// Entities copied per read-store transaction of a seed (bounded dirty pages).
constexpr std::size_t kSeedEntitiesPerTxn = 200'000;

// The collection logs of the events the log still holds up to `to_seq` (those before a seed's
// checkpoint), so that a filtered replay from any seq the log holds finds every event.
Status IndexLogThrough(store::WriteStore& log, store::ReadStore& store, store::Txn& txn,
                       std::uint64_t to_seq) {
  store::Txn snapshot;
  CQRS_RETURN_IF_ERROR(LogSnapshot(log, &snapshot));
  auto first = log.FirstSeq(snapshot);
  if (!first.ok()) return first.status();
  auto cursor = store::Cursor::Open(snapshot, log.dbs().events);
  if (!cursor.ok()) return cursor.status();
  const store::KeyBuffer from = store::SeqKey(first.value());
  std::string_view k = from.view(), v;
  wire::AlignedBuffer event;
  std::string last_tenant, last_collection;
  std::uint32_t ns = 0;
  for (Status got = cursor->Get(MDB_SET_RANGE, &k, &v); got.code() != Code::kNotFound;
       got = cursor->Get(MDB_NEXT, &k, &v)) {
    CQRS_RETURN_IF_ERROR(got);
    const std::uint64_t seq = store::DecodeSeqKey(k);
    if (seq > to_seq) break;
    event.Assign(v.data(), v.size());
    const fb::Event* e = nullptr;
    if (Status s = wire::VerifyEvent(event.span(), &e); !s.ok())
      return Error(Code::kInternal, "event log entry {}: {}", seq, s.message());
    if (ns == 0 || AsView(e->tenant()) != last_tenant ||
        AsView(e->collection()) != last_collection) {
      CQRS_RETURN_IF_ERROR(
          store.namespaces().Intern(txn, AsView(e->tenant()), AsView(e->collection()), &ns));
      last_tenant.assign(AsView(e->tenant()));
      last_collection.assign(AsView(e->collection()));
    }
    CQRS_RETURN_IF_ERROR(
        txn.Put(store.dbs().collection_log, store::CollectionLogKey(ns, seq).view(), {}));
  }
  return OkStatus();
}

// One pass of a seed from `checkpoint` into `store`: clears it, copies the live entities.
Status CopyCheckpoint(store::WriteStore& log, store::ReadStore& store,
                      const store::StateCheckpoint& checkpoint) {
  std::unordered_map<std::uint32_t, std::string> names;
  {
    store::Txn snapshot;
    CQRS_RETURN_IF_ERROR(LogSnapshot(log, &snapshot));
    CQRS_RETURN_IF_ERROR(log.namespaces().ReadAll(snapshot, &names));
  }
  auto entities = store::CheckpointEntities::Open(checkpoint);
  if (!entities.ok()) return entities.status();
  const store::ReadDbs& dbs = store.dbs();
  std::uint32_t ns = 0, last_ns = UINT32_MAX, read_ns = 0;
  std::string_view key, record;
  Status got = entities.value()->Next(&ns, &key, &record);
  bool first_txn = true;
  store::RecordHeader header;
  for (;;) {
    auto begun = store::Txn::BeginWrite(store.env());
    if (!begun.ok()) return begun.status();
    store::Txn txn = std::move(begun).value();
    if (first_txn) {
      for (store::Dbi dbi : {dbs.entities, dbs.collection_log, dbs.indexes, dbs.aggregates})
        CQRS_RETURN_IF_ERROR(txn.Drop(dbi));
      CQRS_RETURN_IF_ERROR(IndexLogThrough(log, store, txn, checkpoint.seq));
      CQRS_RETURN_IF_ERROR(store.WriteCheckpoint(txn, store::Checkpoint{}));
      first_txn = false;
    }
    // The writer's cursor closes before the commit (which frees a write transaction's cursors).
    auto out = std::make_optional(OrderedWriter::Open(txn, dbs.entities, /*dupsort=*/false));
    if (!out->ok()) return out->status();
    std::size_t in_txn = 0;
    for (; got.ok() && in_txn < kSeedEntitiesPerTxn;
         got = entities.value()->Next(&ns, &key, &record)) {
      if (!store::ParseRecordHeader(record, &header))
        return Error(Code::kInternal, "{}: an entity record is not of this format",
                     checkpoint.path);
      if (header.tombstone) continue;  // the read store keeps no deleted keys
      if (ns != last_ns) {
        auto name = names.find(ns);
        std::string_view tenant, collection;
        if (name == names.end() || !store::SplitName(name->second, &tenant, &collection))
          return Error(Code::kInternal, "{}: namespace {} is not in the log's names",
                       checkpoint.path, ns);
        CQRS_RETURN_IF_ERROR(store.namespaces().Intern(txn, tenant, collection, &read_ns));
        last_ns = ns;
      }
      CQRS_RETURN_IF_ERROR(out->value().Put(store::EntityKey(read_ns, key).view(), record,
                                            /*same_key_as_last=*/false));
      ++in_txn;
    }
    out.reset();
    if (!got.ok() && got.code() != Code::kNotFound) return got;
    if (got.code() == Code::kNotFound) {
      store::Checkpoint c;
      c.applied_seq = c.applied_events = checkpoint.seq;
      CQRS_RETURN_IF_ERROR(store.WriteCheckpoint(txn, c));
    }
    CQRS_RETURN_IF_ERROR(txn.Commit());
    if (got.code() == Code::kNotFound) return OkStatus();
  }
}

}  // namespace

Result<std::uint64_t> SeedFromCheckpoint(store::WriteStore& log, store::ReadStore& store,
                                         store::LogHold& hold) {
  const std::uint64_t begin = MonoNs();
  auto checkpoint = store::HoldNewestCheckpoint(log, hold);
  if (!checkpoint.ok()) return checkpoint.status();
  for (;;) {
    Status s = CopyCheckpoint(log, store, checkpoint.value());
    if (s.ok()) break;
    if (!store::IsMapFull(s)) return s;
    CQRS_RETURN_IF_ERROR(store.Grow());  // and copy again, from the start
  }
  spdlog::info("read store seeded from state checkpoint {} (seq {}) in {:.2f} s", checkpoint->path,
               checkpoint->seq, static_cast<double>(MonoNs() - begin) / 1e9);
  return checkpoint->seq;
}

Result<std::optional<std::uint64_t>> SeedIfPassed(store::WriteStore& log, store::ReadStore& store,
                                                  std::uint64_t applied_seq, store::LogHold& hold) {
  hold.Set(applied_seq);
  CQRS_RETURN_IF_ERROR(hold.Flush());
  store::Txn snapshot;
  CQRS_RETURN_IF_ERROR(LogSnapshot(log, &snapshot));
  Status from = log.CheckFrom(snapshot, applied_seq + 1);
  snapshot.Reset();
  if (from.ok()) return std::optional<std::uint64_t>();
  if (from.code() != Code::kOutOfRange) return from;
  auto seeded = SeedFromCheckpoint(log, store, hold);
  if (!seeded.ok()) return seeded.status();
  return std::optional<std::uint64_t>(seeded.value());
}

Result<RebuildTarget> CreateRebuildTarget(const std::string& dir, const Config& config,
                                          const std::string& write_store_id) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Error(Code::kInternal, "cannot remove {}: {}", dir, ec.message());
  RebuildTarget t;
  t.dir = dir;
  t.hold = store::LogHold::Temporary(config.data_dir);
  store::ReadStoreOptions o;
  o.dir = dir;
  o.map_size = config.projector.map_size_mb << 20;
  o.max_map_size = config.projector.max_map_size_mb << 20;
  auto opened = store::ReadStore::Open(o);
  if (!opened.ok()) return opened.status();
  t.store = std::move(opened).value();
  auto txn = store::Txn::BeginWrite(t.store->env());
  if (!txn.ok()) return txn.status();
  CQRS_RETURN_IF_ERROR(t.store->SetFollowedStoreId(txn.value(), write_store_id));
  CQRS_RETURN_IF_ERROR(t.store->SetReadModels(txn.value(), config.ReadModelFingerprint()));
  CQRS_RETURN_IF_ERROR(txn->Commit());
  return t;
}

Result<bool> BuildRebuildTarget(store::WriteStore& log, RebuildTarget& target,
                                const std::vector<CollectionSpec>& models, std::uint64_t to_seq,
                                const std::atomic<bool>& cancel,
                                const std::function<void(std::uint64_t)>& progress) {
  const std::uint64_t begin = MonoNs();
  auto seeded = SeedIfPassed(log, *target.store, 0, target.hold);
  if (!seeded.ok()) return seeded.status();
  auto applied = BulkApplyLog(log, *target.store, to_seq, kRebuildEventsPerTxn, cancel,
                              [&](std::uint64_t seq) {
                                target.hold.Set(seq);
                                if (progress) progress(seq);
                              });
  if (!applied.ok()) return applied.status();
  if (cancel.load(std::memory_order_relaxed)) return false;
  const std::uint64_t derive = MonoNs();
  CQRS_RETURN_IF_ERROR(DeriveReadModels(*target.store, models, kDeriveBudgetBytes));
  spdlog::info("rebuild: {} events applied in {:.2f} s, read models derived in {:.2f} s",
               applied.value(), static_cast<double>(derive - begin) / 1e9,
               static_cast<double>(MonoNs() - derive) / 1e9);
  target.applier = std::make_unique<EventApplier>(*target.store, models);
  return true;
}

}  // namespace cqrs::projector
