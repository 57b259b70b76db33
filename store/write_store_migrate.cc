// Format 1 → current write store migration.
#include "store/write_store_migrate.h"

#include <fcntl.h>

#include <filesystem>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "store/lmdb.h"
#include "store/unsynced_guard.h"
#include "store/write_store.h"
#include "store/write_store_format.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"
#include "wire/protocol.h"

namespace cqrs::store {
namespace {

namespace fs = std::filesystem;

// Copies every entry of `from` (in `src`) for which `map` gives a key and value into `to`.
template <typename Map>
Status CopyDb(const Txn& src, Dbi from, Txn& dst, Dbi to, Map map, std::uint64_t* count) {
  auto cursor = Cursor::Open(src, from);
  if (!cursor.ok()) return cursor.status();
  std::string_view k, v;
  std::string key, value;
  for (Status s = cursor->Get(MDB_FIRST, &k, &v);; s = cursor->Get(MDB_NEXT, &k, &v)) {
    if (s.code() == Code::kNotFound) return OkStatus();
    CQRS_RETURN_IF_ERROR(s);
    bool keep = false;
    CQRS_RETURN_IF_ERROR(map(k, v, &key, &value, &keep));
    if (!keep) continue;
    CQRS_RETURN_IF_ERROR(dst.Put(to, key, value));
    if (count) ++*count;
  }
}

}  // namespace

Result<MigrationResult> MigrateWriteStoreFormat1(
    const std::string& data_dir, const std::function<void(std::uint64_t)>& progress) {
  const fs::path old_dir = fs::path(data_dir) / "write";
  const fs::path new_dir = fs::path(data_dir) / "write.migrating";
  const fs::path kept_dir = fs::path(data_dir) / "write.format1";
  MigrationResult result;
  result.kept = kept_dir.string();
  if (!fs::exists(old_dir / "data.mdb"))
    return Error(Code::kUnavailable, "{} holds no format-1 write store ({} is absent)",
                 old_dir.string(), (old_dir / "data.mdb").string());
  if (fs::exists(kept_dir))
    return Error(Code::kUnavailable, "{} exists: an earlier migration's old store; move it away",
                 kept_dir.string());

  EnvOptions eo;
  eo.dir = old_dir.string();
  eo.flags = MDB_RDONLY;
  eo.map_size = 0;  // the size recorded in the file
  eo.max_dbs = 8;
  auto old_env = LmdbEnv::Open(eo);
  if (!old_env.ok()) return old_env.status();
  auto src = Txn::BeginRead(old_env.value());
  if (!src.ok()) return src.status();
  struct {
    Dbi meta, names, counters, events, requests;
  } old;
  const std::pair<Dbi*, const char*> old_dbs[] = {{&old.meta, "meta"},
                                                  {&old.names, "names"},
                                                  {&old.counters, "counters"},
                                                  {&old.events, "events"},
                                                  {&old.requests, "requests"}};
  for (auto [dbi, name] : old_dbs) {
    auto opened = src->OpenDbi(name, 0, false);
    if (!opened.ok())
      return Error(Code::kUnavailable, "{} is not a format-1 write store (no '{}' database)",
                   old_dir.string(), name);
    *dbi = opened.value();
  }
  std::string_view value;
  CQRS_RETURN_IF_ERROR(src->Get(old.meta, kMetaFormat, &value));
  std::uint32_t format = 0;
  CQRS_RETURN_IF_ERROR(ReadU32(value, &format, "meta.format"));
  if (format != 1)
    return Error(Code::kUnavailable, "{} is write store format {}, not 1", old_dir.string(),
                 format);
  std::string store_id, next_ns;
  CQRS_RETURN_IF_ERROR(src->Get(old.meta, kMetaStoreId, &value));
  store_id.assign(value);
  CQRS_RETURN_IF_ERROR(src->Get(old.meta, kMetaNextNs, &value));
  next_ns.assign(value);

  std::error_code ec;
  fs::remove_all(new_dir, ec);  // a crashed earlier run
  {
    WriteStoreOptions wo;
    wo.dir = new_dir.string();
    wo.durability = Durability::kSync;
    wo.map_size = std::max<std::uint64_t>(fs::file_size(old_dir / "data.mdb") * 2, 1ull << 30);
    wo.max_map_size = 1ull << 40;
    auto opened = WriteStore::Open(wo);
    if (!opened.ok()) return opened.status();
    WriteStore& log = *opened.value();
    const WriteDbs& dbs = log.dbs();
    const std::uint64_t now = WallNs();

    // Everything but the events in one transaction.
    {
      auto begun = Txn::BeginWrite(log.env());
      if (!begun.ok()) return begun.status();
      Txn dst = std::move(begun).value();
      CQRS_RETURN_IF_ERROR(dst.Put(dbs.meta, kMetaStoreId, store_id));
      CQRS_RETURN_IF_ERROR(dst.Put(dbs.meta, kMetaNextNs, next_ns));
      auto same = [](std::string_view k, std::string_view v, std::string* key, std::string* val,
                     bool* keep) {
        key->assign(k);
        val->assign(v);
        *keep = true;
        return OkStatus();
      };
      CQRS_RETURN_IF_ERROR(CopyDb(src.value(), old.names, dst, dbs.names, same, nullptr));
      CQRS_RETURN_IF_ERROR(CopyDb(src.value(), old.counters, dst, dbs.counters, same, nullptr));
      // Format 1: ns (u32 BE) ++ u8 n ++ client_id[n] → u64 last id (a head), and the same key
      // ++ id (u64 BE) → the reply.
      bool head = false;
      auto requests = [&](std::string_view k, std::string_view v, std::string* key,
                          std::string* val, bool* keep) {
        if (k.size() < 5 || k.size() < 5u + static_cast<std::uint8_t>(k[4]))
          return Error(Code::kInternal, "format-1 requests key of {} bytes", k.size());
        const std::size_t n = static_cast<std::uint8_t>(k[4]);
        const std::uint32_t ns = GetU32BE(reinterpret_cast<const std::uint8_t*>(k.data()));
        const KeyBuffer client = ClientKey(ns, "", k.substr(5, n));
        if (k.size() == 5 + n) {
          std::uint64_t last = 0;
          CQRS_RETURN_IF_ERROR(ReadU64(v, &last, "format-1 requests head"));
          key->assign(client.view());
          val->assign(ClientRecordValue({last, now}).view());
          head = true;
        } else if (k.size() == 5 + n + 8) {
          key->assign(ReplyKey(client, DecodeSeqKey(k.substr(5 + n))).view());
          val->assign(v);
          head = false;
        } else {
          return Error(Code::kInternal, "format-1 requests key of {} bytes", k.size());
        }
        *keep = true;
        return OkStatus();
      };
      // Heads and replies interleave in key order; route each to its database.
      auto cursor = Cursor::Open(src.value(), old.requests);
      if (!cursor.ok()) return cursor.status();
      std::string_view k, v;
      std::string key, val;
      for (Status s = cursor->Get(MDB_FIRST, &k, &v); s.code() != Code::kNotFound;
           s = cursor->Get(MDB_NEXT, &k, &v)) {
        CQRS_RETURN_IF_ERROR(s);
        bool keep = false;
        CQRS_RETURN_IF_ERROR(requests(k, v, &key, &val, &keep));
        CQRS_RETURN_IF_ERROR(dst.Put(head ? dbs.clients : dbs.replies, key, val));
        ++(head ? result.clients : result.replies);
      }
      *cursor = Cursor();
      CQRS_RETURN_IF_ERROR(dst.Commit());
    }

    // The events, stamped with event format 1, in transactions of 100,000.
    auto cursor = Cursor::Open(src.value(), old.events);
    if (!cursor.ok()) return cursor.status();
    std::string_view k, v;
    Status s = cursor->Get(MDB_FIRST, &k, &v);
    wire::AlignedBuffer buffer;
    flatbuffers::FlatBufferBuilder fbb(1024);
    std::vector<flatbuffers::Offset<fb::Field>> scratch;
    std::uint64_t last_seq = 0;
    while (s.code() != Code::kNotFound) {
      auto begun = Txn::BeginWrite(log.env());
      if (!begun.ok()) return begun.status();
      Txn dst = std::move(begun).value();
      for (int i = 0; i < 100000 && s.code() != Code::kNotFound;
           ++i, s = cursor->Get(MDB_NEXT, &k, &v)) {
        CQRS_RETURN_IF_ERROR(s);
        buffer.Assign(v.data(), v.size());
        const fb::Event* e = nullptr;
        if (Status verified = wire::VerifyFrame(buffer.span(), wire::kMaxTrustedFrameBytes,
                                                wire::kEventId, "format-1 event", &e);
            !verified.ok())
          return Error(Code::kInternal, "format-1 event at key {}: {}",
                       k.size() == 8 ? DecodeSeqKey(k) : 0, verified.message());
        if (k.size() != 8 || DecodeSeqKey(k) != last_seq + 1 || e->seq() != last_seq + 1)
          return Error(Code::kInternal, "format-1 log has a gap after seq {}", last_seq);
        fbb.Clear();
        fbb.Finish(wire::CopyEvent(fbb, *e, wire::kEventFormat, &scratch), wire::kEventId);
        CQRS_RETURN_IF_ERROR(dst.Put(
            dbs.events, k,
            std::string_view(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()),
            MDB_APPEND));
        last_seq = e->seq();
        ++result.events;
      }
      CQRS_RETURN_IF_ERROR(dst.Put(dbs.meta, kMetaLastSeq, U64Value(last_seq).view()));
      CQRS_RETURN_IF_ERROR(dst.Commit());  // fsynced: sync durability
      if (progress) progress(result.events);
    }
    std::uint64_t old_last = 0;
    CQRS_RETURN_IF_ERROR(src->Get(old.meta, kMetaLastSeq, &value));
    CQRS_RETURN_IF_ERROR(ReadU64(value, &old_last, "meta.last_seq"));
    if (old_last != last_seq)
      return Error(Code::kInternal, "format-1 meta.last_seq is {} but its last event is {}",
                   old_last, last_seq);
  }
  src->Abort();
  CQRS_RETURN_IF_ERROR(FsyncPath((new_dir / "log").string(), O_RDONLY | O_DIRECTORY));
  fs::rename(old_dir, kept_dir, ec);
  if (ec)
    return Error(Code::kInternal, "rename {} to {}: {}", old_dir.string(), kept_dir.string(),
                 ec.message());
  fs::rename(new_dir, old_dir, ec);
  if (ec)
    return Error(Code::kInternal, "rename {} to {}: {} (the old store is at {})", new_dir.string(),
                 old_dir.string(), ec.message(), kept_dir.string());
  CQRS_RETURN_IF_ERROR(FsyncPath(data_dir, O_RDONLY | O_DIRECTORY));
  return result;
}

}  // namespace cqrs::store
