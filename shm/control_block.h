// ControlBlock: attaching to a data directory's shared-memory control block
// (control_block_format.h): seqs, per-process heartbeats and counters that `cqrs up` and
// `cqrs stats` read, without locks.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "shm/control_block_format.h"
#include "shm/hot_cache.h"

namespace cqrs::shm {

// Move-only; unmaps on destruction (the segment stays for the next process). Words are atomics
// with one writer each: any thread may read; a process writes only its own slot's words.
class ControlBlock {
 public:
  // Opens the segment of `data_dir`, creating it with `cache_slots` hot-cache slots (a power of
  // 2, or 0: none) if absent; an existing segment keeps the slot count it was created with.
  // Another layout version has another name (both may exist; neither touches the other). A
  // segment whose creator died before finishing its layout is removed and created anew, by
  // whichever process finds it first. Unavailable if shared memory cannot be used.
  static Result<ControlBlock> Attach(const std::string& data_dir, std::uint32_t cache_slots);
  // Attach, then Claim(`slot`), for a process that runs without the segment if it must (a
  // mirror, a replica, a sink): nullopt after a warning that `cqrs stats` will not show it.
  static std::optional<ControlBlock> AttachAndClaim(const std::string& data_dir,
                                                    std::uint32_t cache_slots, int slot);

  // The segment name for a data directory: "cqrs-" + 16 hex digits of its absolute path's hash
  // + "-v" + the layout version.
  static std::string SegmentName(const std::string& data_dir);
  // Whether the segment of `data_dir` exists (without creating it).
  static bool Exists(const std::string& data_dir);
  // Removes the segment (tests, and operators resetting counters).
  static void Remove(const std::string& data_dir);

  ControlBlock(ControlBlock&&) noexcept;
  ControlBlock& operator=(ControlBlock&&) noexcept;
  ~ControlBlock();

  ControlBlockLayout& layout() const { return *layout_; }
  Seqs& seqs() const { return layout_->seqs; }
  ProcessSlot& slot(int index) const { return layout_->slots[index]; }
  // The access ring of reader `index` (0-based: role slot kFirstReaderSlot + index).
  AccessRing& ring(int reader_index) const { return layout_->rings[reader_index]; }
  const HotCache& cache() const { return cache_; }
  HotCache& cache() { return cache_; }

  // Claims `index` for this process: sets pid, start and heartbeat (a restarted process keeps
  // the counters of its slot).
  void Claim(int index) const;
  // Refreshes this process's heartbeat in `index`.
  void Beat(int index) const;
  // Whether slot `index` has beaten within the last `within_ns` (wall clock, read coarsely: a few
  // ms of error, cheap enough for every query).
  bool BeatWithin(int index, std::uint64_t within_ns) const;

  // Whether the segment's name still refers to this mapping: false once it was removed (a clean
  // stop of the last process, `cqrs stats --remove`) or replaced (another process judged its
  // creator dead and laid out a new one), when this process would be alone on an orphan that
  // no other process sees. Looks at most every 100 ms (coarse clock; two syscalls), answering
  // from the last look in between; thread-compatible.
  bool StillNamed() const;
  // StillNamed for a server's heartbeat: throws std::runtime_error (the server's main logs it
  // and exits non-zero, and `cqrs up` restarts it onto the live segment) when orphaned.
  void ExitIfOrphaned() const;
  // For a clean stop: removes the segment's name when no other process recorded in a slot is
  // alive (its pid exists; a process that attached but has not claimed a slot yet is not seen,
  // and finds itself orphaned by StillNamed). True if removed. The mapping stays valid.
  bool RemoveIfUnused() const;

 private:
  struct Mapping;
  explicit ControlBlock(std::unique_ptr<Mapping> mapping);
  std::unique_ptr<Mapping> mapping_;
  ControlBlockLayout* layout_ = nullptr;
  HotCache cache_;
};

}  // namespace cqrs::shm
