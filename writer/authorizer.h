// The authorization seam: who sent a request and which tenant it acts for. Identity comes from
// the transport (ZAP User-Id, issue #8), never from the payload or the routing id.
#pragma once

#include <string_view>

#include "base/status.h"
#include "schemas/cqrs_generated.h"

namespace cqrs::writer {

inline constexpr std::string_view kDefaultTenant = "default";

struct Identity {
  std::string_view user_id;  // ZAP User-Id; empty without security
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Sets `tenant` (valid while the Authorizer lives) to the identity's tenant, and returns OK
  // if the request is allowed, else Unauthenticated / PermissionDenied naming what was refused.
  // A refusal with the tenant known is remembered like any definite outcome; with `tenant` left
  // empty it is not. Called on the writer thread for every verified request; must not block.
  virtual Status Authorize(const Identity& identity, const fb::CommandRequest& request,
                           std::string_view* tenant) = 0;
};

// Security off: every sender is the one default tenant with full access.
class OpenAuthorizer final : public Authorizer {
 public:
  Status Authorize(const Identity&, const fb::CommandRequest&, std::string_view* tenant) override {
    *tenant = kDefaultTenant;
    return OkStatus();
  }
};

}  // namespace cqrs::writer
