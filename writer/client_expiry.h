// ClientSweeper: removes the idempotency records of clients idle longer than
// `[writer] client_expiry_s`, in small steps on the writer thread between batches, so that
// one-shot clients (every CLI call, every short-lived Client) do not grow the log for ever.
// A client_id whose records are gone is a new client: its next request may carry any id.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "store/write_store.h"

namespace cqrs::writer {

struct SweepStats {
  std::uint64_t examined = 0;  // client records looked at
  std::uint64_t expired = 0;   // clients removed (with their remembered replies)
  std::uint64_t passes = 0;    // complete passes over the clients
};

// Not thread-safe: the writer thread, between batches (it begins its own write transaction).
class ClientSweeper {
 public:
  ClientSweeper(store::WriteStore& log, std::uint64_t expiry_ns)
      : log_(log), expiry_ns_(expiry_ns) {}

  // Looks at up to `max_clients` client records after where the last step stopped, and removes
  // those last used before now_ns - expiry with their replies (committed, fsynced in sync mode,
  // only when something was removed). Sets `*pass_done` when the step reached the last record
  // (the next step starts again at the first).
  Status Step(std::uint64_t now_ns, std::size_t max_clients, bool* pass_done);

  const SweepStats& stats() const { return stats_; }

 private:
  store::WriteStore& log_;
  std::uint64_t expiry_ns_;
  std::string resume_;  // the first client key of the next step ("" = from the start)
  std::vector<std::string> doomed_;
  std::vector<std::string> replies_;
  SweepStats stats_;
};

}  // namespace cqrs::writer
