// Opening, checking and growing the write store.
#include "store/write_store.h"

#include <algorithm>
#include <filesystem>
#include <random>

#include "base/files.h"
#include "base/log.h"
#include "base/status.h"
#include "store/key_format.h"
#include "store/state_checkpoint.h"
#include "store/unsynced_guard.h"
#include "store/write_store_format.h"

namespace cqrs::store {
namespace {

// 32 hex digits → the 16 bytes they spell.
bool DecodeStoreId(std::string_view hex, std::string* out) {
  if (hex.size() != 2 * out->size()) return false;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out->size(); ++i) {
    const int hi = digit(hex[2 * i]), lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<char>(hi * 16 + lo);
  }
  return true;
}

}  // namespace

WriteStore::~WriteStore() {
  if (!guarded_) return;
  if (Status s = env_.Sync(); !s.ok()) {
    spdlog::warn("event log {} left unsynced: {}", log_dir_, s.ToString());
    return;
  }
  RemoveUnsyncedGuard(log_dir_);
}

Result<std::unique_ptr<WriteStore>> WriteStore::Open(const WriteStoreOptions& options) {
  std::unique_ptr<WriteStore> store(new WriteStore(options));
  store->log_dir_ = options.dir + "/log";
  const std::string& log_dir = store->log_dir_;
  if (std::filesystem::exists(options.dir + "/data.mdb"))
    return Error(Code::kUnavailable,
                 "{} is write store format 1 (one environment, {}/data.mdb); this build reads "
                 "format {} (the log and the entity state apart). Migrate it with `cqrs migrate "
                 "--data {}` while the pipeline is stopped",
                 options.dir, options.dir, kWriteStoreFormatVersion,
                 std::filesystem::path(options.dir).parent_path().string());
  if (options.read_only && !std::filesystem::exists(log_dir + "/data.mdb"))
    return MissingStore(fmt::format(
        "{} holds no write store yet (is the writer, or on a replica host cqrs-replica, running?)",
        options.dir));
  // An unsynced log is the truth with nothing behind it: after a machine restart it may be
  // damaged, and nothing may serve it or read it. A replica's unsynced copy is copied again.
  const std::string guard = ReadUnsyncedGuard(log_dir);
  std::string boot_id;
  if (!guard.empty() || (!options.read_only && options.durability == Durability::kNoSync)) {
    auto current = CurrentBootId();
    if (!current.ok()) return current.status();
    boot_id = std::move(current).value();
  }
  if (!guard.empty() && guard != boot_id && !options.copy_of_stream.empty() && !options.read_only) {
    // A replica's copy is a cache of the stream, never fsynced per batch: copy it again.
    spdlog::warn(
        "{} was not synced before the machine restarted (boot {}, now {}): it may be corrupt, "
        "so it is removed and copied again from NATS stream {}",
        log_dir, guard, boot_id, options.copy_of_stream);
    std::error_code ec;
    for (const char* file : {"data.mdb", "lock.mdb", "unsynced"}) {
      std::filesystem::remove(std::filesystem::path(log_dir) / file, ec);
      if (ec) return Error(Code::kInternal, "cannot remove {}/{}: {}", log_dir, file, ec.message());
    }
  } else if (!guard.empty() && guard != boot_id) {
    return Error(Code::kUnavailable,
                 "the event log {} was written with durability = \"nosync\" and the machine "
                 "restarted (boot {}, now {}) before it was synced: its last commits may be lost "
                 "or its pages torn, and it is the source of truth. Restore {} from a backup, or "
                 "remove it to start empty; run with durability = \"sync\" for data that must "
                 "survive a machine crash",
                 log_dir, guard, boot_id, options.dir);
  }
  if (!options.copy_of_stream.empty() && options.copy_store_id.empty() &&
      !std::filesystem::exists(log_dir + "/data.mdb"))
    return MissingStore(fmt::format("{} holds no copy of a log yet", options.dir));
  if (!options.read_only) {
    CQRS_RETURN_IF_ERROR(CreatePrivateDirectories(log_dir));
    if (options.durability == Durability::kNoSync && guard != boot_id)
      CQRS_RETURN_IF_ERROR(WriteUnsyncedGuard(log_dir, boot_id));
  }
  EnvOptions env;
  env.dir = log_dir;
  // A reader maps the writer's maximum at once (address space, not memory): the writer's growth
  // then never makes this process remap under open snapshots (MDB_MAP_RESIZED).
  env.map_size =
      options.read_only ? std::max(options.map_size, options.max_map_size) : options.map_size;
  // Never MDB_WRITEMAP on the write store: a full disk became SIGBUS (docs/DEPENDENCY_FACTS.md fact
  // 3).
  env.flags = (options.durability == Durability::kNoSync ? MDB_NOSYNC : 0u) |
              (options.read_only ? MDB_RDONLY : 0u);
#ifdef CQRS_MISTAKE_LOG_WITHOUT_SYNC  // the injected mistake (scripts/mistakes)
  env.flags |= MDB_NOSYNC;
#endif
  env.max_dbs = 8;
  env.max_readers = 512;
  auto opened = LmdbEnv::Open(env);
  if (!opened.ok()) return opened.status();
  store->env_ = std::move(opened).value();
  store->guarded_ = !options.read_only && options.durability == Durability::kNoSync;
  if (!options.read_only && options.durability == Durability::kSync && !guard.empty()) {
    // Switched to sync: make this boot's unsynced commits durable, then drop the guard.
    CQRS_RETURN_IF_ERROR(store->env_.Sync());
    RemoveUnsyncedGuard(log_dir);
  }
  CQRS_RETURN_IF_ERROR(store->Init());
  return store;
}

