// LMDB wrapper implementation.
#include "store/lmdb.h"

#include <cerrno>
#include <filesystem>

#include "base/check.h"
#include "base/files.h"
#include "base/status.h"

namespace cqrs::store {

Status LmdbError(std::string_view operation, int rc) {
  Code code = Code::kInternal;
  switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
    case MDB_TXN_FULL:
      code = Code::kResourceExhausted;
      break;
    case MDB_NOTFOUND:
      code = Code::kNotFound;
      break;
    case MDB_KEYEXIST:
      code = Code::kAlreadyExists;
      break;
    case MDB_MAP_RESIZED:
    case EIO:
    case MDB_READERS_FULL:
      code = Code::kUnavailable;
      break;
    default:
      break;
  }
  return Status(code, fmt::format("{}: {}", operation, mdb_strerror(rc)), rc);
}

bool IsMapFull(const Status& status) { return status.native() == MDB_MAP_FULL; }

bool IsMapResized(const Status& status) { return status.native() == MDB_MAP_RESIZED; }

Status MissingStore(std::string message) {
  return Status(Code::kUnavailable, std::move(message), ENOENT);
}

bool IsMissingStore(const Status& status) {
  return status.code() == Code::kUnavailable && status.native() == ENOENT;
}

Result<LmdbEnv> LmdbEnv::Open(const EnvOptions& options) {
  if (!(options.flags & MDB_RDONLY)) {
    CQRS_RETURN_IF_ERROR(CreatePrivateDirectories(options.dir));
  }
  LmdbEnv env;
  env.dir_ = options.dir;
  if (int rc = mdb_env_create(&env.env_); rc != 0) return LmdbError("mdb_env_create", rc);
  if (int rc = mdb_env_set_maxdbs(env.env_, options.max_dbs); rc != 0)
    return LmdbError("mdb_env_set_maxdbs", rc);
  if (int rc = mdb_env_set_maxreaders(env.env_, options.max_readers); rc != 0)
    return LmdbError("mdb_env_set_maxreaders", rc);
  if (int rc = mdb_env_set_mapsize(env.env_, options.map_size); rc != 0)
    return LmdbError("mdb_env_set_mapsize", rc);
  // MDB_NOTLS: reader slots belong to transactions, not threads, so a read txn can be reset and
  // renewed freely and several may be open on one thread.
  // 0600: the data is every tenant's; other local users must not read it.
  if (int rc = mdb_env_open(env.env_, options.dir.c_str(), options.flags | MDB_NOTLS, 0600);
      rc != 0)
    return LmdbError(fmt::format("mdb_env_open({})", options.dir), rc);
  if (!(options.flags & MDB_RDONLY)) {  // files an older build made 0644
    for (const char* file : {"/data.mdb", "/lock.mdb"}) MakeFilePrivate(options.dir + file);
  }
  return env;
}

LmdbEnv& LmdbEnv::operator=(LmdbEnv&& other) noexcept {
  if (this != &other) {
    if (env_) mdb_env_close(env_);
    env_ = other.env_;
    dir_ = std::move(other.dir_);
    reads_ = std::move(other.reads_);
    other.env_ = nullptr;
  }
  return *this;
}

Status LmdbEnv::DoubleMap(std::uint64_t max_bytes, std::string_view what, std::string_view limit) {
  const std::uint64_t current = map_size();
  if (current >= max_bytes)
    return Error(Code::kResourceExhausted, "{} map is {} MiB, at {} {}", what, current >> 20, limit,
                 max_bytes >> 20);
  return SetMapSize(std::min(current * 2, max_bytes));
}

double LmdbEnv::used_fraction() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  MDB_stat stat;
  mdb_env_stat(env_, &stat);
  return static_cast<double>(info.me_last_pgno + 1) * stat.ms_psize /
         static_cast<double>(info.me_mapsize);
}

LmdbEnv::~LmdbEnv() {
  if (env_) mdb_env_close(env_);
}

std::uint64_t LmdbEnv::map_size() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

Status LmdbEnv::SetMapSize(std::uint64_t bytes) {
  if (int rc = mdb_env_set_mapsize(env_, bytes); rc != 0)
    return LmdbError("mdb_env_set_mapsize", rc);
  return OkStatus();
}

Status LmdbEnv::AdoptGrownMap() {
  std::lock_guard lock(reads_->mutex);
  if (reads_->open > 0)
    return Status(Code::kUnavailable,
                  fmt::format("{}: another process grew the map past the {} MiB mapped here; {} "
                              "snapshots of this process must end before it is mapped again",
                              dir_, map_size() >> 20, reads_->open),
                  MDB_MAP_RESIZED);
  return SetMapSize(0);
}

