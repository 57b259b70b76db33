// Writing, listing and verifying checkpoints of the entity state.
#include "store/state_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/fault.h"
#include "base/files.h"
#include "base/log.h"
#include "base/status.h"
#include "store/namespaces.h"
#include "store/unsynced_guard.h"
#include "store/write_store_format.h"

namespace cqrs::store {
namespace {

namespace fs = std::filesystem;

constexpr const char kSumHeader[] = "cqrs-state-checkpoint 1";

// FNV-1a 64 over the file's 8-byte little-endian words (a last partial word zero-padded), and
// its size.
Status HashFile(const std::string& path, std::uint64_t* hash, std::uint64_t* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::kInternal, "cannot read {}", path);
  std::uint64_t h = 1469598103934665603ull, n = 0;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::size_t got = static_cast<std::size_t>(in.gcount());
    n += got;
    for (std::size_t i = 0; i < got; i += 8) {
      std::uint8_t word[8] = {};
      std::memcpy(word, buffer.data() + i, std::min<std::size_t>(8, got - i));
      h ^= GetU64LE(word);
      h *= 1099511628211ull;
    }
  }
  if (in.bad()) return Error(Code::kInternal, "read {}: {}", path, std::strerror(errno));
  *hash = h;
  *bytes = n;
  return OkStatus();
}

// state_seq and store_id as recorded inside a copied state file.
Status ReadCopyMeta(const std::string& path, std::uint64_t* seq, std::string* store_id) {
  MDB_env* env = nullptr;
  if (int rc = mdb_env_create(&env); rc != 0) return LmdbError("mdb_env_create", rc);
  Status s;
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  mdb_env_set_maxdbs(env, 4);
  int rc = mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600);
  if (rc != 0) {
    s = LmdbError(fmt::format("mdb_env_open({})", path), rc);
  } else if ((rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn)) != 0) {
    s = LmdbError("mdb_txn_begin", rc);
  } else if ((rc = mdb_dbi_open(txn, "meta", 0, &dbi)) != 0) {
    s = LmdbError("mdb_dbi_open(meta)", rc);
  } else {
    MDB_val key = ToVal(std::string_view(kMetaStateSeq)), value;
    if ((rc = mdb_get(txn, dbi, &key, &value)) != 0) {
      s = LmdbError("mdb_get(state_seq)", rc);
    } else {
      s = ReadU64(ToView(value), seq, "checkpoint meta.state_seq");
      key = ToVal(std::string_view(kMetaStoreId));
      if (s.ok()) {
        if ((rc = mdb_get(txn, dbi, &key, &value)) != 0)
          s = LmdbError("mdb_get(store_id)", rc);
        else
          store_id->assign(ToView(value));
      }
    }
  }
  if (txn != nullptr) mdb_txn_abort(txn);
  mdb_env_close(env);
  return s;
}

std::string Name(std::uint64_t seq) { return fmt::format("state-{:020}", seq); }

Status WriteFileSynced(const std::string& path, const std::string& content) {
  {
    std::ofstream out(path, std::ios::trunc | std::ios::binary);
    out << content;
    if (!out.flush()) return Error(Code::kInternal, "cannot write {}", path);
  }
  MakeFilePrivate(path);
  return FsyncPath(path, O_RDONLY);
}

}  // namespace

Result<StateCheckpoint> WriteStateCheckpoint(StateStore& state, const std::string& dir) {
  CQRS_RETURN_IF_ERROR(CreatePrivateDirectories(dir));
  const std::string tmp = dir + "/state.mdb.tmp";
  auto cleanup = [&] {
    std::error_code ec;
    fs::remove(tmp, ec);
    fs::remove(dir + "/state.sum.tmp", ec);
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Code::kUnavailable, "open {}: {}", tmp, std::strerror(errno));
  Status copied = state.CopyTo(fd);
  if (copied.ok() && ::fsync(fd) != 0)
    copied = Error(Code::kUnavailable, "fsync {}: {}", tmp, std::strerror(errno));
  ::close(fd);
  if (!copied.ok()) {
    cleanup();
    return copied;
  }
  fault::MaybeCrash(fault::Point::kCrashInCheckpoint);  // a whole copy under its temp name
  StateCheckpoint checkpoint;
  std::string store_id;
  std::uint64_t hash = 0, bytes = 0;
  Status s = ReadCopyMeta(tmp, &checkpoint.seq, &store_id);
  if (s.ok()) s = HashFile(tmp, &hash, &bytes);
  const std::string base = dir + "/" + Name(checkpoint.seq);
  if (s.ok())
    s = WriteFileSynced(dir + "/state.sum.tmp",
                        fmt::format("{}\nseq {}\nstore_id {}\nbytes {}\nhash {:016x}\n", kSumHeader,
                                    checkpoint.seq, store_id, bytes, hash));
  std::error_code ec;
  if (s.ok()) {
    fs::rename(tmp, base + ".mdb", ec);
    if (!ec) fault::MaybeCrash(fault::Point::kCrashInCheckpoint);  // a copy without its .sum
    if (!ec) fs::rename(dir + "/state.sum.tmp", base + ".sum", ec);
    if (ec) s = Error(Code::kUnavailable, "rename into {}: {}", base, ec.message());
  }
  if (s.ok()) s = FsyncPath(dir, O_RDONLY | O_DIRECTORY);
  if (!s.ok()) {
    cleanup();
    return s;
  }
  checkpoint.path = base + ".mdb";
  return checkpoint;
}

