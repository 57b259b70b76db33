// Bringing the writer's entity state up to the event log: on start (after a crash, a restart,
// or a state discarded after a machine restart), and after a state commit that failed behind a
// committed log. Events after state_seq are applied with store::EventRecord, the function the
// projector and the rebuild use, so replayed state is byte-identical to state built live.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "store/state_store.h"
#include "store/write_store.h"

namespace cqrs::writer {

struct CatchUpResult {
  std::uint64_t from_seq = 0;  // state_seq found
  std::uint64_t to_seq = 0;    // the log's last seq, now state_seq
  std::uint64_t events = 0;    // events applied
};

// Applies every event after the state's state_seq, in state transactions of at most
// `events_per_txn` events, growing the state map when full. A state ahead of the log (its events
// were never committed to the log, or the log was replaced) is emptied and replayed from seq 1.
// Logs a progress line every 2 s when `progress`. The writer thread only: no transaction of the
// process may be open on the state.
Result<CatchUpResult> CatchUpState(store::WriteStore& log, store::StateStore& state,
                                   std::uint64_t events_per_txn = 10000, bool progress = true);

}  // namespace cqrs::writer