Status LmdbEnv::MapAtLeast(std::uint64_t bytes) {
  CQRS_RETURN_IF_ERROR(SetMapSize(0));  // the owner's size
  if (map_size() < bytes) CQRS_RETURN_IF_ERROR(SetMapSize(bytes));
  return OkStatus();
}

int LmdbEnv::open_reads() const {
  std::lock_guard lock(reads_->mutex);
  return reads_->open;
}

Result<int> LmdbEnv::ReaderCheck() {
  int dead = 0;
#ifdef CQRS_MISTAKE_NO_READER_CHECK  // the injected mistake of tests/faults (make mistakes)
  return dead;
#endif
  if (int rc = mdb_reader_check(env_, &dead); rc != 0) return LmdbError("mdb_reader_check", rc);
  return dead;
}

Result<int> LmdbEnv::LiveReaders() {
  CQRS_RETURN_IF_ERROR(ReaderCheck().status());
  // mdb_reader_list prints a header and one line per slot ("pid thread txnid"), or
  // "(no active readers)".
  int lines = 0;
  auto count = [](const char* msg, void* ctx) -> int {
    const char* p = msg;
    while (*p == ' ') ++p;
    if (*p >= '1' && *p <= '9') ++*static_cast<int*>(ctx);
    return 0;
  };
  if (int rc = mdb_reader_list(env_, count, &lines); rc < 0)
    return LmdbError("mdb_reader_list", rc);
  return lines;
}

Status LmdbEnv::Sync() {
  if (int rc = mdb_env_sync(env_, 1); rc != 0) return LmdbError("mdb_env_sync", rc);
  return OkStatus();
}

Result<Txn> Txn::BeginWrite(const LmdbEnv& env) {
  Txn txn;
  if (int rc = mdb_txn_begin(env.get(), nullptr, 0, &txn.txn_); rc != 0)
    return LmdbError("mdb_txn_begin(write)", rc);
  return txn;
}

Result<Txn> Txn::BeginRead(const LmdbEnv& env) {
  Txn txn;
  txn.read_only_ = true;
  txn.reads_ = env.reads_.get();
  std::lock_guard lock(txn.reads_->mutex);  // no remap between this begin and the count
  if (int rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &txn.txn_); rc != 0)
    return LmdbError("mdb_txn_begin(read)", rc);
  ++txn.reads_->open;
  txn.counted_ = true;
  return txn;
}

Txn& Txn::operator=(Txn&& other) noexcept {
  if (this != &other) {
    Abort();
    txn_ = other.txn_;
    read_only_ = other.read_only_;
    reset_ = other.reset_;
    reads_ = other.reads_;
    counted_ = other.counted_;
    other.txn_ = nullptr;
    other.counted_ = false;
  }
  return *this;
}

void Txn::Uncount() {
  if (!counted_) return;
  std::lock_guard lock(reads_->mutex);
  --reads_->open;
  counted_ = false;
}

Status Txn::Commit() {
  CQRS_CHECK(txn_ != nullptr && !reset_);
  reset_ = false;
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;
  Uncount();
  if (rc != 0) return LmdbError("mdb_txn_commit", rc);
  return OkStatus();
}

void Txn::Abort() {
  if (txn_) mdb_txn_abort(txn_);
  txn_ = nullptr;
  reset_ = false;
  Uncount();
}

void Txn::Reset() {
  CQRS_CHECK(read_only_ && txn_ != nullptr);
  if (!reset_) mdb_txn_reset(txn_);
  reset_ = true;
  Uncount();
}

Status Txn::Renew() {
  CQRS_CHECK(read_only_ && txn_ != nullptr);
  if (!reset_) mdb_txn_reset(txn_);
  Uncount();
  std::lock_guard lock(reads_->mutex);  // no remap between this renew and the count
  if (int rc = mdb_txn_renew(txn_); rc != 0) {
    reset_ = true;
    return LmdbError("mdb_txn_renew", rc);
  }
  reset_ = false;
  ++reads_->open;
  counted_ = true;
  return OkStatus();
}

Result<Dbi> Txn::OpenDbi(const char* name, unsigned flags, bool create) {
  Dbi dbi;
  dbi.name = name;
  if (int rc = mdb_dbi_open(txn_, name, flags | (create ? MDB_CREATE : 0u), &dbi.handle); rc != 0)
    return LmdbError(fmt::format("mdb_dbi_open({})", name), rc);
  return dbi;
}

