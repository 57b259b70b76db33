#include "base/service_notify.h"

#include <systemd/sd-daemon.h>

#include <string>

namespace cqrs {

void NotifyReady(std::string_view status) {
  std::string message = "READY=1\nSTATUS=";
  message.append(status);
  sd_notify(0, message.c_str());  // no socket, or systemd away: nothing to do about it
}

void NotifyStopping() { sd_notify(0, "STOPPING=1"); }

}  // namespace cqrs
