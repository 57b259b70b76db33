// LocalReader: the hot cache, then a read-only snapshot of the read store.
#include "client/local_reader.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "store/key_format.h"

namespace cqrs {

struct LocalReader::SharedStore {
  std::uint64_t generation = 0;
  std::unique_ptr<store::ReadStore> store;
};

namespace {
constexpr std::uint64_t kProjectorStaleNs = 1'000'000'000;
const char kNotFound[] = "not found";  // short: no allocation on a miss
}  // namespace

Result<std::shared_ptr<LocalReader::SharedStore>> LocalReader::AcquireStore(
    const std::string& data_dir, std::uint64_t generation) {
  // LMDB: one environment per file per process. The newest generation's is shared; a reader
  // still on an older one keeps that open until it moves on (the files differ: a rebuild swaps
  // directories).
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<SharedStore>> open;
  const std::string dir = (std::filesystem::absolute(data_dir) / "read").lexically_normal();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto shared = open[dir].lock(); shared && shared->generation == generation) return shared;
  store::ReadStoreOptions o;
  o.dir = dir;
  o.read_only = true;
  auto opened = store::ReadStore::Open(o);
  if (!opened.ok()) return opened.status();
  auto shared = std::make_shared<SharedStore>();
  shared->generation = generation;
  shared->store = std::move(opened).value();
  open[dir] = shared;
  return shared;
}

Result<std::unique_ptr<LocalReader>> LocalReader::Open(const LocalReaderOptions& options) {
  auto control = shm::ControlBlock::Attach(options.data_dir, options.cache_slots);
  if (!control.ok()) return control.status();
  std::unique_ptr<LocalReader> reader(new LocalReader(options, std::move(control).value()));
  std::uint64_t seq = 0;
  CQRS_RETURN_IF_ERROR(reader->Snapshot(&seq));
  reader->Release();
  return reader;
}

LocalReader::LocalReader(LocalReaderOptions options, shm::ControlBlock control)
    : options_(std::move(options)), control_(std::move(control)) {}

LocalReader::~LocalReader() { snapshot_ = store::Txn(); }

void LocalReader::Release() {
  if (snapshot_active_) snapshot_.Reset();
  snapshot_active_ = false;
}

