// Opening and checkpointing the read store.
#include "store/read_store.h"

#include <algorithm>
#include <filesystem>

#include "store/read_store_format.h"
#include "store/write_store_format.h"

namespace cqrs::store {

Result<std::unique_ptr<ReadStore>> ReadStore::Open(const ReadStoreOptions& options) {
  std::unique_ptr<ReadStore> store(new ReadStore(options));
  if (options.read_only && !std::filesystem::exists(options.dir + "/data.mdb"))
    return Error(Code::kUnavailable, "{} holds no read store yet (is the projector running?)",
                 options.dir);
  EnvOptions env;
  env.dir = options.dir;
  env.map_size = options.map_size;
  // Rebuildable from the log: skip the meta page fsync (a crash may lose the last commits,
  // which the projector then applies again from its checkpoint).
  env.flags = options.read_only ? MDB_RDONLY : MDB_NOMETASYNC;
  env.max_dbs = 8;
  env.max_readers = 1024;
  auto opened = LmdbEnv::Open(env);
  if (!opened.ok()) return opened.status();
  store->env_ = std::move(opened).value();
  CQRS_RETURN_IF_ERROR(store->Init());
  return store;
}

Status ReadStore::Init() {
  if (options_.read_only) CQRS_RETURN_IF_ERROR(env_.SetMapSize(0));  // the projector's size
  auto begun = options_.read_only ? Txn::BeginRead(env_) : Txn::BeginWrite(env_);
  if (!begun.ok()) return begun.status();
  Txn txn = std::move(begun).value();
  const bool create = !options_.read_only;
  const std::pair<Dbi*, const char*> dbs[] = {{&dbs_.meta, "meta"},
                                              {&dbs_.names, "names"},
                                              {&dbs_.entities, "entities"},
                                              {&dbs_.collection_log, "collection_log"}};
  for (auto [dbi, name] : dbs) {
    auto opened = txn.OpenDbi(name, 0, create);
    if (!opened.ok()) {
      if (opened.status().code() == Code::kNotFound)
        return Error(Code::kUnavailable, "{} holds no read store yet (no '{}' database)",
                     options_.dir, name);
      return opened.status();
    }
    *dbi = opened.value();
  }
  std::string_view value;
  Status s = txn.Get(dbs_.meta, kMetaFormat, &value);
  if (s.code() == Code::kNotFound) {
    if (options_.read_only)
      return Error(Code::kUnavailable, "{} holds no read store yet", options_.dir);
    CQRS_RETURN_IF_ERROR(txn.Put(dbs_.meta, kMetaFormat, U32Value(kReadStoreFormatVersion).view()));
    CQRS_RETURN_IF_ERROR(WriteCheckpoint(txn, Checkpoint{}));
    CQRS_RETURN_IF_ERROR(namespaces().Init(txn));
  } else {
    CQRS_RETURN_IF_ERROR(s);
    std::uint32_t format = 0;
    CQRS_RETURN_IF_ERROR(ReadU32(value, &format, "meta.format"));
    if (format != kReadStoreFormatVersion)
      return Error(Code::kUnavailable,
                   "{} is read store format {}, this build reads format {}: remove it and let "
                   "the projector rebuild it from the event log",
                   options_.dir, format, kReadStoreFormatVersion);
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

Status ReadStore::Grow() {
  std::uint64_t current = env_.map_size();
  if (current >= options_.max_map_size)
    return Error(Code::kResourceExhausted, "read store map is {} MiB, at its maximum {} MiB",
                 current >> 20, options_.max_map_size >> 20);
  return env_.SetMapSize(std::min(current * 2, options_.max_map_size));
}

}  // namespace cqrs::store
