// Bulk apply of the event log to a read store, and read models derived from its entities.
#include "projector/rebuild.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "store/aggregate_group.h"
#include "store/key_format.h"
#include "store/ordered_value.h"
#include "store/read_store_format.h"
#include "store/record_format.h"
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

// Puts in ascending order through one cursor (a put next to the previous one skips the descent
// from the root): MDB_APPEND (MDB_APPENDDUP for a key's further duplicates) while the database's
// last entry is below, which fills pages instead of splitting them in half; ordinary puts once
// it is not (a namespace whose entries sort before earlier ones').
class OrderedWriter {
 public:
  // `dupsort`: the database has MDB_DUPSORT (a repeated pair is then skipped; otherwise a
  // repeated key is overwritten).
  static Result<OrderedWriter> Open(store::Txn& txn, store::Dbi dbi, bool dupsort) {
    auto cursor = store::Cursor::Open(txn, dbi);
    if (!cursor.ok()) return cursor.status();
    return OrderedWriter(std::move(cursor).value(), dupsort ? MDB_NODUPDATA : 0u);
  }
  Status Put(std::string_view key, std::string_view value, bool same_key_as_last) {
    if (append_) {
      Status s = cursor_.Put(key, value, same_key_as_last ? MDB_APPENDDUP : MDB_APPEND);
      if (s.code() != Code::kAlreadyExists) return s;
      append_ = false;
    }
    Status s = cursor_.Put(key, value, fallback_flags_);
    return s.code() == Code::kAlreadyExists ? OkStatus() : s;
  }

 private:
  OrderedWriter(store::Cursor cursor, unsigned fallback_flags)
      : cursor_(std::move(cursor)), fallback_flags_(fallback_flags) {}
  store::Cursor cursor_;
  unsigned fallback_flags_;
  bool append_ = true;
};

// The entity keys of one scan, back to back, numbered in scan (= key) order.
class KeyArena {
 public:
  std::uint32_t Add(std::string_view key) {
    at_.push_back(bytes_.size());
    bytes_.append(key);
    return static_cast<std::uint32_t>(at_.size() - 1);
  }
  std::string_view operator[](std::uint32_t i) const {
    const std::size_t end = i + 1 < at_.size() ? at_[i + 1] : bytes_.size();
    return std::string_view(bytes_).substr(at_[i], end - at_[i]);
  }
  std::size_t bytes() const { return bytes_.size() + at_.size() * sizeof(std::size_t); }
  void Clear() {
    at_.clear();
    bytes_.clear();
  }

 private:
  std::vector<std::size_t> at_;
  std::string bytes_;
};

// One index's entries gathered from a scan of its collection's entities: (value group, entity
// number) in scan order, which is key order, which is LMDB's order of duplicates. Writing sorts
// the distinct index keys and places the entries by counting, so no entry is compared.
class IndexGather {
 public:
  IndexGather(std::uint32_t id, std::string field) : id_(id), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

  void Add(const ValueView& value, std::uint32_t entity) {
    scratch_.Clear();
    scratch_.U32(id_);
    store::AppendOrderedValue(value, &scratch_);
    auto [it, added] = groups_.try_emplace(std::string(scratch_.view()),
                                           static_cast<std::uint32_t>(groups_.size()));
    entries_.push_back({it->second, entity});
  }

  std::size_t bytes() const {
    return entries_.size() * sizeof(Entry) + groups_.size() * (scratch_.view().size() + 64);
  }

  Status Write(store::Txn& txn, store::Dbi dbi, const KeyArena& keys) {
    std::vector<const std::pair<const std::string, std::uint32_t>*> order(groups_.size());
    for (const auto& g : groups_) order[g.second] = &g;
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
    // start[g]: where group g's entries begin in key order of the groups.
    std::vector<std::uint32_t> start(groups_.size() + 1, 0);
    for (const Entry& e : entries_) ++start[e.group + 1];
    std::vector<std::uint32_t> sizes(start.begin() + 1, start.end());
    std::uint32_t at = 0;
    for (const auto* g : order) {
      start[g->second] = at;
      at += sizes[g->second];
    }
    std::vector<std::uint32_t> placed(entries_.size());
    for (const Entry& e : entries_) placed[start[e.group]++] = e.entity;
    auto out = OrderedWriter::Open(txn, dbi, /*dupsort=*/true);
    if (!out.ok()) return out.status();
    std::size_t next = 0;
    for (const auto* g : order)
      for (std::uint32_t i = 0; i < sizes[g->second]; ++i, ++next)
        CQRS_RETURN_IF_ERROR(out->Put(g->first, keys[placed[next]], i > 0));
    groups_.clear();
    entries_.clear();
    return OkStatus();
  }

