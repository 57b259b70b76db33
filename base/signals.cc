// The process-wide stop flag.
#include "base/signals.h"

#include <csignal>

namespace cqrs {
namespace {
std::atomic<bool> g_stop{false};
std::atomic<std::uint64_t> g_reloads{0};
void OnStop(int) { g_stop.store(true); }
void OnReload(int) { g_reloads.fetch_add(1); }
}  // namespace

const std::atomic<bool>& InstallStopSignals() {
  std::signal(SIGINT, OnStop);
  std::signal(SIGTERM, OnStop);
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, OnReload);  // never the default (terminate): `cqrs up` passes SIGHUP on
  return g_stop;
}

const std::atomic<std::uint64_t>& InstallReloadSignal() {
  std::signal(SIGHUP, OnReload);
  return g_reloads;
}

}  // namespace cqrs
