// Group commit of a batch of requests.
#include "writer/batch_committer.h"

#include <sys/statvfs.h>

#include "base/clock.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/status.h"
#include "wire/command_codec.h"
#include "writer/state_recovery.h"

namespace cqrs::writer {
namespace {

// Free space below which a failed commit is reported as a full disk.
constexpr std::uint64_t kDiskFullBytes = 4u << 20;

}  // namespace

BatchCommitter::BatchCommitter(store::WriteStore& log, store::StateStore& state,
                               const Limits& limits, Authorizer& authorizer)
    : log_(log),
      state_(state),
      authorizer_(authorizer),
      decoder_(limits),
      applier_(log, state, limits) {
  auto txn = store::Txn::BeginRead(log_.env());
  CQRS_CHECK_MSG(txn.ok(), "{}", txn.status().ToString());
  auto last = log_.LastSeq(txn.value());
  CQRS_CHECK_MSG(last.ok(), "{}", last.status().ToString());
  committed_seq_ = last.value();
}

BatchCommitter::~BatchCommitter() { CommitState(); }

void BatchCommitter::CommitState() {
  if (!state_txn_.active()) return;
  fault::MaybeCrash(fault::Point::kCrashBeforeState);
  Status s = state_txn_.Commit();
  if (s.ok()) return;
  // The log holds the batch: the state is a cache of it, replayed before the next batch.
  state_behind_ = true;
  spdlog::error(
      "entity state commit failed behind the committed log (seq {}): {}; the log is "
      "replayed into it before the next batch",
      committed_seq_, s.ToString());
}

Status BatchCommitter::CatchUp() {
  auto caught = CatchUpState(log_, state_, 10000, /*progress=*/false);
  if (!caught.ok()) return caught.status();
  state_behind_ = false;
  spdlog::info("entity state caught up: {} events replayed from the log", caught->events);
  return OkStatus();
}

Status BatchCommitter::GrowFuller() {
  const double log_used = log_.env().used_fraction();
  const double state_used = state_.env().used_fraction();
  return log_used >= state_used ? log_.Grow() : state_.Grow();
}

void BatchCommitter::Refuse(BatchItem& item, Code code, std::string_view message,
                            int failed_index) {
  wire::BuildCommandReply(fbb_, item.decoded.request_id, code, message, failed_index, 0, {});
  item.reply.assign(fbb_.GetBufferPointer(), fbb_.GetBufferPointer() + fbb_.GetSize());
  item.status = code;
  item.applied = false;
}

std::uint64_t BatchCommitter::Commit(std::span<BatchItem*> items) {
  CommitState();
  ++stats_.batches;
  stats_.requests += items.size();
  std::size_t to_apply = 0;
  for (BatchItem* item : items) {
    item->applied = false;
    item->decoded = wire::DecodedCommandRequest();
    if (!item->refusal.ok()) {
      Refuse(*item, item->refusal.code(), item->refusal.message(), -1);
      continue;
    }
    item->decoded = decoder_.Decode(item->frame);
    const wire::DecodedCommandRequest& d = item->decoded;
    // Garbage, or a client_id we cannot sequence: answered here, remembered nowhere.
    bool sequenced = d.root != nullptr && d.root->client_id() && d.root->client_id()->size() > 0;
    if (d.root == nullptr || (!d.status.ok() && !sequenced)) {
      Refuse(*item, d.status.code(), d.status.message(), d.failed_index);
      continue;
    }
    item->tenant = {};
    item->principal = {};
    Status auth = authorizer_.Authorize(item->identity, *d.root, &item->tenant, &item->principal);
    if (!auth.ok() && (item->tenant.empty() || !sequenced)) {
      Refuse(*item, auth.code(), auth.message(), -1);
      continue;
    }
    // A refusal of a sequenced request goes through the transaction: it is checked for order
    // and remembered, so the client's next id follows it.
    item->content_refusal = !d.status.ok() ? d.status : auth;
    item->failed_index = !d.status.ok() ? d.failed_index : -1;
    item->applied = true;
    ++to_apply;
  }
  stats_.refused_before_apply += items.size() - to_apply;
  if (to_apply == 0) return committed_seq_;

  std::uint64_t timestamp_ns = WallNs();
  for (;;) {
    Status s = state_behind_ ? CatchUp() : OkStatus();
    if (s.ok()) s = RunTransaction(items, timestamp_ns);
    if (s.ok()) {
      committed_seq_ = applier_.last_seq();
      fault::MaybeCrash(fault::Point::kCrashAfterCommit);
#ifdef CQRS_MISTAKE_IDEMPOTENCY_SEPARATE_TXN
      if (Status d = applier_.CommitDeferred(); !d.ok()) spdlog::error("{}", d.ToString());
#endif
      return committed_seq_;
    }
    if (store::IsMapFull(s)) {
      state_txn_.Abort();
      Status grown = GrowFuller();
      if (grown.ok()) {
        ++stats_.map_grows;
        spdlog::info("write store maps now {} MiB (log) and {} MiB (state) after {}",
                     log_.env().map_size() >> 20, state_.env().map_size() >> 20, s.message());
        continue;
      }
      s = Status(Code::kResourceExhausted,
                 fmt::format("write store is full: {}; retry later", grown.message()));
    }
    if (s.code() != Code::kResourceExhausted) {
      // A full disk often surfaces as EIO (a short write): say so when the disk is (nearly) full.
      struct statvfs fs;
      if (statvfs(log_.env().dir().c_str(), &fs) == 0 &&
          static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize < kDiskFullBytes)
        s = Status(Code::kResourceExhausted,
                   fmt::format("disk full: {} bytes free under {} ({}); retry later",
                               static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize,
                               log_.env().dir(), s.message()));
    }
    ++stats_.failed_commits;
    spdlog::error("batch of {} requests not committed: {}", to_apply, s.ToString());
    // Nothing was committed: every applied item gets a retryable reply, remembered nowhere.
    Code code =
        s.code() == Code::kResourceExhausted ? Code::kResourceExhausted : Code::kUnavailable;
    for (BatchItem* item : items) {
      if (item->applied) Refuse(*item, code, s.message(), -1);
    }
    return committed_seq_;
  }
}

Status BatchCommitter::RunTransaction(std::span<BatchItem*> items, std::uint64_t timestamp_ns) {
  auto state_begun = store::Txn::BeginWrite(state_.env());
  if (!state_begun.ok()) return state_begun.status();
  store::Txn state = std::move(state_begun).value();
  auto begun = store::Txn::BeginWrite(log_.env());
  if (!begun.ok()) return begun.status();
  store::Txn log = std::move(begun).value();
  CQRS_RETURN_IF_ERROR(applier_.BeginBatch(log));
  for (BatchItem* item : items) {
    if (!item->applied) continue;
    CQRS_RETURN_IF_ERROR(applier_.Apply(log, state, *item->decoded.root, item->tenant,
                                        item->principal, item->content_refusal, item->failed_index,
                                        timestamp_ns, &item->reply, &item->status));
  }
  CQRS_RETURN_IF_ERROR(applier_.EndBatch(log, state));
#ifdef CQRS_MISTAKE_ACK_BEFORE_COMMIT
  if (before_commit) before_commit(items);
#endif
  fault::MaybeCrash(fault::Point::kCrashBeforeCommit);
  // The durability point: the log alone (fsynced in sync mode). The state follows it.
  CQRS_RETURN_IF_ERROR(log.Commit());
  state_txn_ = std::move(state);
  return OkStatus();
}

}  // namespace cqrs::writer