std::vector<StateCheckpoint> ListStateCheckpoints(const std::string& dir, bool remove_leftovers) {
  std::vector<StateCheckpoint> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp")) {
      if (remove_leftovers) fs::remove(entry.path(), ec);
      continue;
    }
    if (!name.starts_with("state-") || !name.ends_with(".mdb") || name.size() != 30) continue;
    if (remove_leftovers && !fs::exists(dir + "/" + name.substr(0, 26) + ".sum", ec)) {
      // Renamed, but a crash came before its .sum was: it cannot be verified, so never used.
      spdlog::warn("state checkpoint {} has no .sum (a crash between its renames): removed",
                   entry.path().string());
      fs::remove(entry.path(), ec);
      continue;
    }
    StateCheckpoint c;
    c.path = entry.path().string();
    c.seq = std::strtoull(name.substr(6, 20).c_str(), nullptr, 10);
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq > b.seq; });
  return out;
}

Status VerifyStateCheckpoint(const StateCheckpoint& c, std::string_view store_id) {
  const std::string sum_path = c.path.substr(0, c.path.size() - 4) + ".sum";
  std::ifstream in(sum_path);
  std::string header, key;
  std::uint64_t seq = 0, bytes = 0;
  std::string id, hash_hex;
  std::getline(in, header);
  if (header != kSumHeader)
    return Error(Code::kInternal, "{}: missing or not a checkpoint checksum", sum_path);
  in >> key >> seq >> key >> id >> key >> bytes >> key >> hash_hex;
  if (!in) return Error(Code::kInternal, "{}: malformed", sum_path);
  if (seq != c.seq) return Error(Code::kInternal, "{} says seq {}", sum_path, seq);
  if (id != store_id)
    return Error(Code::kInternal, "{} is of store {}, not {}", c.path, id, store_id);
  std::uint64_t hash = 0, size = 0;
  CQRS_RETURN_IF_ERROR(HashFile(c.path, &hash, &size));
  if (size != bytes)
    return Error(Code::kInternal, "{} is {} bytes, its checksum file says {}", c.path, size, bytes);
  if (fmt::format("{:016x}", hash) != hash_hex)
    return Error(Code::kInternal, "{} fails its checksum ({:016x}, recorded {})", c.path, hash,
                 hash_hex);
  return OkStatus();
}

void PruneStateCheckpoints(const std::string& dir, std::size_t keep) {
  auto all = ListStateCheckpoints(dir, false);
  std::error_code ec;
  for (std::size_t i = keep; i < all.size(); ++i) {
    fs::remove(all[i].path, ec);
    fs::remove(all[i].path.substr(0, all[i].path.size() - 4) + ".sum", ec);
  }
}

Result<std::unique_ptr<CheckpointEntities>> CheckpointEntities::Open(
    const StateCheckpoint& checkpoint) {
  std::unique_ptr<CheckpointEntities> r(new CheckpointEntities());
  r->path_ = checkpoint.path;
  std::error_code ec;
  const std::uint64_t bytes = std::filesystem::file_size(checkpoint.path, ec);
  if (ec) return Error(Code::kUnavailable, "{}: {}", checkpoint.path, ec.message());
  EnvOptions o;
  o.dir = checkpoint.path;
  o.flags = MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK;
  o.map_size = bytes;
  o.max_dbs = 4;
  auto env = LmdbEnv::Open(o);
  if (!env.ok()) return env.status();
  r->env_ = std::move(env).value();
  auto snapshot = Txn::BeginRead(r->env_);
  if (!snapshot.ok()) return snapshot.status();
  r->snapshot_ = std::move(snapshot).value();
  auto entities = r->snapshot_.OpenDbi("entities", 0, false);
  if (!entities.ok()) return entities.status();
  auto cursor = Cursor::Open(r->snapshot_, entities.value());
  if (!cursor.ok()) return cursor.status();
  r->cursor_ = std::move(cursor).value();
  return r;
}

Status CheckpointEntities::Next(std::uint32_t* ns, std::string_view* key,
                                std::string_view* record) {
  std::string_view k, v;
  CQRS_RETURN_IF_ERROR(cursor_.Get(started_ ? MDB_NEXT : MDB_FIRST, &k, &v));
  started_ = true;
  if (k.size() < 4) return Error(Code::kInternal, "{}: an entity key of {} bytes", path_, k.size());
  *ns = GetU32BE(reinterpret_cast<const std::uint8_t*>(k.data()));
  *key = k.substr(4);
  *record = v;
  return OkStatus();
}

Result<StateCheckpoint> HoldNewestCheckpoint(WriteStore& log, LogHold& hold) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    bool passed = false;
    for (const StateCheckpoint& c : ListStateCheckpoints(log.checkpoints_dir(), false)) {
      if (Status v = VerifyStateCheckpoint(c, log.store_id()); !v.ok()) {
        spdlog::warn("state checkpoint {} not used: {}", c.path, v.ToString());
        continue;
      }
      hold.Set(c.seq);
      CQRS_RETURN_IF_ERROR(hold.Flush());
      auto snapshot = Txn::BeginRead(log.env());
      if (!snapshot.ok()) return snapshot.status();
      Status from = log.CheckFrom(snapshot.value(), c.seq + 1);
      if (from.ok()) return c;
      if (from.code() != Code::kOutOfRange) return from;
      passed = true;  // retention went past it: a newer one was written meanwhile
      break;
    }
    if (!passed) break;
  }
  auto snapshot = Txn::BeginRead(log.env());
  if (!snapshot.ok()) return snapshot.status();
  Status why = log.CheckFrom(snapshot.value(), 1);
  return Error(Code::kOutOfRange, "no state checkpoint to start from: {}",
               why.ok() ? "none verifies" : why.message());
}

}  // namespace cqrs::store
