// The fault suite's load client and its judge (RELIABILITY.md, "What nothing lost means").
//
// A HistoryClient is one connection with its own client_id: a pipelined DEALER (or a REQ, one
// request at a time) that does not use cqrs::Client, so the library's retry logic is under test
// rather than trusted. It records every command as ok(seq), definite failure (its code) or still
// pending, and whether any attempt was indeterminate (no reply in time: the socket is replaced
// and every unanswered request resent with the same id). After a retryable reply
// (ResourceExhausted, Unavailable) or OutOfOrder it backs off, probes with the oldest unanswered
// request alone, and once that is admitted resends the rest in id order, under a congestion
// window (halved by a refusal, one more per Ok) so that it does not flood a writer that sheds.
//
// CheckHistories compares the histories with the write store's event log once the writer is
// stopped: 0 lost, 0 phantom, 0 duplicated, 0 reordered, each replied seq the event's seq.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/status.h"
#include "wire/value_codec.h"

namespace cqrs::faults {

enum class Outcome : std::uint8_t { kPending, kOk, kFailed };

struct Record {
  Outcome outcome = Outcome::kPending;
  Code code = Code::kOk;  // the definite failure's
  std::uint64_t seq = 0;  // ok: the reply's seq
  bool indeterminate = false;
  bool conflicting = false;  // two replies for this request disagreed
  std::uint32_t attempts = 0;
};

struct HistoryOptions {
  std::string endpoint;
  std::string client_id;
  bool req_socket = false;  // REQ: one request in flight, a fresh socket after a timeout
  std::uint32_t window = 32;
  std::chrono::milliseconds attempt_timeout{500};
};

struct HistoryCounts {
  std::uint64_t commands = 0, acked = 0, failed = 0, pending = 0;
  std::uint64_t indeterminate = 0;  // commands with at least one unanswered attempt
  std::uint64_t retryable = 0, out_of_order = 0, reconnects = 0, resent = 0;
  HistoryCounts& operator+=(const HistoryCounts& o);
};

class HistoryClient {
 public:
  HistoryClient(zmq::context_t& context, HistoryOptions options);

  // Command `i` (0-based) of this client's workload; called again for each resend, so it must
  // give the same command for the same `i`.
  using Workload = std::function<CommandSpec(std::uint64_t i)>;

  // Sends commands 0, 1, ... as request ids 1, 2, ...: at least `min_commands`, and more while
  // `keep_going` is set; then waits for a definite outcome of each sent one. Returns early only
  // when `deadline` passes or `abort` is set (unfinished ones stay pending).
  void Run(const Workload& workload, std::uint64_t min_commands,
           const std::atomic<bool>& keep_going, std::chrono::milliseconds deadline,
           const std::atomic<bool>& abort);

  const std::string& client_id() const { return options_.client_id; }
  const std::vector<Record>& records() const { return records_; }  // [request_id - 1]
  HistoryCounts counts() const;
  // Monotonic ns (MonoNs) of each timeout noticed, for the frozen-peer test.
  const std::vector<std::uint64_t>& timeouts_ns() const { return timeouts_ns_; }

 private:
  void OpenSocket();
  void Send(std::size_t index, const Workload& workload);
  void HandleReply(const zmq::message_t& frame);

  zmq::context_t& context_;
  HistoryOptions options_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::vector<Record> records_;
  std::vector<std::uint64_t> sent_ns_;
  std::vector<std::uint8_t> awaiting_;  // 1: sent on the current socket, no reply yet
  bool resend_ = false;                 // a retryable or OutOfOrder reply asked for a resend
  std::uint64_t probe_ = 0;             // the request id sent alone after a backoff (0: none)
  std::uint32_t cwnd_ = 0;              // requests allowed in flight now (1..window)
  std::uint32_t in_flight_ = 0;         // sent on the current socket, no reply yet
  std::uint64_t backoff_ns_ = 0;
  std::vector<std::uint64_t> timeouts_ns_;
  std::uint64_t retryable_ = 0, out_of_order_ = 0, reconnects_ = 0, resent_ = 0;
};

// What the event log says about the histories (every count but `events` must be 0).
struct Verdict {
  std::uint64_t events = 0;
  std::uint64_t lost = 0;          // acked, no event
  std::uint64_t duplicated = 0;    // more than one event for one request
  std::uint64_t phantom = 0;       // definite failure (or unknown request), yet an event
  std::uint64_t reordered = 0;     // acked seqs not rising with request ids
  std::uint64_t wrong_seq = 0;     // acked seq is not the event's seq
  std::uint64_t conflicting = 0;   // two replies for one request disagreed
  std::uint64_t pending = 0;       // no definite outcome by the end
  std::uint64_t bad_versions = 0;  // a key's versions in the log are not 1, 2, 3, ...
  std::uint64_t log_gaps = 0;      // the log's seqs are not 1..head (or not the archive's)
  bool clean() const {
    return lost + duplicated + phantom + reordered + wrong_seq + conflicting + pending +
               bad_versions + log_gaps ==
           0;
  }
};

// Reads <data_dir>/write (read-only; the writer should be stopped) and judges the histories.
// With `archive` (every event from seq 1, as the log held it: a consumer's copy, for a log
// that retention has cut) the events are the archive's, and each event still in the log must
// equal the archive's at its seq (else counted in log_gaps).
Result<Verdict> CheckHistories(const std::string& data_dir,
                               std::span<const HistoryClient* const> clients,
                               const std::vector<std::string>* archive = nullptr);

// One line: "<name>: commands=.. acked=.. failed=.. indeterminate=.. kills=.. lost=0 ...".
std::string CountsLine(const std::string& name, const HistoryCounts& counts, int kills,
                       const Verdict& verdict);

}  // namespace cqrs::faults
