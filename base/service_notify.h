// Tells systemd that a server is ready (a unit of Type=notify starts its dependants then) or is
// stopping. Without NOTIFY_SOCKET in the environment (run by hand, by `cqrs up`, by a test) each
// call does nothing. The servers call NotifyReady once their sockets are bound and their stores
// open, with the line they log, which `systemctl status` shows.
#pragma once

#include <string_view>

namespace cqrs {

void NotifyReady(std::string_view status);
void NotifyStopping();

}  // namespace cqrs
