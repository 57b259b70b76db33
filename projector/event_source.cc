// Reading committed events from the local event log.
#include "projector/event_source.h"

#include "store/key_format.h"

namespace cqrs::projector {

Result<std::size_t> LogEventSource::Read(std::uint64_t after_seq, std::size_t max_events,
                                         std::size_t max_bytes,
                                         std::vector<wire::AlignedBuffer>* out) {
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(log_.env(), &snapshot_));
  store::SnapshotLease lease(snapshot_);
  auto cursor = store::Cursor::Open(snapshot_, log_.dbs().events);
  if (!cursor.ok()) return cursor.status();
  store::KeyBuffer from = store::SeqKey(after_seq + 1);
  std::string_view key = from.view(), value;
  std::size_t count = 0, bytes = 0;
  Status s = cursor->Get(MDB_SET_RANGE, &key, &value);
  while (s.ok() && count < max_events && bytes < max_bytes) {
    if (out->size() == count) out->emplace_back();
    (*out)[count++].Assign(value.data(), value.size());
    bytes += value.size();
    s = cursor->Get(MDB_NEXT, &key, &value);
  }
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  return count;
}

}  // namespace cqrs::projector