Status WriteStore::Init() {
  // A reader (the projector, tools) maps at least the writer's size and its maximum (no txn is
  // open yet).
  if (options_.read_only) CQRS_RETURN_IF_ERROR(env_.MapAtLeast(options_.max_map_size));
  auto begun = options_.read_only ? Txn::BeginRead(env_) : Txn::BeginWrite(env_);
  if (!begun.ok()) return begun.status();
  Txn txn = std::move(begun).value();
  bool create = !options_.read_only;
  const std::pair<Dbi*, const char*> dbs[] = {
      {&dbs_.meta, "meta"},     {&dbs_.names, "names"},     {&dbs_.counters, "counters"},
      {&dbs_.events, "events"}, {&dbs_.clients, "clients"}, {&dbs_.replies, "replies"}};
  for (auto [dbi, name] : dbs) {
    auto opened = txn.OpenDbi(name, 0, create);
    if (!opened.ok()) {
      if (opened.status().code() == Code::kNotFound)
        return MissingStore(
            fmt::format("{} holds no write store (no '{}' database)", log_dir_, name));
      return opened.status();
    }
    *dbi = opened.value();
  }

  std::string_view value;
  Status s = txn.Get(dbs_.meta, kMetaFormat, &value);
  if (s.code() == Code::kNotFound) {
    if (options_.read_only)
      return MissingStore(fmt::format("{} holds no write store", options_.dir));
    std::string id(16, '\0');
    if (options_.copy_of_stream.empty()) {
      std::random_device rd;
      for (char& c : id) c = static_cast<char>(rd());
    } else if (!DecodeStoreId(options_.copy_store_id, &id)) {
      return Error(Code::kInvalidArgument, "store id '{}' is not 32 hex digits",
                   options_.copy_store_id);
    }
    CQRS_RETURN_IF_ERROR(
        txn.Put(dbs_.meta, kMetaFormat, U32Value(kWriteStoreFormatVersion).view()));
    CQRS_RETURN_IF_ERROR(txn.Put(dbs_.meta, kMetaStoreId, id));
    CQRS_RETURN_IF_ERROR(txn.Put(dbs_.meta, kMetaLastSeq, U64Value(0).view()));
    if (!options_.copy_of_stream.empty()) {
      CQRS_RETURN_IF_ERROR(txn.Put(dbs_.meta, kMetaCopyOf, options_.copy_of_stream));
      CQRS_RETURN_IF_ERROR(txn.Put(dbs_.meta, kMetaStreamSeq, U64Value(0).view()));
    }
    CQRS_RETURN_IF_ERROR(namespaces().Init(txn));
  } else {
    CQRS_RETURN_IF_ERROR(s);
    std::uint32_t format = 0;
    CQRS_RETURN_IF_ERROR(ReadU32(value, &format, "meta.format"));
    if (format != kWriteStoreFormatVersion)
      return Error(Code::kUnavailable, "{} is write store format {}, this build reads format {}",
                   options_.dir, format, kWriteStoreFormatVersion);
  }

  CQRS_RETURN_IF_ERROR(txn.Get(dbs_.meta, kMetaStoreId, &value));
  store_id_.clear();
  for (char c : value) store_id_ += fmt::format("{:02x}", static_cast<unsigned char>(c));
  CQRS_RETURN_IF_ERROR(CheckCopy(txn));

  // The last event and meta.last_seq are written in one transaction: they must agree.
  auto last = LastSeq(txn);
  if (!last.ok()) return last.status();
  auto cursor = Cursor::Open(txn, dbs_.events);
  if (!cursor.ok()) return cursor.status();
  std::string_view k, v;
  Status at_end = cursor->Get(MDB_LAST, &k, &v);
  std::uint64_t last_event = 0;
  if (at_end.ok()) {
    if (k.size() != 8)
      return Error(Code::kInternal, "{}: events key of {} bytes", options_.dir, k.size());
    last_event = DecodeSeqKey(k);
  } else if (at_end.code() != Code::kNotFound) {
    return at_end;
  }
  if (last_event != last.value())
    return Error(Code::kInternal, "{}: meta.last_seq {} but the last event is {}", options_.dir,
                 last.value(), last_event);
  // Retention removes events from the front in the transaction that moves meta.first_seq.
  auto first = FirstSeq(txn);
  if (!first.ok()) return first.status();
  if (last_event != 0) {
    CQRS_RETURN_IF_ERROR(cursor->Get(MDB_FIRST, &k, &v));
    if (k.size() != 8 || DecodeSeqKey(k) != first.value())
      return Error(Code::kInternal, "{}: meta.first_seq {} but the first event is {}", options_.dir,
                   first.value(), k.size() == 8 ? DecodeSeqKey(k) : 0);
  }
  *cursor = Cursor();
  // Commit even a read-only transaction: handles opened in an aborted one are closed with it.
  return txn.Commit();
}

