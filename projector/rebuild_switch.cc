// The rebuild switch: a new read store built beside the live one in a background thread, caught
// up with the log, then exchanged with <data>/read between two batches of the live loop.
#include "projector/rebuild_switch.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "base/clock.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/status.h"

namespace cqrs::projector {
namespace {

// Swaps two directory entries atomically (renameat2 RENAME_EXCHANGE, Linux 3.15+, ext4, xfs,
// tmpfs): a reader opening the path sees the old store or the new one, never neither.
Status ExchangePaths(const std::string& a, const std::string& b) {
  if (syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0)
    return OkStatus();
  return Error(Code::kInternal, "renameat2({}, {}, RENAME_EXCHANGE): {}", a, b,
               std::strerror(errno));
}

}  // namespace

void ProjectorServer::MaybeStartRebuild() {
  if (rebuild_ || !control_ || !serve_) return;
  const std::uint64_t requests = control_->seqs().rebuild_requests.load(std::memory_order_acquire);
  const std::uint64_t served = control_->seqs().rebuilds_done.load(std::memory_order_acquire);
  if (requests <= served && !models_changed_) return;
  if (Status s = StartRebuild(std::max(requests, served)); !s.ok())
    spdlog::error("cannot start a rebuild: {}", s.ToString());
}

Status ProjectorServer::StartRebuild(std::uint64_t serves_request) {
  CQRS_RETURN_IF_ERROR(store::RenewSnapshot(write_->env(), &log_snapshot_));
  auto last = write_->LastSeq(log_snapshot_);
  log_snapshot_.Reset();
  if (!last.ok()) return last.status();
  rebuild_ = std::make_unique<Rebuild>();
  rebuild_->serves_request = serves_request;
  rebuild_->started_ns = WallNs();
  shm::Seqs& seqs = control_->seqs();
  seqs.rebuild_started_ns.store(rebuild_->started_ns, std::memory_order_relaxed);
  seqs.rebuild_applied_seq.store(0, std::memory_order_relaxed);
  seqs.rebuild_target_seq.store(std::max<std::uint64_t>(last.value(), 1),
                                std::memory_order_release);
  spdlog::info("rebuilding the read store from the log ({} events) in {}.rebuild", last.value(),
               read_dir_);
  Rebuild* r = rebuild_.get();
  // Everything that touches the disk runs in the thread: creating the new store fsyncs its
  // guard file, which on a busy ext4 can wait for the journal for seconds, and the main loop
  // must keep applying and beating meanwhile.
  r->thread = std::thread([this, r, target_seq = last.value()] {
    auto target = CreateRebuildTarget(read_dir_ + ".rebuild", config_, write_->store_id());
    if (!target.ok()) {
      r->status = target.status();
    } else {
      r->target = std::move(target).value();
      auto built = BuildRebuildTarget(*write_, r->target, config_.collections, target_seq,
                                      r->cancel, [this](std::uint64_t seq) {
                                        control_->seqs().rebuild_applied_seq.store(
                                            seq, std::memory_order_relaxed);
                                      });
      r->status = built.status();
    }
    r->done.store(true, std::memory_order_release);
  });
  return OkStatus();
}

Status ProjectorServer::FinishRebuild() {
  std::unique_ptr<Rebuild> r = std::move(rebuild_);
  r->thread.join();
  CQRS_RETURN_IF_ERROR(r->status);
  // Bring the new store up to the live one (it may already be ahead), so that switching never
  // takes a reader's seq back.
  std::atomic<bool> no_cancel{false};
  auto tail = ApplyLog(*write_, *r->target.store, *r->target.applier, applied_seq_,
                       kRebuildEventsPerTxn, no_cancel, {});
  if (!tail.ok()) return tail.status();
  const std::uint64_t events = r->target.applier->checkpoint().applied_seq;
  // Close both without syncing (the old one is removed later; the new one is reopened at once,
  // its unsynced guard of this boot kept: a machine crash still rebuilds it, and with
  // sync_read_store the reopen syncs it), swap the directories, reopen.
  replay_.ForgetReadStore();
  r->target.applier.reset();
  r->target.store->LeaveUnsynced();
  r->target.store.reset();
  applier_.reset();
  read_->LeaveUnsynced();
  read_.reset();
  CQRS_RETURN_IF_ERROR(ExchangePaths(r->target.dir, read_dir_));
  fault::MaybeCrash(fault::Point::kSwitchAfterExchange);
  const std::uint64_t generation =
      control_->seqs().read_generation.load(std::memory_order_acquire) + 1;
  const std::string old_dir = fmt::format("{}.old.{}", read_dir_, generation);
  std::error_code ec;
  std::filesystem::rename(r->target.dir, old_dir, ec);
  if (ec) spdlog::warn("cannot rename {} to {}: {}", r->target.dir, old_dir, ec.message());
  CQRS_RETURN_IF_ERROR(OpenLiveStore(read_dir_));
  auto txn = store::Txn::BeginRead(read_->env());
  if (!txn.ok()) return txn.status();
  auto checkpoint = read_->ReadCheckpoint(txn.value());
  if (!checkpoint.ok()) return checkpoint.status();
  applied_seq_ = checkpoint->applied_seq;
  txn->Abort();
  ClearCache();  // the new store may be ahead of what the cache was written from
  shm::Seqs& seqs = control_->seqs();
  seqs.projector_applied_seq.store(applied_seq_, std::memory_order_release);
  fault::MaybeCrash(fault::Point::kSwitchBeforeGeneration);
  seqs.read_generation.store(generation, std::memory_order_release);
  seqs.rebuild_target_seq.store(0, std::memory_order_relaxed);
  seqs.rebuilds_done.store(r->serves_request, std::memory_order_release);
  PublishTick();  // readers wake, see the generation and reopen
  spdlog::info(
      "switched to the rebuilt read store (generation {}, {} events, {:.1f} s); the old "
      "one is {} until its last reader leaves",
      generation, events, static_cast<double>(WallNs() - r->started_ns) / 1e9, old_dir);
  return OkStatus();
}

void ProjectorServer::RemoveOldStores() {
  const std::filesystem::path read(read_dir_);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(read.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    // Old stores, and a rebuild's directory left by a projector that died before switching.
    const bool abandoned = !rebuild_ && name == read.filename().string() + ".rebuild";
    if (!name.starts_with(read.filename().string() + ".old.") && !abandoned) continue;
    int live = 0;
    {
      store::EnvOptions o;
      o.dir = entry.path().string();
      o.map_size = 0;
      auto env = store::LmdbEnv::Open(o);
      if (!env.ok()) continue;
      auto readers = env->LiveReaders();
      if (!readers.ok()) continue;
      live = readers.value();
    }
    if (live > 0) continue;
    std::filesystem::remove_all(entry.path(), ec);
    if (ec)
      spdlog::warn("cannot remove {}: {}", entry.path().string(), ec.message());
    else
      spdlog::info("removed the old read store {}: no reader uses it any more", name);
  }
}

}  // namespace cqrs::projector
