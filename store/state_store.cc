// Opening, checking and growing the writer's entity state.
#include "store/state_store.h"

#include <fcntl.h>

#include <algorithm>
#include <filesystem>

#include "base/files.h"
#include "base/log.h"
#include "base/status.h"
#include "store/namespaces.h"
#include "store/state_checkpoint.h"
#include "store/unsynced_guard.h"
#include "store/write_store_format.h"

namespace cqrs::store {

StateStore::~StateStore() {
  if (!guarded_ || env_.get() == nullptr) return;
  if (Status s = env_.Sync(); !s.ok()) {
    spdlog::warn("entity state {} left unsynced: {}", options_.dir, s.ToString());
    return;
  }
  RemoveUnsyncedGuard(options_.dir);
}

Status StateStore::Remove() {
  env_ = LmdbEnv();
  std::error_code ec;
  for (const char* file : {"data.mdb", "lock.mdb", "unsynced"}) {
    std::filesystem::remove(std::filesystem::path(options_.dir) / file, ec);
    if (ec)
      return Error(Code::kInternal, "cannot remove {}/{}: {}", options_.dir, file, ec.message());
  }
  return OkStatus();
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const StateStoreOptions& options,
                                                     std::string_view store_id) {
  std::unique_ptr<StateStore> store(new StateStore(options));
  CQRS_RETURN_IF_ERROR(CreatePrivateDirectories(options.dir));
  auto boot = CurrentBootId();
  if (!boot.ok()) return boot.status();
  const std::string guard = ReadUnsyncedGuard(options.dir);
  bool stale = !guard.empty() && guard != boot.value();
#ifdef CQRS_MISTAKE_STATE_TRUSTED_AFTER_REBOOT  // the injected mistake (scripts/mistakes)
  stale = false;
#endif
  if (stale) {
    store->discarded_ = fmt::format(
        "it was not synced before the machine restarted (boot {}, now {}) and may be torn", guard,
        boot.value());
    CQRS_RETURN_IF_ERROR(store->Remove());
  }
  if (!std::filesystem::exists(options.dir + "/data.mdb"))
    CQRS_RETURN_IF_ERROR(store->Restore(store_id));
  if (guard != boot.value()) CQRS_RETURN_IF_ERROR(WriteUnsyncedGuard(options.dir, boot.value()));
  std::string reason;
  CQRS_RETURN_IF_ERROR(store->Init(store_id, &reason));
  if (!reason.empty()) {
    store->discarded_ = std::move(reason);
    CQRS_RETURN_IF_ERROR(store->Remove());
    CQRS_RETURN_IF_ERROR(store->Restore(store_id));
    CQRS_RETURN_IF_ERROR(WriteUnsyncedGuard(options.dir, boot.value()));
    CQRS_RETURN_IF_ERROR(store->Init(store_id, &reason));
    if (!reason.empty()) return Error(Code::kInternal, "{}: {}", options.dir, reason);
  }
  store->guarded_ = true;
  if (!store->discarded_.empty())
    spdlog::warn("entity state {} removed: {}; it is rebuilt from the event log", options.dir,
                 store->discarded_);
  return store;
}

Status StateStore::Restore(std::string_view store_id) {
  restored_seq_ = 0;
  if (options_.checkpoints_dir.empty()) return OkStatus();
#ifdef CQRS_MISTAKE_NO_CHECKPOINT_RESTORE  // the injected mistake (scripts/mistakes)
  return OkStatus();
#endif
  namespace fs = std::filesystem;
  for (const StateCheckpoint& c : ListStateCheckpoints(options_.checkpoints_dir, true)) {
    if (Status v = VerifyStateCheckpoint(c, store_id); !v.ok()) {
      spdlog::warn("state checkpoint {} not used: {}", c.path, v.ToString());
      continue;
    }
    const std::string tmp = options_.dir + "/data.mdb.tmp";
    std::error_code ec;
    fs::copy_file(c.path, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) return Error(Code::kUnavailable, "copy {} to {}: {}", c.path, tmp, ec.message());
    MakeFilePrivate(tmp);
    CQRS_RETURN_IF_ERROR(FsyncPath(tmp, O_RDONLY));
    fs::remove(options_.dir + "/lock.mdb", ec);
    fs::rename(tmp, options_.dir + "/data.mdb", ec);
    if (ec) return Error(Code::kUnavailable, "rename {}: {}", tmp, ec.message());
    CQRS_RETURN_IF_ERROR(FsyncPath(options_.dir, O_RDONLY | O_DIRECTORY));
    restored_seq_ = c.seq;
    spdlog::warn("entity state {} restored from checkpoint {} (seq {})", options_.dir, c.path,
                 c.seq);
    return OkStatus();
  }
  return OkStatus();
}

Status StateStore::CopyTo(int fd) {
  std::lock_guard lock(remap_mutex_);
  if (int rc = mdb_env_copyfd2(env_.get(), fd, MDB_CP_COMPACT); rc != 0)
    return LmdbError("mdb_env_copyfd2(state)", rc);
  return OkStatus();
}

Status StateStore::Init(std::string_view store_id, std::string* reason) {
  EnvOptions env;
  env.dir = options_.dir;
  env.map_size = options_.map_size;
  // A cache of the log: never fsynced per commit (the unsynced guard covers a machine crash);
  // never MDB_WRITEMAP (docs/DEPENDENCY_FACTS.md fact 3).
  env.flags = MDB_NOSYNC;
  env.max_dbs = 4;
  env.max_readers = 16;
  auto opened = LmdbEnv::Open(env);
  if (!opened.ok()) return opened.status();
  env_ = std::move(opened).value();
  auto begun = Txn::BeginWrite(env_);
  if (!begun.ok()) return begun.status();
  Txn txn = std::move(begun).value();
  auto meta = txn.OpenDbi("meta", 0, true);
  if (!meta.ok()) return meta.status();
  dbs_.meta = meta.value();
  auto entities = txn.OpenDbi("entities", 0, true);
  if (!entities.ok()) return entities.status();
  dbs_.entities = entities.value();
  std::string_view value;
  Status s = txn.Get(dbs_.meta, kMetaFormat, &value);
  if (s.code() == Code::kNotFound) {
    CQRS_RETURN_IF_ERROR(
        txn.Put(dbs_.meta, kMetaFormat, U32Value(kWriteStoreFormatVersion).view()));
    CQRS_RETURN_IF_ERROR(txn.Put(dbs_.meta, kMetaStoreId, store_id));
    CQRS_RETURN_IF_ERROR(txn.Put(dbs_.meta, kMetaStateSeq, U64Value(0).view()));
    return txn.Commit();
  }
  CQRS_RETURN_IF_ERROR(s);
  std::uint32_t format = 0;
  CQRS_RETURN_IF_ERROR(ReadU32(value, &format, "state meta.format"));
  if (format != kWriteStoreFormatVersion) {
    *reason = fmt::format("it is of format {}, this build writes format {}", format,
                          kWriteStoreFormatVersion);
    return OkStatus();
  }
  CQRS_RETURN_IF_ERROR(txn.Get(dbs_.meta, kMetaStoreId, &value));
  if (value != store_id) {
    *reason = fmt::format("it caches the log of store {}, not this log's {}", value, store_id);
    return OkStatus();
  }
  return txn.Commit();
}

Result<std::uint64_t> StateStore::StateSeq(const Txn& txn) const {
  return GetMetaU64(txn, dbs_.meta, kMetaStateSeq, "meta.state_seq");
}

Status StateStore::SetStateSeq(Txn& txn, std::uint64_t seq) const {
  return txn.Put(dbs_.meta, kMetaStateSeq, U64Value(seq).view());
}

Status StateStore::Grow() {
  std::lock_guard lock(remap_mutex_);
  return env_.DoubleMap(options_.max_map_size, "entity state", "writer.max_map_size_mb");
}

}  // namespace cqrs::store
