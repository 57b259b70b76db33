// Replaying the event log into the writer's entity state.
#include "writer/state_recovery.h"

#include <string>
#include <vector>

#include "base/clock.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/status.h"
#include "store/event_record.h"
#include "store/key_format.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"
#include "wire/validate.h"
#include "wire/value_codec.h"

namespace cqrs::writer {
namespace {

using wire::AsView;

// One state transaction: the events (from, to] of the log snapshot `snapshot`. Returns the last
// seq applied.
class Replayer {
 public:
  Replayer(store::WriteStore& log, store::StateStore& state) : log_(log), state_(state) {}

  Status Run(const store::Txn& snapshot, std::uint64_t from, std::uint64_t to) {
    auto begun = store::Txn::BeginWrite(state_.env());
    if (!begun.ok()) return begun.status();
    store::Txn txn = std::move(begun).value();
    // A state older than the log's first seq (an old checkpoint restored after retention went
    // past it) cannot be caught up from this log.
    CQRS_RETURN_IF_ERROR(log_.CheckFrom(snapshot, from + 1));
    auto cursor = store::Cursor::Open(snapshot, log_.dbs().events);
    if (!cursor.ok()) return cursor.status();
    const store::KeyBuffer start = store::SeqKey(from + 1);
    std::string_view k = start.view(), v;
    std::uint64_t expected = from + 1;
    for (Status got = cursor->Get(MDB_SET_RANGE, &k, &v); expected <= to;
         got = cursor->Get(MDB_NEXT, &k, &v), ++expected) {
      if (got.code() == Code::kNotFound)
        return Error(Code::kInternal, "event log ends before seq {}", expected);
      CQRS_RETURN_IF_ERROR(got);
      if (k.size() != 8 || store::DecodeSeqKey(k) != expected)
        return Error(Code::kInternal, "event log has a gap: seq {} expected", expected);
      buffer_.Assign(v.data(), v.size());  // values are not 8-byte aligned
      const fb::Event* e = nullptr;
      CQRS_RETURN_IF_ERROR(wire::VerifyEvent(buffer_.span(), &e));
      std::uint32_t ns = 0;
      CQRS_RETURN_IF_ERROR(Namespace(snapshot, AsView(e->tenant()), AsView(e->collection()), &ns));
      CQRS_RETURN_IF_ERROR(txn.Put(state_.dbs().entities,
                                   store::EntityKey(ns, AsView(e->key())).view(),
                                   store::EventRecord(*e, &fields_, &record_)));
    }
    *cursor = store::Cursor();
    CQRS_RETURN_IF_ERROR(state_.SetStateSeq(txn, to));
    return txn.Commit();
  }

 private:
  Status Namespace(const store::Txn& snapshot, std::string_view tenant, std::string_view collection,
                   std::uint32_t* ns) {
    if (tenant == tenant_ && collection == collection_ && ns_ != 0) {
      *ns = ns_;
      return OkStatus();
    }
    Status s = log_.namespaces().Lookup(snapshot, tenant, collection, ns);
    if (s.code() == Code::kNotFound)
      return Error(Code::kInternal, "event log names no namespace for tenant {} collection {}",
                   wire::Quoted(tenant), wire::Quoted(collection));
    CQRS_RETURN_IF_ERROR(s);
    tenant_.assign(tenant);
    collection_.assign(collection);
    ns_ = *ns;
    return OkStatus();
  }

  store::WriteStore& log_;
  store::StateStore& state_;
  wire::AlignedBuffer buffer_;
  std::vector<FieldView> fields_;
  store::RecordBuilder record_;
  std::string tenant_, collection_;
  std::uint32_t ns_ = 0;
};

Result<std::uint64_t> ReadStateSeq(store::StateStore& state) {
  auto txn = store::Txn::BeginRead(state.env());
  if (!txn.ok()) return txn.status();
  return state.StateSeq(txn.value());
}

// Empties the entities and sets state_seq 0.
Status ClearState(store::StateStore& state) {
  auto begun = store::Txn::BeginWrite(state.env());
  if (!begun.ok()) return begun.status();
  store::Txn txn = std::move(begun).value();
  int rc = mdb_drop(txn.get(), state.dbs().entities.handle, 0);
  if (rc != 0) return store::LmdbError("mdb_drop(entities)", rc);
  CQRS_RETURN_IF_ERROR(state.SetStateSeq(txn, 0));
  return txn.Commit();
}

}  // namespace

Result<CatchUpResult> CatchUpState(store::WriteStore& log, store::StateStore& state,
                                   std::uint64_t events_per_txn, bool progress) {
  CatchUpResult result;
  auto found = ReadStateSeq(state);
  if (!found.ok()) return found.status();
  result.from_seq = found.value();
  auto snapshot = store::Txn::BeginRead(log.env());
  if (!snapshot.ok()) return snapshot.status();
  auto last = log.LastSeq(snapshot.value());
  if (!last.ok()) return last.status();
  result.to_seq = last.value();
  std::uint64_t seq = result.from_seq;
  if (seq > result.to_seq) {
    spdlog::warn(
        "entity state {} is at seq {}, past the event log's last seq {}: it is emptied "
        "and replayed from the log",
        state.dir(), seq, result.to_seq);
    CQRS_RETURN_IF_ERROR(ClearState(state));
    seq = 0;
  }
  if (seq == result.to_seq) return result;
  if (progress)
    spdlog::info("entity state at seq {}: applying events {}..{} of the log", seq, seq + 1,
                 result.to_seq);
  Replayer replayer(log, state);
  const std::uint64_t started = MonoNs();
  std::uint64_t last_report = started;
  while (seq < result.to_seq) {
    const std::uint64_t to = std::min(result.to_seq, seq + events_per_txn);
    Status s = replayer.Run(snapshot.value(), seq, to);
    if (store::IsMapFull(s)) {
      CQRS_RETURN_IF_ERROR(state.Grow());
      continue;
    }
    CQRS_RETURN_IF_ERROR(s);
    result.events += to - seq;
    seq = to;
    fault::MaybeCrash(fault::Point::kCrashInCatchUp);
    if (progress && MonoNs() - last_report > 2'000'000'000ull) {
      last_report = MonoNs();
      spdlog::info(
          "entity state: {} of {} events applied ({:.0f}/s)", result.events,
          result.to_seq - result.from_seq,
          static_cast<double>(result.events) * 1e9 / static_cast<double>(last_report - started));
    }
  }
  if (progress)
    spdlog::info("entity state caught up with the log at seq {}: {} events in {:.2f} s", seq,
                 result.events, static_cast<double>(MonoNs() - started) / 1e9);
  return result;
}

}  // namespace cqrs::writer
