// The process-wide stop flag.
#include "base/signals.h"

#include <csignal>

namespace cqrs {
namespace {
std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop.store(true); }
}  // namespace

const std::atomic<bool>& InstallStopSignals() {
  std::signal(SIGINT, OnStop);
  std::signal(SIGTERM, OnStop);
  std::signal(SIGPIPE, SIG_IGN);
  return g_stop;
}

}  // namespace cqrs
