// Opening and checkpointing the read store.
#include "store/read_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "base/files.h"
#include "base/log.h"
#include "base/status.h"
#include "store/read_store_format.h"
#include "store/unsynced_guard.h"
#include "store/write_store_format.h"

namespace cqrs::store {

ReadStore::~ReadStore() {
  if (!guarded_) return;
  if (Status s = env_.Sync(); !s.ok()) {
    spdlog::warn("read store {} left unsynced: {}", options_.dir, s.ToString());
    return;
  }
  RemoveUnsyncedGuard(options_.dir);
}

Result<std::unique_ptr<ReadStore>> ReadStore::Open(const ReadStoreOptions& options) {
  std::unique_ptr<ReadStore> store(new ReadStore(options));
  const std::string guard = ReadUnsyncedGuard(options.dir);
  std::string boot_id;
  if (!guard.empty() || (!options.read_only && !options.sync_commits)) {
    auto current = CurrentBootId();
    if (!current.ok()) return current.status();
    boot_id = std::move(current).value();
  }
  const bool stale = !guard.empty() && guard != boot_id;
  if (options.read_only && stale)
    return MissingStore(
        fmt::format("{} holds no read store yet: the one there was not synced before the machine "
                    "restarted, and the projector rebuilds it",
                    options.dir));
  if (options.read_only && !std::filesystem::exists(options.dir + "/data.mdb"))
    return MissingStore(
        fmt::format("{} holds no read store yet (is the projector running?)", options.dir));
  if (!options.read_only) {
    CQRS_RETURN_IF_ERROR(CreatePrivateDirectories(options.dir));
    std::error_code ec;
    if (stale) {
      spdlog::warn(
          "{} was not synced before the machine restarted (boot {}, now {}): it may be "
          "corrupt, so it is removed and rebuilt from the event log",
          options.dir, guard, boot_id);
      for (const char* file : {"data.mdb", "lock.mdb", "unsynced"}) {
        std::filesystem::remove(std::filesystem::path(options.dir) / file, ec);
        if (ec)
          return Error(Code::kInternal, "cannot remove {}/{}: {}", options.dir, file, ec.message());
      }
      store->discarded_unsynced_ = true;
    }
    if (!options.sync_commits && guard != boot_id)
      CQRS_RETURN_IF_ERROR(WriteUnsyncedGuard(options.dir, boot_id));
  }
  EnvOptions env;
  env.dir = options.dir;
  // A reader maps the projector's maximum at once (address space, not memory): the projector's
  // growth then never makes this process remap under open snapshots (MDB_MAP_RESIZED).
  env.map_size =
      options.read_only ? std::max(options.map_size, options.max_map_size) : options.map_size;
  // Rebuildable from the log: by default no fsync at all (see the class comment); with
  // sync_commits skip only the meta page fsync (a crash may lose the last commits, which the
  // projector then applies again from its checkpoint).
  env.flags = options.read_only ? MDB_RDONLY : options.sync_commits ? MDB_NOMETASYNC : MDB_NOSYNC;
  env.max_dbs = 8;
  env.max_readers = 1024;
  auto opened = LmdbEnv::Open(env);
  if (!opened.ok()) return opened.status();
  store->env_ = std::move(opened).value();
  store->guarded_ = !options.read_only && !options.sync_commits;  // the destructor syncs
  if (!options.read_only && options.sync_commits && !guard.empty() && !stale) {
    // Switched to synced commits: make this boot's unsynced ones durable, then drop the guard.
    CQRS_RETURN_IF_ERROR(store->env_.Sync());
    RemoveUnsyncedGuard(options.dir);
  }
  CQRS_RETURN_IF_ERROR(store->Init());
  return store;
}

Status ReadStore::Init() {
  // Read-only: at least the projector's size and its maximum (no txn is open yet).
  if (options_.read_only) CQRS_RETURN_IF_ERROR(env_.MapAtLeast(options_.max_map_size));
  auto begun = options_.read_only ? Txn::BeginRead(env_) : Txn::BeginWrite(env_);
  if (!begun.ok()) return begun.status();
  Txn txn = std::move(begun).value();
  const bool create = !options_.read_only;
  auto open = [&](Dbi* dbi, const char* name, unsigned flags) -> Status {
    auto opened = txn.OpenDbi(name, flags, create);
    if (!opened.ok()) {
      if (opened.status().code() == Code::kNotFound)
        return MissingStore(
            fmt::format("{} holds no read store yet (no '{}' database)", options_.dir, name));
      return opened.status();
    }
    *dbi = opened.value();
    return OkStatus();
  };
  // The format first: a store of another format is refused before anything is created in it.
  CQRS_RETURN_IF_ERROR(open(&dbs_.meta, "meta", 0));
  std::string_view value;
  Status s = txn.Get(dbs_.meta, kMetaFormat, &value);
  const bool fresh = s.code() == Code::kNotFound;
  if (fresh && options_.read_only)
    return MissingStore(fmt::format("{} holds no read store yet", options_.dir));
  if (!fresh) {
    CQRS_RETURN_IF_ERROR(s);
    std::uint32_t format = 0;
    CQRS_RETURN_IF_ERROR(ReadU32(value, &format, "meta.format"));
    if (format != kReadStoreFormatVersion)
      return Error(Code::kUnavailable,
                   "{} is read store format {}, this build reads format {}: remove it and let "
                   "the projector rebuild it from the event log",
                   options_.dir, format, kReadStoreFormatVersion);
  }
  const std::tuple<Dbi*, const char*, unsigned> dbs[] = {
      {&dbs_.names, "names", 0},
      {&dbs_.entities, "entities", 0},
      {&dbs_.collection_log, "collection_log", 0},
      {&dbs_.indexes, "indexes", MDB_DUPSORT},
      {&dbs_.aggregates, "aggregates", 0}};
  for (auto [dbi, name, flags] : dbs) CQRS_RETURN_IF_ERROR(open(dbi, name, flags));
  if (fresh) {
    CQRS_RETURN_IF_ERROR(txn.Put(dbs_.meta, kMetaFormat, U32Value(kReadStoreFormatVersion).view()));
    CQRS_RETURN_IF_ERROR(WriteCheckpoint(txn, Checkpoint{}));
    CQRS_RETURN_IF_ERROR(namespaces().Init(txn));
  }
  // Commit even a read-only transaction: handles opened in an aborted one are closed with it.
  return txn.Commit();
}

Result<Checkpoint> ReadStore::ReadCheckpoint(const Txn& txn) const {
  Checkpoint c;
  std::string_view value;
  CQRS_RETURN_IF_ERROR(txn.Get(dbs_.meta, kMetaAppliedSeq, &value));
  CQRS_RETURN_IF_ERROR(ReadU64(value, &c.applied_seq, "meta.applied_seq"));
  CQRS_RETURN_IF_ERROR(txn.Get(dbs_.meta, kMetaAppliedEvents, &value));
  CQRS_RETURN_IF_ERROR(ReadU64(value, &c.applied_events, "meta.applied_events"));
  return c;
}

Status ReadStore::WriteCheckpoint(Txn& txn, const Checkpoint& c) const {
  CQRS_RETURN_IF_ERROR(txn.Put(dbs_.meta, kMetaAppliedSeq, U64Value(c.applied_seq).view()));
  return txn.Put(dbs_.meta, kMetaAppliedEvents, U64Value(c.applied_events).view());
}

Result<std::string> ReadStore::FollowedStoreId(const Txn& txn) const {
  std::string_view value;
  Status s = txn.Get(dbs_.meta, kMetaWriteStoreId, &value);
  if (s.code() == Code::kNotFound) return std::string();
  CQRS_RETURN_IF_ERROR(s);
  return std::string(value);
}

Status ReadStore::SetFollowedStoreId(Txn& txn, std::string_view id) const {
  return txn.Put(dbs_.meta, kMetaWriteStoreId, id);
}

Result<std::optional<std::string>> ReadStore::ReadModels(const Txn& txn) const {
  std::string_view value;
  Status s = txn.Get(dbs_.meta, kMetaReadModels, &value);
  if (s.code() == Code::kNotFound) return std::optional<std::string>();
  CQRS_RETURN_IF_ERROR(s);
  return std::optional<std::string>(std::string(value));
}

Status ReadStore::SetReadModels(Txn& txn, std::string_view fingerprint) const {
  return txn.Put(dbs_.meta, kMetaReadModels, fingerprint);
}

void EncodeAggregateCell(const AggregateCell& cell, char out[AggregateCell::kBytes]) {
  auto* p = reinterpret_cast<std::uint8_t*>(out);
  PutU64LE(p, cell.count);
  PutU64LE(p + 8, static_cast<std::uint64_t>(cell.int_sum));
  PutU64LE(p + 16, std::bit_cast<std::uint64_t>(cell.double_sum));
}

void AdjustAggregateCell(AggregateCell* cell, int delta, const ValueView& summed) {
  cell->count = delta > 0 ? cell->count + 1 : cell->count - 1;
  // Through unsigned: a wrapping sum instead of signed overflow (UB).
  const auto add = static_cast<std::uint64_t>(summed.i);
  const auto sum = static_cast<std::uint64_t>(cell->int_sum);
  if (summed.type == ValueType::kInt)
    cell->int_sum = static_cast<std::int64_t>(delta > 0 ? sum + add : sum - add);
  else if (summed.type == ValueType::kDouble)
    cell->double_sum += delta > 0 ? summed.d : -summed.d;
}

bool DecodeAggregateCell(std::string_view bytes, AggregateCell* cell) {
  if (bytes.size() != AggregateCell::kBytes) return false;
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  cell->count = GetU64LE(p);
  cell->int_sum = static_cast<std::int64_t>(GetU64LE(p + 8));
  cell->double_sum = std::bit_cast<double>(GetU64LE(p + 16));
  return true;
}

Status ReadStore::Grow() {
  return env_.DoubleMap(options_.max_map_size, "read store", "projector.max_map_size_mb");
}

}  // namespace cqrs::store
