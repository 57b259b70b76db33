// Stop signals: SIGINT and SIGTERM set one process-wide flag that every loop polls. A loop that
// waits in zmq::poll wakes with EINTR, so a stop is noticed within one poll timeout.
#pragma once

#include <atomic>

namespace cqrs {

// Installs handlers for SIGINT and SIGTERM (and ignores SIGPIPE); returns the flag they set.
const std::atomic<bool>& InstallStopSignals();

}  // namespace cqrs
