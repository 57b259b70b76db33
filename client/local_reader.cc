// LocalReader: the hot cache, then a read-only snapshot of the read store.
#include "client/local_reader.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "base/status.h"
#include "store/key_format.h"

namespace cqrs {

namespace {
const char kNotFound[] = "not found";  // short: no allocation on a miss
}  // namespace

Result<std::unique_ptr<LocalReader>> LocalReader::Open(const LocalReaderOptions& options) {
  auto control = shm::ControlBlock::Attach(options.data_dir, options.cache_slots);
  if (!control.ok()) return control.status();
  std::unique_ptr<LocalReader> reader(new LocalReader(options, std::move(control).value()));
  std::uint64_t seq = 0;
  CQRS_RETURN_IF_ERROR(reader->Snapshot(0, 0, &seq));
  reader->Release();
  return reader;
}

LocalReader::LocalReader(LocalReaderOptions options, shm::ControlBlock control)
    : options_(std::move(options)), control_(std::move(control)), follower_([&] {
        store::ReadStoreOptions o;
        o.dir = (std::filesystem::absolute(options_.data_dir) / "read").lexically_normal();
        o.read_only = true;
        return o;
      }()) {}

LocalReader::~LocalReader() { snapshot_ = store::Txn(); }

void LocalReader::Release() {
  if (snapshot_active_) snapshot_.Reset();
  snapshot_active_ = false;
}

Status LocalReader::WaitApplied(std::uint64_t min_seq, std::uint64_t deadline_ns) {
  if (!control_.StillNamed()) {
    auto attached = shm::ControlBlock::Attach(options_.data_dir, options_.cache_slots);
    if (!attached.ok()) return attached.status();
    control_ = std::move(attached).value();
  }
  const shm::AtomicU64& applied = control_.seqs().projector_applied_seq;
  for (int round = 0;; ++round) {
    const std::uint64_t now_applied = applied.load(std::memory_order_acquire);
    if (now_applied >= min_seq) return OkStatus();
    if (MonoNs() >= deadline_ns) return store::NotAppliedInTime(now_applied, min_seq);
    if (round < 100)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

Status LocalReader::Follow(bool force) {
  const std::uint64_t generation = control_.seqs().read_generation.load(std::memory_order_acquire);
  auto changed = follower_.Follow(generation, force, &snapshot_);
  if (!changed.ok()) return changed.status();
  if (changed.value()) {
    snapshot_active_ = false;  // Follow ended it
    namespaces_.clear();
  }
  return OkStatus();
}

Status LocalReader::Snapshot(std::uint64_t min_seq, std::uint64_t deadline_ns, std::uint64_t* seq) {
  const std::uint64_t wanted = std::max(min_seq, reported_);
  for (int round = 0;; ++round) {
    CQRS_RETURN_IF_ERROR(Follow(round > 0));
    if (snapshot_active_) snapshot_.Reset();
    CQRS_RETURN_IF_ERROR(store::RenewSnapshot(follower_.store()->env(), &snapshot_));
    snapshot_active_ = true;
    auto checkpoint = follower_.store()->ReadCheckpoint(snapshot_);
    if (!checkpoint.ok()) return checkpoint.status();
    const std::uint64_t at = checkpoint->applied_seq;
    if (at >= wanted) {
      reported_ = *seq = at;
      return OkStatus();
    }
    // Behind what shared memory promised: the store was switched to a rebuilt one under us
    // (the new one is found by looking), or the projector is between its commit and this.
    if (MonoNs() >= deadline_ns) {
      Release();
      if (at < min_seq) return store::NotAppliedInTime(at, min_seq);
      return Error(Code::kUnavailable, "the read store is at seq {}, behind seq {} answered before",
                   at, reported_);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(round < 10 ? 50 : 1000));
  }
}

Status LocalReader::Namespace(std::string_view collection, std::uint32_t* ns) {
  if (auto it = namespaces_.find(collection); it != namespaces_.end()) {
    *ns = it->second;
    return OkStatus();
  }
  Status s = follower_.store()->namespaces().Lookup(snapshot_, options_.tenant, collection, ns);
  if (s.ok()) namespaces_.emplace(std::string(collection), *ns);
  return s;
}

Status LocalReader::Get(std::string_view collection, std::string_view key,
                        const LocalReadOptions& options, LocalEntity* entity, std::uint64_t* seq) {
  const std::uint64_t deadline =
      MonoNs() + static_cast<std::uint64_t>(options.wait.count()) * 1'000'000;
  CQRS_RETURN_IF_ERROR(WaitApplied(options.min_seq, deadline));
  // Answers from the cache alone must not pin a replaced store for ever (its files stay until
  // the last process closes it): follow here too, at the follower's pace (a look per 100 ms).
  CQRS_RETURN_IF_ERROR(Follow(false));
  const shm::HotCache& cache = control_.cache();
  if (options_.use_cache && cache.enabled() &&
      control_.BeatWithin(shm::kProjectorSlot, shm::kProjectorStaleNs)) {
    cache_key_.Set(options_.tenant, collection, key);
    const std::uint64_t applied =
        control_.seqs().projector_applied_seq.load(std::memory_order_acquire);
    std::uint64_t as_of = 0;
    store::RecordHeader header;
    // The answer reports the newest seq the hit is true at (shm::CacheHitSpan); usable when
    // that is at least min_seq and every seq reported before.
    if (cache.Get(cache_key_, &cached_, &as_of) == shm::CacheLookup::kHit &&
        shm::CacheHitSpan::Of(applied, as_of).to >= std::max(reported_, options.min_seq) &&
        store::ParseRecordHeader(cached_, &header)) {
      Release();
      reported_ = *seq = shm::CacheHitSpan::Of(applied, as_of).to;
      *entity = {cache_key_.bytes().substr(cache_key_.bytes().size() - key.size()), header.version,
                 header.seq, cached_, true};
      return OkStatus();
    }
  }
  CQRS_RETURN_IF_ERROR(Snapshot(options.min_seq, deadline, seq));
  std::uint32_t ns = 0;
  Status s = Namespace(collection, &ns);
  const store::KeyBuffer k = store::EntityKey(ns, key);
  std::string_view record;
  if (s.ok()) s = snapshot_.Get(follower_.store()->dbs().entities, k.view(), &record);
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
  const std::uint64_t deadline =
      MonoNs() + static_cast<std::uint64_t>(options.wait.count()) * 1'000'000;
  CQRS_RETURN_IF_ERROR(WaitApplied(options.min_seq, deadline));
  CQRS_RETURN_IF_ERROR(Snapshot(options.min_seq, deadline, seq));
  std::uint32_t ns = 0;
  Status s = Namespace(collection, &ns);
  if (s.code() == Code::kNotFound) return OkStatus();  // no entity ever: an empty page
  CQRS_RETURN_IF_ERROR(s);
  auto cursor = store::Cursor::Open(snapshot_, follower_.store()->dbs().entities);
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