Status Txn::Get(Dbi dbi, std::string_view key, std::string_view* value) const {
  MDB_val k = ToVal(key);
  MDB_val v;
  int rc = mdb_get(txn_, dbi.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return Status(Code::kNotFound, std::string());
  if (rc != 0) return LmdbError(fmt::format("mdb_get({})", dbi.name), rc);
  *value = ToView(v);
  return OkStatus();
}

Status Txn::Put(Dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  if (int rc = mdb_put(txn_, dbi.handle, &k, &v, flags); rc != 0)
    return LmdbError(fmt::format("mdb_put({})", dbi.name), rc);
  return OkStatus();
}

Status Txn::Reserve(Dbi dbi, std::string_view key, std::size_t size, char** out, unsigned flags) {
  MDB_val k = ToVal(key);
  MDB_val v{size, nullptr};
  if (int rc = mdb_put(txn_, dbi.handle, &k, &v, flags | MDB_RESERVE); rc != 0)
    return LmdbError(fmt::format("mdb_put({})", dbi.name), rc);
  *out = static_cast<char*>(v.mv_data);
  return OkStatus();
}

Status Txn::Del(Dbi dbi, std::string_view key) {
  MDB_val k = ToVal(key);
  int rc = mdb_del(txn_, dbi.handle, &k, nullptr);
  if (rc == MDB_NOTFOUND) return Status(Code::kNotFound, std::string());
  if (rc != 0) return LmdbError(fmt::format("mdb_del({})", dbi.name), rc);
  return OkStatus();
}

Status Txn::Del(Dbi dbi, std::string_view key, std::string_view value) {
  MDB_val k = ToVal(key), v = ToVal(value);
  int rc = mdb_del(txn_, dbi.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return Status(Code::kNotFound, std::string());
  if (rc != 0) return LmdbError(fmt::format("mdb_del({})", dbi.name), rc);
  return OkStatus();
}

Status Txn::Drop(Dbi dbi) {
  if (int rc = mdb_drop(txn_, dbi.handle, 0); rc != 0)
    return LmdbError(fmt::format("mdb_drop({})", dbi.name), rc);
  return OkStatus();
}

Status RenewSnapshot(LmdbEnv& env, Txn* txn) {
  for (int attempt = 0;; ++attempt) {
    Status s;
    if (txn->get() == nullptr) {
      auto begun = Txn::BeginRead(env);
      if (begun.ok()) *txn = std::move(begun).value();
      s = begun.status();
    } else {
      s = txn->Renew();
    }
    if (s.ok() || !IsMapResized(s) || attempt > 0) return s;
    CQRS_RETURN_IF_ERROR(env.AdoptGrownMap());  // ours is reset; others may not be
  }
}

Result<Cursor> Cursor::Open(const Txn& txn, Dbi dbi) {
  Cursor c;
  c.dbi_ = dbi;
  if (int rc = mdb_cursor_open(txn.get(), dbi.handle, &c.cursor_); rc != 0)
    return LmdbError(fmt::format("mdb_cursor_open({})", dbi.name), rc);
  return c;
}

Cursor& Cursor::operator=(Cursor&& other) noexcept {
  if (this != &other) {
    if (cursor_) mdb_cursor_close(cursor_);
    cursor_ = other.cursor_;
    dbi_ = other.dbi_;
    other.cursor_ = nullptr;
  }
  return *this;
}

Cursor::~Cursor() {
  if (cursor_) mdb_cursor_close(cursor_);
}

Status Cursor::Get(MDB_cursor_op op, std::string_view* key, std::string_view* value) {
  MDB_val k = ToVal(*key);
  MDB_val v = ToVal(*value);  // an input of MDB_GET_BOTH(_RANGE)
  int rc = mdb_cursor_get(cursor_, &k, &v, op);
  if (rc == MDB_NOTFOUND) return Status(Code::kNotFound, std::string());
  if (rc != 0) return LmdbError(fmt::format("mdb_cursor_get({})", dbi_.name), rc);
  *key = ToView(k);
  *value = ToView(v);
  return OkStatus();
}

Status Cursor::Put(std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  if (int rc = mdb_cursor_put(cursor_, &k, &v, flags); rc != 0)
    return LmdbError(fmt::format("mdb_cursor_put({})", dbi_.name), rc);
  return OkStatus();
}

Status Cursor::Del() {
  if (int rc = mdb_cursor_del(cursor_, 0); rc != 0)
    return LmdbError(fmt::format("mdb_cursor_del({})", dbi_.name), rc);
  return OkStatus();
}

}  // namespace cqrs::store
