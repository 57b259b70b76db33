// Opening, checking and growing the writer's entity state.
#include "store/state_store.h"

#include <algorithm>
#include <filesystem>

#include "base/files.h"
#include "base/log.h"
#include "store/namespaces.h"
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
  if (!guard.empty() && guard != boot.value()) {
    store->discarded_ = fmt::format(
        "it was not synced before the machine restarted (boot {}, now {}) and may be torn", guard,
        boot.value());
    CQRS_RETURN_IF_ERROR(store->Remove());
  }
  if (guard != boot.value()) CQRS_RETURN_IF_ERROR(WriteUnsyncedGuard(options.dir, boot.value()));
  std::string reason;
  CQRS_RETURN_IF_ERROR(store->Init(store_id, &reason));
  if (!reason.empty()) {
    store->discarded_ = std::move(reason);
    CQRS_RETURN_IF_ERROR(store->Remove());
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
  return env_.DoubleMap(options_.max_map_size, "entity state", "writer.max_map_size_mb");
}

}  // namespace cqrs::store