 private:
  struct Entry {
    std::uint32_t group;
    std::uint32_t entity;
  };
  std::uint32_t id_;
  std::string field_;
  store::KeyBuffer scratch_;
  std::unordered_map<std::string, std::uint32_t> groups_;  // index key → group number
  std::vector<Entry> entries_;
};

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

// One aggregate's cells gathered from a scan; merged into stored cells when written again.
class AggregateGather {
 public:
  AggregateGather(std::uint32_t id, const AggregateSpec& spec) : id_(id), spec_(spec) {}

  void Add(std::span<const FieldView> fields) {
    const ValueView group = store::FieldByName(fields, spec_.group_by);
    if (group.type == ValueType::kNone) return;
    const ValueView summed =
        spec_.sum.empty() ? ValueView() : store::FieldByName(fields, spec_.sum);
    if (store::IsLongAggregateGroup(group)) {  // rare: kept by whole value, merged one by one
      std::string whole(1, group.type == ValueType::kString ? 's' : 'b');
      whole.append(group.bytes);
      long_bytes_ += whole.size() + 96;
      store::AdjustAggregateCell(&long_cells_[std::move(whole)], +1, summed);
      return;
    }
    scratch_.Clear();
    scratch_.U32(id_);
    store::AppendOrderedValue(group, &scratch_);
    store::AdjustAggregateCell(&cells_[std::string(scratch_.view())], +1, summed);
  }

  std::size_t bytes() const { return cells_.size() * (scratch_.view().size() + 96) + long_bytes_; }

  Status Write(store::Txn& txn, store::Dbi dbi) {
    std::vector<std::pair<std::string, store::AggregateCell>> sorted(cells_.begin(), cells_.end());
    cells_.clear();
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    {
      auto out = OrderedWriter::Open(txn, dbi, /*dupsort=*/false);
      if (!out.ok()) return out.status();
      for (auto& [key, cell] : sorted) {
        if (written_) {  // an earlier write may hold this group already: add to it
          std::string_view stored;
          Status s = txn.Get(dbi, key, &stored);
          store::AggregateCell old;
          if (s.ok() && !store::DecodeAggregateCell(stored, &old))
            return Status(Code::kInternal, "aggregate cell of the wrong size");
          if (!s.ok() && s.code() != Code::kNotFound) return s;
          Merge(old, &cell);
        }
        char bytes[store::AggregateCell::kBytes];
        store::EncodeAggregateCell(cell, bytes);
        CQRS_RETURN_IF_ERROR(out->Put(key, {bytes, sizeof bytes}, false));
      }
    }
    for (const auto& [whole, cell] : long_cells_) {
      const std::string_view bytes = std::string_view(whole).substr(1);
      const ValueView group = whole[0] == 's' ? ValueView::String(bytes) : ValueView::Bytes(bytes);
      CQRS_RETURN_IF_ERROR(store::FindAggregateGroup(txn, dbi, id_, group, &slot_));
      Merge(cell, &slot_.cell);
      CQRS_RETURN_IF_ERROR(store::PutAggregateGroup(txn, dbi, slot_, group));
    }
    long_cells_.clear();
    long_bytes_ = 0;
    written_ = true;
    return OkStatus();
  }

 private:
  static void Merge(const store::AggregateCell& from, store::AggregateCell* into) {
    into->count += from.count;
    into->int_sum = static_cast<std::int64_t>(static_cast<std::uint64_t>(into->int_sum) +
                                              static_cast<std::uint64_t>(from.int_sum));
    into->double_sum += from.double_sum;
  }

  std::uint32_t id_;
  const AggregateSpec& spec_;
  store::KeyBuffer scratch_;
  std::unordered_map<std::string, store::AggregateCell> cells_;
  // Groups too long for a key, by type letter ++ whole value.
  std::map<std::string, store::AggregateCell> long_cells_;
  std::size_t long_bytes_ = 0;
  store::AggregateGroupSlot slot_;
  bool written_ = false;
};

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

