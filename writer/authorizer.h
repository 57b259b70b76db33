// The authorization seam: who sent a request and which tenant it acts for. Identity comes from
// the transport (ZAP User-Id, issue #8), never from the payload or the routing id.
#pragma once

#include <string_view>

#include "base/config.h"
#include "base/status.h"
#include "schemas/cqrs_generated.h"
#include "security/server_security.h"

namespace cqrs::writer {

struct Identity {
  std::string_view user_id;  // ZAP User-Id; empty without security
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Sets `tenant` and `principal` (valid while the Authorizer lives, until the next reload) to
  // the identity's tenant and principal name, and returns OK if the request is allowed, else
  // Unauthenticated / PermissionDenied naming what was refused. Idempotency records are kept
  // per (tenant, principal, client_id). A refusal with the tenant known is remembered like any
  // definite outcome (under the principal's own records); with `tenant` left empty it is not.
  // Called on the writer thread for every verified request; must not block.
  virtual Status Authorize(const Identity& identity, const fb::CommandRequest& request,
                           std::string_view* tenant, std::string_view* principal) = 0;
};

// Security off: every sender is the one anonymous principal ("") of the default tenant, with
// full access.
class OpenAuthorizer final : public Authorizer {
 public:
  Status Authorize(const Identity&, const fb::CommandRequest&, std::string_view* tenant,
                   std::string_view* principal) override {
    *tenant = kDefaultTenant;
    *principal = {};
    return OkStatus();
  }
};

// Security on: the User-Id names an enabled principal; its tenant is the request's, and its ACL
// must let it write every command's collection. A refusal of an unknown or disabled principal
// (Unauthenticated) leaves the tenant empty: nothing is remembered for it. PermissionDenied is
// remembered under the principal's tenant like any definite outcome.
class PrincipalAuthorizer final : public Authorizer {
 public:
  explicit PrincipalAuthorizer(const security::ServerSecurity& security) : security_(security) {}

  Status Authorize(const Identity& identity, const fb::CommandRequest& request,
                   std::string_view* tenant, std::string_view* principal) override {
    Status refusal;
    const security::Principal* p = security_.Authenticate(identity.user_id, &refusal);
    if (p == nullptr) return refusal;
    *tenant = p->tenant;
    *principal = p->name;
    if (const auto* commands = request.commands())
      for (const fb::Command* c : *commands)
        if (!p->Allows(security::Access::kWrite, c->collection()->string_view()))
          return Error(Code::kPermissionDenied, "principal \"{}\" may not write collection \"{}\"",
                       p->name, c->collection()->string_view());
    return OkStatus();
  }

 private:
  const security::ServerSecurity& security_;
};

}  // namespace cqrs::writer
