// Fault points for the fault suite (tests/faults): places where a test can make a process die or
// drop a reply at a chosen moment. Armed only by the environment variable CQRS_FAULTS, e.g.
//   CQRS_FAULTS="crash_before_commit=0.01,crash_after_commit=0.01,drop_reply=0.05"
// (each point's probability per occurrence). Unarmed, Fire() is one predictable branch.
#pragma once

#include <string>

#include "base/status.h"

namespace cqrs::fault {

enum class Point : int {
  kCrashBeforeCommit,    // writer: the batch applied, its transaction not yet committed
  kCrashAfterCommit,     // writer: the batch's log committed, no reply sent yet
  kCrashBeforeState,     // writer: the log committed and replies sent, the state not committed
  kDropReply,            // writer: a reply is not sent (as if the network lost it)
  kNoZapHandler,         // any secured server: starts without its ZAP handler (self-test stops it)
  kSwitchAfterExchange,  // projector: <data>/read exchanged with the rebuilt store, nothing more
  kSwitchBeforeGeneration,  // projector: the new store open and live, the generation not bumped
  kShmSlowLayout,      // any process creating the shm segment: 1 s between layout and publication
  kCrashInCatchUp,     // writer: between two transactions of replaying the log into its state
  kCrashInCheckpoint,  // writer: a state checkpoint copied but not renamed, or half renamed
  kSinkCrashBeforeCommit,  // cqrs-pgsink: a batch's statements sent, its COMMIT not
  kSinkCrashAfterCommit,   // cqrs-pgsink: a batch committed, not yet taken as the checkpoint
  kCrashInRetention,       // writer: a retention step's events removed, not yet committed
  kCount,
};

// Reads CQRS_FAULTS once. InvalidArgument naming the entry for an unknown point or a
// probability outside [0, 1]. Returns a description of what is armed ("" when nothing).
Result<std::string> ArmFromEnvironment();
// ArmFromEnvironment for a process's main: logs what is armed (a warning); on a bad entry prints
// "<program>: <message>" to stderr and returns false (exit 2).
bool ArmFromEnvironmentOrReport(const char* program);

namespace internal {
extern bool armed;
bool Draw(Point p);
}  // namespace internal

// True with the point's probability (never when unarmed).
inline bool Fire(Point p) { return internal::armed && internal::Draw(p); }

// SIGKILLs this process when Fire(p): a kill -9 at exactly this point.
void MaybeCrash(Point p);

}  // namespace cqrs::fault
