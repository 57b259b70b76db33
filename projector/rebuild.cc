// Bulk apply of the event log to a read store.
#include "projector/rebuild.h"

#include <filesystem>

#include "store/key_format.h"
#include "store/write_store_format.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"

namespace cqrs::projector {

Result<std::uint64_t> ApplyLog(store::WriteStore& log, store::ReadStore& store,
                               EventApplier& applier, std::uint64_t to_seq,
                               std::size_t events_per_txn, const std::atomic<bool>& cancel,
                               const std::function<void(std::uint64_t)>& progress) {
  std::uint64_t applied = 0;
  std::vector<wire::AlignedBuffer> events(events_per_txn);
  for (;;) {
    if (cancel.load(std::memory_order_relaxed)) return applied;
    // Read a chunk through a short snapshot of the log (never held across the write).
    auto begun = store::Txn::BeginWrite(store.env());
    if (!begun.ok()) return begun.status();
    store::Txn txn = std::move(begun).value();
    CQRS_RETURN_IF_ERROR(applier.Begin(txn));
    const std::uint64_t from = applier.checkpoint().applied_seq + 1;
    if (from > to_seq) return applied;
    std::size_t count = 0;
    {
      auto snapshot = store::Txn::BeginRead(log.env());
      if (!snapshot.ok()) return snapshot.status();
      auto cursor = store::Cursor::Open(snapshot.value(), log.dbs().events);
      if (!cursor.ok()) return cursor.status();
      store::KeyBuffer key = store::SeqKey(from);
      std::string_view k = key.view(), v;
      for (Status s = cursor->Get(MDB_SET_RANGE, &k, &v); count < events_per_txn;
           s = cursor->Get(MDB_NEXT, &k, &v)) {
        if (s.code() == Code::kNotFound) break;
        CQRS_RETURN_IF_ERROR(s);
        if (store::GetU64BE(reinterpret_cast<const std::uint8_t*>(k.data())) > to_seq) break;
        events[count++].Assign(v.data(), v.size());
      }
    }
    if (count == 0) return applied;
    Status s;
    for (std::size_t i = 0; s.ok() && i < count; ++i) {
      const fb::Event* event = nullptr;
      s = wire::VerifyEvent(events[i].span(), &event);
      if (!s.ok()) {
        s = Error(Code::kInternal, "event log entry after seq {}: {}",
                  applier.checkpoint().applied_seq, s.message());
        break;
      }
      s = applier.Apply(txn, *event);
    }
    if (s.ok()) s = applier.End(txn);
    if (s.ok()) s = txn.Commit();
    if (!s.ok()) {
      txn.Abort();
      if (!store::IsMapFull(s)) return s;
      CQRS_RETURN_IF_ERROR(store.Grow());
      continue;  // the same chunk again, in a larger map
    }
    applied += count;
    if (progress) progress(applier.checkpoint().applied_seq);
  }
}

Result<RebuildTarget> CreateRebuildTarget(const std::string& dir, const Config& config,
                                          const std::string& write_store_id) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Error(Code::kInternal, "cannot remove {}: {}", dir, ec.message());
  RebuildTarget t;
  t.dir = dir;
  store::ReadStoreOptions o;
  o.dir = dir;
  o.map_size = config.projector.map_size_mb << 20;
  o.max_map_size = config.projector.max_map_size_mb << 20;
  auto opened = store::ReadStore::Open(o);
  if (!opened.ok()) return opened.status();
  t.store = std::move(opened).value();
  auto txn = store::Txn::BeginWrite(t.store->env());
  if (!txn.ok()) return txn.status();
  CQRS_RETURN_IF_ERROR(t.store->SetFollowedStoreId(txn.value(), write_store_id));
  CQRS_RETURN_IF_ERROR(t.store->SetReadModels(txn.value(), config.ReadModelFingerprint()));
  CQRS_RETURN_IF_ERROR(txn->Commit());
  t.applier = std::make_unique<EventApplier>(*t.store, config.collections);
  return t;
}

}  // namespace cqrs::projector