Status LocalReader::WaitApplied(const LocalReadOptions& options) {
  if (!control_.StillNamed()) {
    auto attached = shm::ControlBlock::Attach(options_.data_dir, options_.cache_slots);
    if (!attached.ok()) return attached.status();
    control_ = std::move(attached).value();
  }
  const shm::AtomicU64& applied = control_.seqs().projector_applied_seq;
  if (applied.load(std::memory_order_acquire) >= options.min_seq) return OkStatus();
  const std::uint64_t deadline =
      MonoNs() + static_cast<std::uint64_t>(options.wait.count()) * 1'000'000;
  for (int round = 0;; ++round) {
    if (applied.load(std::memory_order_acquire) >= options.min_seq) return OkStatus();
    if (MonoNs() >= deadline)
      return Error(Code::kDeadlineExceeded,
                   "read store at seq {} has not applied min_seq {} in time", applied.load(),
                   options.min_seq);
    if (round < 100)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

Status LocalReader::Snapshot(std::uint64_t* seq) {
  const std::uint64_t generation = control_.seqs().read_generation.load(std::memory_order_acquire);
  if (!store_ || store_->generation != generation) {
    snapshot_ = store::Txn();  // a snapshot of the old store ends before we let it go
    snapshot_active_ = false;
    auto shared = AcquireStore(options_.data_dir, generation);
    if (!shared.ok()) return shared.status();
    store_ = std::move(shared).value();
    namespaces_.clear();
  }
  if (snapshot_active_) snapshot_.Reset();
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(store_->store->env(), &snapshot_));
  snapshot_active_ = true;
  auto checkpoint = store_->store->ReadCheckpoint(snapshot_);
  if (!checkpoint.ok()) return checkpoint.status();
  // A fresh snapshot is at least every seq reported before (each was committed first), unless
  // the store was replaced by an older one under us.
  if (checkpoint->applied_seq < reported_)
    return Error(Code::kUnavailable, "the read store is at seq {}, behind seq {} answered before",
                 checkpoint->applied_seq, reported_);
  reported_ = *seq = checkpoint->applied_seq;
  return OkStatus();
}

Status LocalReader::Namespace(std::string_view collection, std::uint32_t* ns) {
  if (auto it = namespaces_.find(collection); it != namespaces_.end()) {
    *ns = it->second;
    return OkStatus();
  }
  Status s = store_->store->namespaces().Lookup(snapshot_, options_.tenant, collection, ns);
  if (s.ok()) namespaces_.emplace(std::string(collection), *ns);
  return s;
}

Status LocalReader::Get(std::string_view collection, std::string_view key,
                        const LocalReadOptions& options, LocalEntity* entity, std::uint64_t* seq) {
  CQRS_RETURN_IF_ERROR(WaitApplied(options));
  const shm::HotCache& cache = control_.cache();
  if (options_.use_cache && cache.enabled() &&
      control_.BeatWithin(shm::kProjectorSlot, kProjectorStaleNs)) {
    cache_key_.Set(options_.tenant, collection, key);
    const std::uint64_t applied =
        control_.seqs().projector_applied_seq.load(std::memory_order_acquire);
    std::uint64_t as_of = 0;
    store::RecordHeader header;
    // A hit is the key's state as of max(applied, as_of) (shm/hot_cache.h); usable unless that
    // is below a seq already reported (the store may have moved past the cache meanwhile).
    if (cache.Get(cache_key_, &cached_, &as_of) == shm::CacheLookup::kHit &&
        std::max(applied, as_of) >= reported_ && store::ParseRecordHeader(cached_, &header)) {
      Release();
      reported_ = *seq = std::max(applied, as_of);
      *entity = {cache_key_.bytes().substr(cache_key_.bytes().size() - key.size()), header.version,
                 header.seq, cached_, true};
      return OkStatus();
    }
  }
  CQRS_RETURN_IF_ERROR(Snapshot(seq));
  std::uint32_t ns = 0;
  Status s = Namespace(collection, &ns);
  const store::KeyBuffer k = store::EntityKey(ns, key);
  std::string_view record;
  if (s.ok()) s = snapshot_.Get(store_->store->dbs().entities, k.view(), &record);
  if (s.code() == Code::kNotFound) return Status(Code::kNotFound, kNotFound);
  CQRS_RETURN_IF_ERROR(s);
  store::RecordHeader header;
  if (!store::ParseRecordHeader(record, &header))
    return Error(Code::kInternal, "stored record of {} key {} is corrupt", collection, key);
  probe_.assign(key);
  *entity = {probe_, header.version, header.seq, record, false};
  return OkStatus();
}

Status LocalReader::Scan(std::string_view collection, std::string_view start, std::uint32_t limit,
                         const LocalReadOptions& options, std::vector<LocalEntity>* entities,
                         std::uint64_t* seq) {
  entities->clear();
  CQRS_RETURN_IF_ERROR(WaitApplied(options));
  CQRS_RETURN_IF_ERROR(Snapshot(seq));
  std::uint32_t ns = 0;
  Status s = Namespace(collection, &ns);
  if (s.code() == Code::kNotFound) return OkStatus();  // no entity ever: an empty page
  CQRS_RETURN_IF_ERROR(s);
  auto cursor = store::Cursor::Open(snapshot_, store_->store->dbs().entities);
  if (!cursor.ok()) return cursor.status();
  const store::KeyBuffer from = store::EntityKey(ns, start);
  std::string_view k = from.view(), v;
  for (s = cursor->Get(MDB_SET_RANGE, &k, &v); s.ok() && entities->size() < limit;
       s = cursor->Get(MDB_NEXT, &k, &v)) {
    if (k.size() < 4 || store::GetU32BE(reinterpret_cast<const std::uint8_t*>(k.data())) != ns)
      break;
    store::RecordHeader header;
    if (!store::ParseRecordHeader(v, &header))
      return Error(Code::kInternal, "stored record of {} key {} is corrupt", collection,
                   k.substr(4));
    entities->push_back({k.substr(4), header.version, header.seq, v, false});  // snapshot views
  }
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  return OkStatus();
}

}  // namespace cqrs
