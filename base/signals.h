// Stop signals: SIGINT and SIGTERM set one process-wide flag that every loop polls; SIGHUP counts
// reload requests. A loop that
// waits in zmq::poll wakes with EINTR, so a stop is noticed within one poll timeout.
#pragma once

#include <atomic>
#include <cstdint>

namespace cqrs {

// Installs handlers for SIGINT and SIGTERM (and ignores SIGPIPE; counts SIGHUP, see below);
// returns the flag they set.
const std::atomic<bool>& InstallStopSignals();

// Installs a SIGHUP handler; returns the count of SIGHUPs received, which a loop compares with
// the count it last acted on (e.g. to reload the principals file).
const std::atomic<std::uint64_t>& InstallReloadSignal();

}  // namespace cqrs
