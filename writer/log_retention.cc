// Retention of the event log.
#include "writer/log_retention.h"

#include <algorithm>

#include "base/fault.h"
#include "store/key_format.h"
#include "store/write_store_format.h"
#include "wire/event_codec.h"

namespace cqrs::writer {

Status LogRetention::Step(std::uint64_t now_ns, std::uint64_t checkpoint_seq, bool* more) {
  *more = false;
  auto begun = store::Txn::BeginWrite(log_.env());
  if (!begun.ok()) return begun.status();
  store::Txn txn = std::move(begun).value();
  auto last = log_.LastSeq(txn);
  if (!last.ok()) return last.status();
  auto first = log_.FirstSeq(txn);
  if (!first.ok()) return first.status();
  stats_.first_seq = first.value();
  // The holds as of now. A consumer that sets a lower hold meanwhile (one about to read from a
  // checkpoint) checks the log after writing it (store::HoldNewestCheckpoint), and every reader
  // of the log checks its start on each read: an event this step removes under it makes that
  // reader stop or start again from a newer checkpoint, never skip.
  stats_.floor =
      store::ComputeLogFloor(policy_, last.value(), checkpoint_seq, store::ListLogHolds(data_dir_));
  const std::uint64_t floor = stats_.floor.seq;
  if (first.value() >= floor) return OkStatus();  // nothing to commit
  const std::uint64_t cutoff_ns =
      policy_.keep_s == 0
          ? UINT64_MAX
          : (now_ns > policy_.keep_s * 1'000'000'000ull ? now_ns - policy_.keep_s * 1'000'000'000ull
                                                        : 0);
  std::uint64_t next = first.value();
  {
    auto cursor = store::Cursor::Open(txn, log_.dbs().events);
    if (!cursor.ok()) return cursor.status();
    std::string_view k, v;
    std::size_t removed = 0;
    Status got = cursor->Get(MDB_FIRST, &k, &v);
    for (; got.ok(); got = cursor->Get(MDB_FIRST, &k, &v)) {
      const std::uint64_t seq = store::DecodeSeqKey(k);
      if (seq != next)
        return Error(Code::kInternal, "event log: seq {} where first seq {} belongs", seq, next);
      if (seq >= floor) break;
      if (removed == policy_.step_events) {
        *more = true;
        break;
      }
      if (cutoff_ns != UINT64_MAX) {
        event_.Assign(v.data(), v.size());  // values are not 8-byte aligned
        const fb::Event* e = nullptr;
        CQRS_RETURN_IF_ERROR(wire::VerifyEvent(event_.span(), &e));
        if (e->timestamp_ns() >= cutoff_ns) break;  // young enough to keep, and all after it
      }
      CQRS_RETURN_IF_ERROR(cursor->Del());
      ++removed;
      ++next;
    }
    if (!got.ok() && got.code() != Code::kNotFound) return got;
    if (removed == 0) return OkStatus();
    stats_.removed += removed;
  }
  CQRS_RETURN_IF_ERROR(
      txn.Put(log_.dbs().meta, store::kMetaFirstSeq, store::U64Value(next).view()));
  fault::MaybeCrash(fault::Point::kCrashInRetention);
  CQRS_RETURN_IF_ERROR(txn.Commit());
  ++stats_.steps;
  stats_.first_seq = next;
  return OkStatus();
}

}  // namespace cqrs::writer