Status WriteStore::CheckCopy(const Txn& txn) const {
  std::string_view copy_of;
  Status s = txn.Get(dbs_.meta, kMetaCopyOf, &copy_of);
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  const bool is_copy = s.ok();
  if (options_.copy_of_stream.empty()) {
    // Tools and the projector read either; only a writer must never append to a copy.
    if (is_copy && !options_.read_only)
      return Error(Code::kUnavailable,
                   "{} is a read replica's copy of write store {} (from NATS stream {}): a "
                   "writer cannot run on it; run `cqrs up --replica` here, or use another --data",
                   options_.dir, store_id_, copy_of);
    return OkStatus();
  }
  if (!is_copy)
    return Error(Code::kUnavailable,
                 "{} holds the event log of write store {}, not a replica's copy: a replica "
                 "fills only a copy it made; use another --data",
                 options_.dir, store_id_);
  if (!options_.copy_store_id.empty() && options_.copy_store_id != store_id_)
    return Error(Code::kAlreadyExists,
                 "{} is a copy of write store {}, but NATS stream {} carries write store {}: "
                 "remove {} to copy the new one",
                 options_.dir, store_id_, options_.copy_of_stream, options_.copy_store_id,
                 options_.dir);
  return OkStatus();
}

Result<std::uint64_t> WriteStore::CopiedStreamSeq(const Txn& txn) const {
  return GetMetaU64(txn, dbs_.meta, kMetaStreamSeq, "meta.stream_seq");
}

Status WriteStore::Grow() {
  return env_.DoubleMap(options_.max_map_size, "write store", "writer.max_map_size_mb");
}

Result<std::uint64_t> WriteStore::LastSeq(const Txn& txn) const {
  return GetMetaU64(txn, dbs_.meta, kMetaLastSeq, "meta.last_seq");
}

Result<std::uint64_t> WriteStore::FirstSeq(const Txn& txn) const {
  std::string_view value;
  Status s = txn.Get(dbs_.meta, kMetaFirstSeq, &value);
  if (s.code() == Code::kNotFound) return std::uint64_t{1};
  CQRS_RETURN_IF_ERROR(s);
  std::uint64_t seq = 0;
  CQRS_RETURN_IF_ERROR(ReadU64(value, &seq, "meta.first_seq"));
  return seq;
}

Status WriteStore::CheckFrom(const Txn& txn, std::uint64_t from_seq, Start* start) const {
  auto first = FirstSeq(txn);
  if (!first.ok()) return first.status();
  if (from_seq >= first.value()) return OkStatus();
  Start s;
  s.first_seq = first.value();
  const std::vector<StateCheckpoint> checkpoints = ListStateCheckpoints(checkpoints_dir(), false);
  if (!checkpoints.empty()) {
    s.snapshot_seq = checkpoints.front().seq;
    s.snapshot_path = checkpoints.front().path;
  }
  Status why = Error(Code::kOutOfRange,
                     "seq {} is no longer in the event log, which starts at seq {} (older events "
                     "were removed by [log] retention); {}",
                     from_seq, s.first_seq,
                     s.snapshot_seq == 0
                         ? std::string("no state checkpoint to start from")
                         : fmt::format("start from the state checkpoint at seq {} ({}), then "
                                       "the events after it",
                                       s.snapshot_seq, s.snapshot_path));
  if (start != nullptr) *start = std::move(s);
  return why;
}

}  // namespace cqrs::store
