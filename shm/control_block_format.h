// Layout of the shared-memory segment: one Boost.Interprocess segment per data directory, laid
// out once at creation. Every word is a std::atomic with exactly one writing process, so nothing
// here locks and nothing is allocated after start-up (Boost 1.74 has no robust mutexes:
// docs/DEPENDENCY_FACTS.md fact 9). A change of layout bumps kControlBlockVersion.
//
//   offset        size             what
//   0             64               Header: magic (written last, release), version, cache slot
//                                  count, segment size, creator pid and start (ns since epoch),
//                                  generation (random, new with each creation), cache offset and
//                                  slot size
//   64            128              Seqs: writer committed seq, projector applied seq, read-store
//                                  generation, rebuild progress, projector lag, the seq the
//                                  mirror published to NATS JetStream (one writer each)
//   192           320 x 64         ProcessSlot[kMaxSlots]: pid, started_ns, heartbeat_ns,
//                                  counters[15], latency buckets[16]; slot i is written only by
//                                  the process that owns role slot i
//   20672         131200 x 56      AccessRing[kMaxReaders]: the Gets each reader reports to the
//                                  projector (its misses, a sample of its hits) so that it fills
//                                  and keeps the keys read most; one per reader (shm/access_ring.h)
//   7367872       512 x slots      the hot cache (shm/hot_cache.h), written only by the projector
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace cqrs::shm {

inline constexpr std::uint64_t kControlBlockMagic = 0x314c5443'53525143ull;  // "CQRSCTL1"
inline constexpr std::uint32_t kControlBlockVersion = 6;
inline constexpr int kMaxSlots = 64;
inline constexpr int kCounters = 15;
// Latency histogram of a process's replies: bucket b counts replies that took [2^b, 2^(b+1)) µs
// (bucket 0 also below 1 µs, the last one everything above).
inline constexpr int kLatencyBuckets = 16;

// A projector whose heartbeat is older than this is taken for stopped: the hot cache, which
// only it keeps current, is not used.
inline constexpr std::uint64_t kProjectorStaleNs = 1'000'000'000;

// Fixed slots: no allocation, no race for a slot.
inline constexpr int kWriterSlot = 0;
inline constexpr int kProjectorSlot = 1;
inline constexpr int kSupervisorSlot = 2;
inline constexpr int kMirrorSlot = 3;
inline constexpr int kPgSinkSlot = 4;
inline constexpr int kFirstReaderSlot = 8;
inline constexpr int kMaxReaders = kMaxSlots - kFirstReaderSlot;

// Counter indices within a slot (meaning by role).
enum Counter : int {
  kRequests = 0,       // writer: requests answered; reader: queries answered
  kRequestErrors = 1,  // writer/reader: replies with a status other than Ok
  // writer: transactions; projector: read-store transactions; reader: snapshots; mirror: messages
  kBatches = 2,
  kEventsApplied = 3,         // projector
  kEventsPublished = 4,       // projector; mirror: events published to the stream
  kReplayRequests = 5,        // projector
  kWaited = 6,                // reader: queries that waited for min_seq
  kDeadlineExceeded = 7,      // reader
  kRepliesDropped = 8,        // writer/reader: the peer was gone
  kRestarts = 9,              // supervisor: children restarted
  kCacheHits = 10,            // reader: Gets answered from the hot cache
  kCacheMisses = 11,          // reader: Gets the cache could not answer (absent, busy, too new)
  kCacheWrites = 12,          // projector: cache slots written or cleared
  kCacheFills = 13,           // projector: slots filled from the read store for reported misses
  kCacheReportsDropped = 14,  // reader: accesses not reported, its access ring being full
};

// The latency bucket of a duration in ns.
constexpr int LatencyBucket(std::uint64_t ns) {
  std::uint64_t us = ns / 1000;
  int b = 0;
  while (us > 1 && b < kLatencyBuckets - 1) {
    us >>= 1;
    ++b;
  }
  return b;
}

using AtomicU64 = std::atomic<std::uint64_t>;
static_assert(AtomicU64::is_always_lock_free, "shared-memory words must be lock-free");

struct alignas(64) Header {
  AtomicU64 magic;
  std::uint32_t version;
  std::uint32_t cache_slots;  // a power of 2, or 0: no cache
  std::uint64_t size;         // of the whole segment
  std::uint64_t creator_pid;
  std::uint64_t creator_start_ns;
  std::uint64_t generation;  // random: tells one creation of the segment from another
  std::uint64_t cache_offset;
  std::uint32_t cache_slot_bytes;
  std::uint32_t reserved;
};

struct alignas(64) Seqs {
  AtomicU64 writer_committed_seq;
  AtomicU64 projector_applied_seq;
  // The read store's generation: bumped by the projector right after it switched <data>/read to
  // a rebuilt store; readers reopen <data>/read between snapshots when it changes.
  AtomicU64 read_generation;
  // Rebuild: `cqrs rebuild` increments rebuild_requests; the projector answers each by a rebuild
  // (several pending requests are served by one) and reports its progress.
  AtomicU64 rebuild_requests;
  AtomicU64 rebuild_target_seq;   // the log end the current rebuild aims at (0: none running)
  AtomicU64 rebuild_applied_seq;  // how far the current rebuild has applied the log
  AtomicU64 rebuild_started_ns;   // wall clock
  AtomicU64 rebuilds_done;        // rebuilds switched to
  // Wall-clock ns from the writer's commit of the projector's last applied event (its
  // timestamp) to the projector publishing it: the command-to-applied lag of the last batch.
  AtomicU64 projector_lag_ns;
  // The last event seq cqrs-mirror has in the NATS JetStream stream (acknowledged by it): the
  // mirror's lag is writer_committed_seq less this.
  AtomicU64 mirror_published_seq;
  // The last event seq cqrs-pgsink has committed to PostgreSQL (its checkpoint), and the
  // events it parked in cqrs_rejected (all of its sink name's, counted at its start).
  AtomicU64 pgsink_applied_seq;
  AtomicU64 pgsink_rejected;
};

struct alignas(64) ProcessSlot {
  AtomicU64 pid;           // 0: never used
  AtomicU64 started_ns;    // wall clock
  AtomicU64 heartbeat_ns;  // wall clock, refreshed at least every 100 ms while alive
  AtomicU64 counters[kCounters];
  AtomicU64 latency[kLatencyBuckets];
};

// The Gets one reader reports to the projector, a single-producer single-consumer ring: the
// reader writes entries [consumed, consumed + kAccessRingEntries) and publishes them by
// `produced` (release); the projector reads up to `produced` (acquire) and frees them by
// `consumed` (release). Lossy: a reader whose ring is full drops the report. An entry is a miss
// (key_bytes > 0: the cache key's bytes follow) or a sampled hit (key_bytes == 0: the hash
// stands for kAccessHitSample hits of that key).
inline constexpr std::uint32_t kAccessRingEntries = 1024;  // a power of 2
inline constexpr std::uint32_t kAccessKeyWords = 14;
inline constexpr std::uint32_t kAccessKeyBytes = kAccessKeyWords * 8;
inline constexpr std::uint32_t kAccessHitSample = 8;

struct alignas(64) AccessEntry {
  AtomicU64 hash;
  AtomicU64 key_bytes;
  AtomicU64 key[kAccessKeyWords];
};

struct AccessRing {
  alignas(64) AtomicU64 produced;  // written by the reader
  alignas(64) AtomicU64 consumed;  // written by the projector
  AccessEntry entries[kAccessRingEntries];
};

struct ControlBlockLayout {
  Header header;
  Seqs seqs;
  ProcessSlot slots[kMaxSlots];
  AccessRing rings[kMaxReaders];
};

static_assert(sizeof(Header) == 64);
static_assert(sizeof(Seqs) == 128);
static_assert(sizeof(ProcessSlot) == 320);
static_assert(offsetof(ControlBlockLayout, slots) == 192);
static_assert(sizeof(AccessEntry) == 128);
static_assert(sizeof(AccessRing) == 131200);
static_assert(offsetof(ControlBlockLayout, rings) == 20672);
static_assert(sizeof(ControlBlockLayout) == 7367872);

}  // namespace cqrs::shm