// Derives one namespace's read models from its entities.
Status DeriveNamespace(store::Txn& txn, const store::ReadStore& store, std::string_view tenant,
                       std::uint32_t ns, const CollectionSpec& spec, std::size_t budget_bytes) {
  const store::ReadDbs& dbs = store.dbs();
  std::string name;
  std::vector<IndexGather> indexes;
  std::vector<AggregateGather> aggregates;
  for (const std::string& field : spec.indexes) {
    std::uint32_t id = 0;
    store::ReadModelName(spec.name, store::kIndexModel, field, &name);
    CQRS_RETURN_IF_ERROR(store.namespaces().Intern(txn, tenant, name, &id));
    indexes.emplace_back(id, field);
  }
  for (const AggregateSpec& a : spec.aggregates) {
    std::uint32_t id = 0;
    store::ReadModelName(spec.name, store::kAggregateModel, a.name, &name);
    CQRS_RETURN_IF_ERROR(store.namespaces().Intern(txn, tenant, name, &id));
    aggregates.emplace_back(id, a);
  }
  KeyArena keys;
  auto write_all = [&]() -> Status {
    for (IndexGather& g : indexes) CQRS_RETURN_IF_ERROR(g.Write(txn, dbs.indexes, keys));
    for (AggregateGather& g : aggregates) CQRS_RETURN_IF_ERROR(g.Write(txn, dbs.aggregates));
    keys.Clear();
    return OkStatus();
  };
  auto cursor = store::Cursor::Open(txn, dbs.entities);
  if (!cursor.ok()) return cursor.status();
  store::KeyBuffer prefix;
  prefix.U32(ns);
  std::string_view k = prefix.view(), v;
  std::vector<FieldView> fields;
  for (Status s = cursor->Get(MDB_SET_RANGE, &k, &v);; s = cursor->Get(MDB_NEXT, &k, &v)) {
    if (s.code() == Code::kNotFound) break;
    CQRS_RETURN_IF_ERROR(s);
    if (!k.starts_with(prefix.view())) break;
    const std::string_view key = k.substr(prefix.view().size());
    fields.clear();
    store::RecordFieldReader reader(v);
    FieldView f;
    while (reader.Next(&f)) fields.push_back(f);
    if (!reader.ok())
      return Error(Code::kInternal, "entity '{}' of {} has a malformed record", key, spec.name);
    std::uint32_t entity = UINT32_MAX;  // numbered once some index has it
    for (IndexGather& g : indexes) {
      const ValueView value = store::FieldByName(fields, g.field());
      if (value.type == ValueType::kNone) continue;
      if (entity == UINT32_MAX) entity = keys.Add(key);
      g.Add(value, entity);
    }
    for (AggregateGather& g : aggregates) g.Add(fields);
    std::size_t bytes = keys.bytes();
    for (const IndexGather& g : indexes) bytes += g.bytes();
    for (const AggregateGather& g : aggregates) bytes += g.bytes();
    // Writing leaves the entities cursor where it is (other databases' pages).
    if (bytes > budget_bytes) CQRS_RETURN_IF_ERROR(write_all());
  }
  return write_all();
}

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

Status DeriveReadModels(store::ReadStore& store, const std::vector<CollectionSpec>& models,
                        std::size_t budget_bytes) {
  for (;;) {
    auto begun = store::Txn::BeginWrite(store.env());
    if (!begun.ok()) return begun.status();
    store::Txn txn = std::move(begun).value();
    // The namespaces first (tenant, collection, id), then each one's entities.
    std::vector<std::tuple<std::string, const CollectionSpec*, std::uint32_t>> namespaces;
    {
      auto cursor = store::Cursor::Open(txn, store.dbs().names);
      if (!cursor.ok()) return cursor.status();
      std::string_view k, v;
      for (Status s = cursor->Get(MDB_FIRST, &k, &v);; s = cursor->Get(MDB_NEXT, &k, &v)) {
        if (s.code() == Code::kNotFound) break;
        CQRS_RETURN_IF_ERROR(s);
        const std::size_t zero = k.find('\0');
        if (zero == std::string_view::npos) continue;
        const CollectionSpec* spec = FindCollectionSpec(models, k.substr(zero + 1));
        if (spec == nullptr || (spec->indexes.empty() && spec->aggregates.empty())) continue;
        std::uint32_t ns = 0;
        CQRS_RETURN_IF_ERROR(store::ReadU32(v, &ns, "namespace id"));
        namespaces.emplace_back(std::string(k.substr(0, zero)), spec, ns);
      }
    }
    Status s;
    for (const auto& [tenant, spec, ns] : namespaces) {
      s = DeriveNamespace(txn, store, tenant, ns, *spec, budget_bytes);
      if (!s.ok()) break;
    }
    if (s.ok()) s = txn.Commit();
    if (s.ok()) return s;
    txn.Abort();
    if (!store::IsMapFull(s)) return s;
    CQRS_RETURN_IF_ERROR(store.Grow());
  }
}

Result<RebuildTarget> CreateRebuildTarget(const std::string& dir, const Config& config,
                                          const std::string& write_store_id) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Error(Code::kInternal, "cannot remove {}: {}", dir, ec.message());
  RebuildTarget t;
  t.dir = dir;
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
  auto applied = BulkApplyLog(log, *target.store, to_seq, kRebuildEventsPerTxn, cancel, progress);
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
