// The principals file: who may connect (a CURVE public key), which tenant it acts for, and which
// collections it may read and write. TOML, edited with `cqrs principal`:
//
//   [[principals]]
//   name = "orders-service"
//   public_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"   # Z85, from `cqrs keygen`
//   tenant = "acme"
//   read = ["orders", "customers"]    # collections; "*" is every collection of the tenant
//   write = ["orders"]
//   disabled = false
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace cqrs::security {

enum class Access { kRead, kWrite };

struct Principal {
  std::string name;
  std::string public_key;
  std::string tenant;
  std::vector<std::string> read, write;  // collection names or "*"
  bool disabled = false;

  // Whether the ACL grants `access` to `collection` (a disabled principal is refused earlier).
  bool Allows(Access access, std::string_view collection) const;
  // Whether the change feed may admit a subscription to `topic` (a prefix of the topics
  // "<tenant>/<collection>/<key>" published with security on, or of the heartbeat's "~hb"): only
  // the principal's own tenant, and only collections it may read; the whole tenant ("<tenant>/")
  // only with read "*". An empty prefix (everything) never.
  bool AllowsTopic(std::string_view topic) const;
  // Whether `other` (the principal of the same name after a reload; null: removed) leaves what
  // this one was admitted to unchanged (key, tenant, ACL, enabled). False: connections made
  // under this one must be cut.
  bool StillCovers(const Principal* other) const;
};

// What the ZAP handler puts in the User-Id of a connection it admits: "<name>#<16 hex digits of
// FNV-1a 64 over the public key and the tenant>". A server checks it on every message against
// the principal of that name now: a connection made before the key or the tenant changed no
// longer matches (libzmq 4.3.4 cannot drop one peer of a ROUTER, so the refusal is per message).
std::string ConnectionId(std::string_view name, std::string_view public_key,
                         std::string_view tenant);
// The principal name in a connection id ("" if it has none).
std::string_view ConnectionIdName(std::string_view connection_id);

// InvalidArgument naming the principal and the field: a name outside [A-Za-z0-9_.-]{1,64}, a key
// that is not 40 Z85 characters, a tenant or collection outside [a-z0-9_]{1,64} ("*" allowed in
// the ACL).
Status ValidatePrincipal(const Principal& p);

class Principals {
 public:
  // An absent file is an empty set; a bad one is InvalidArgument naming the file, the entry and
  // the key (unknown keys too). Names and public keys must be unique.
  static Result<Principals> Load(const std::string& path);
  // Writes the whole set: a temp file, fsync, rename (a reader never sees half a file).
  Status Save(const std::string& path) const;

  // Validates; AlreadyExists if the name or the key is taken.
  Status Add(Principal p);
  // NotFound if no principal has this name.
  Status SetDisabled(std::string_view name, bool disabled);

  const Principal* FindByName(std::string_view name) const;  // O(log n): once per message
  const Principal* FindByKey(std::string_view public_key) const;
  const std::vector<Principal>& all() const { return all_; }
  // The connection id of `p`, one of all() (computed once by Add).
  const std::string& connection_id(const Principal* p) const {
    return connection_ids_[static_cast<std::size_t>(p - all_.data())];
  }

 private:
  std::vector<Principal> all_;
  std::vector<std::string> connection_ids_;  // parallel to all_
  std::vector<std::size_t> by_name_;         // indexes into all_, sorted by name
};

}  // namespace cqrs::security
