#include "projector/cache_filler.h"

#include "store/key_format.h"
#include "store/record_format.h"

namespace cqrs::projector {

CacheFiller::CacheFiller(shm::ControlBlock& control)
    : control_(control), sketch_(control.cache().slot_count()) {}

Result<std::uint64_t> CacheFiller::Fill(store::ReadStore& read) {
  shm::HotCache& cache = control_.cache();
  std::uint64_t filled = 0;
  Status failed;
  for (int r = 0; r < shm::kMaxReaders; ++r) {
    shm::AccessRing& ring = control_.ring(r);
    if (ring.produced.load(std::memory_order_acquire) ==
        ring.consumed.load(std::memory_order_relaxed))
      continue;
    shm::DrainAccessRing(ring, [&](const shm::Access& a) {
      sketch_.Add(a.hash, a.key.empty() ? shm::kAccessHitSample : 1);
      if (a.key.empty() || !failed.ok()) return;
      key_.SetBytes(a.key);
      if (key_.hash() != a.hash || !shm::ShouldFill(cache, sketch_, key_)) return;
      auto one = FillOne(read);
      if (!one.ok())
        failed = one.status();
      else
        filled += one.value() ? 1u : 0u;
    });
  }
  snapshot_ = store::Txn();
  CQRS_RETURN_IF_ERROR(failed);
  if (filled > 0)
    control_.slot(shm::kProjectorSlot)
        .counters[shm::kCacheFills]
        .fetch_add(filled, std::memory_order_relaxed);
  return filled;
}

Result<bool> CacheFiller::FillOne(store::ReadStore& read) {
  std::string_view tenant, collection, key;
  if (!key_.Split(&tenant, &collection, &key)) return false;
  if (!snapshot_.active()) CQRS_RETURN_IF_ERROR(store::RenewSnapshot(read.env(), &snapshot_));
  std::uint32_t ns = 0;
  Status s = read.namespaces().Lookup(snapshot_, tenant, collection, &ns);
  std::string_view record;
  if (s.ok()) s = snapshot_.Get(read.dbs().entities, store::EntityKey(ns, key).view(), &record);
  if (s.code() == Code::kNotFound) return false;
  CQRS_RETURN_IF_ERROR(s);
  store::RecordHeader header;
  if (!store::ParseRecordHeader(record, &header) || header.tombstone) return false;
  return control_.cache().Put(key_, record, header.seq, &sketch_) == 1;
}

}  // namespace cqrs::projector
