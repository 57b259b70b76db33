// Reading committed events from the local event log.
#include "projector/event_source.h"

#include <filesystem>

#include "base/status.h"
#include "store/key_format.h"
#include "wire/zmq_util.h"

namespace cqrs::projector {

Result<std::size_t> LogEventSource::Read(std::uint64_t after_seq, std::size_t max_events,
                                         std::size_t max_bytes,
                                         std::vector<wire::AlignedBuffer>* out) {
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(log_.env(), &snapshot_));
  store::SnapshotLease lease(snapshot_);
  // Retention never removes what a consumer holds (writer/log_retention.h); a consumer behind
  // the first seq anyway must start from a snapshot, never skip the gap.
  CQRS_RETURN_IF_ERROR(log_.CheckFrom(snapshot_, after_seq + 1));
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

Result<std::unique_ptr<LocalLogTail>> LocalLogTail::Open(const Config& config,
                                                         zmq::context_t& context) {
  std::unique_ptr<LocalLogTail> tail(new LocalLogTail(context));
  store::WriteStoreOptions w;
  w.dir = (std::filesystem::path(config.data_dir) / "write").string();
  w.read_only = true;
  w.max_map_size = config.writer.max_map_size_mb << 20;  // as the projector: never remapped
  auto write = store::WriteStore::Open(w);
  if (!write.ok()) return write.status();
  tail->store_ = std::move(write).value();
  tail->source_ = std::make_unique<LogEventSource>(*tail->store_);
  try {
    tail->tick_sub_.set(zmq::sockopt::linger, 0);
    tail->tick_sub_.set(zmq::sockopt::subscribe, "");
    tail->tick_sub_.connect(config.TickEndpoint());
  } catch (const zmq::error_t& e) {
    return Error(Code::kUnavailable, "cannot connect to the writer's tick {}: {}",
                 config.TickEndpoint(), e.what());
  }
  return tail;
}

void LocalLogTail::WaitForCommit(std::chrono::milliseconds most) {
  zmq::pollitem_t item{tick_sub_.handle(), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(&item, 1, most);
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
  }
  if (item.revents & ZMQ_POLLIN)
    while (wire::TryRecv(tick_sub_, tick_)) {
    }
}

}  // namespace cqrs::projector
