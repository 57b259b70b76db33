// The principals file.
#include "security/principals.h"

#include <algorithm>
#include <filesystem>
#include <toml.hpp>

#include "base/hash.h"
#include "base/names.h"
#include "base/status.h"
#include "base/toml_reader.h"
#include "security/keys.h"

namespace cqrs::security {
namespace {

// A TOML basic string; names and keys are validated, but a message must survive anything.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string QuoteList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + Quote(items[i]);
  return out + "]";
}

}  // namespace

bool Principal::Allows(Access access, std::string_view collection) const {
  const auto& list = access == Access::kRead ? read : write;
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& c) { return c == "*" || c == collection; });
}

bool Principal::AllowsTopic(std::string_view topic) const {
  constexpr std::string_view kHeartbeat = "~hb";
  if (topic.empty()) return false;
  if (kHeartbeat.starts_with(topic)) return true;
  if (topic.size() <= tenant.size() || !topic.starts_with(tenant) || topic[tenant.size()] != '/')
    return false;
  if (Allows(Access::kRead, "*")) return true;
  std::string_view rest = topic.substr(tenant.size() + 1);
  auto slash = rest.find('/');
  return slash != std::string_view::npos &&
         std::find(read.begin(), read.end(), rest.substr(0, slash)) != read.end();
}

bool Principal::StillCovers(const Principal* other) const {
  return disabled || (other != nullptr && !other->disabled && other->public_key == public_key &&
                      other->tenant == tenant && other->read == read && other->write == write);
}

Status ValidatePrincipal(const Principal& p) {
  if (!IsValidPrincipalName(p.name))
    return Error(Code::kInvalidArgument,
                 "principal name \"{}\" must be 1-64 of [A-Za-z0-9_.-], not starting with '.'",
                 p.name);
  CQRS_RETURN_IF_ERROR(ValidateKey(p.public_key, fmt::format("principal {} public_key", p.name)));
  if (!IsValidCollectionName(p.tenant))
    return Error(Code::kInvalidArgument, "principal {} tenant \"{}\" must be 1-64 of [a-z0-9_]",
                 p.name, p.tenant);
  for (const auto* list : {&p.read, &p.write})
    for (const auto& c : *list)
      if (c != "*" && !IsValidCollectionName(c))
        return Error(Code::kInvalidArgument,
                     "principal {} {} lists \"{}\": a collection is 1-64 of [a-z0-9_], or \"*\"",
                     p.name, list == &p.read ? "read" : "write", c);
  return OkStatus();
}

Result<Principals> Principals::Load(const std::string& path) {
  Principals out;
  if (!std::filesystem::exists(path)) return out;
  toml::value root;
  CQRS_RETURN_IF_ERROR(ParseTomlFile(path, "", &root));
  TableReader top(root, "", "key");
  const toml::array* tables = top.Tables("principals");
  Status s = top.Finish();
  if (!s.ok()) return Error(s.code(), "{}: {}", path, s.message());
  if (tables == nullptr) return out;
  for (std::size_t i = 0; i < tables->size(); ++i) {
    Principal p;
    TableReader r((*tables)[i], fmt::format("principals[{}].", i), "key");
    r.Read("name", &p.name);
    r.Read("public_key", &p.public_key);
    r.Read("tenant", &p.tenant);
    r.Read("read", &p.read);
    r.Read("write", &p.write);
    r.Read("disabled", &p.disabled);
    s = r.Finish();
    if (s.ok()) s = out.Add(std::move(p));
    if (!s.ok())  // a duplicate is a bad file too
      return Error(Code::kInvalidArgument, "{}: principals[{}]: {}", path, i, s.message());
  }
  return out;
}

Status Principals::Save(const std::string& path) const {
  std::string text =
      "# cqrs principals: who may connect (CURVE public key), as which tenant, with which\n"
      "# collections readable and writable (\"*\": all). Edit with `cqrs principal`.\n";
  for (const Principal& p : all_)
    text += fmt::format(
        "\n[[principals]]\nname = {}\npublic_key = {}\ntenant = {}\nread = {}\nwrite = {}\n"
        "disabled = {}\n",
        Quote(p.name), Quote(p.public_key), Quote(p.tenant), QuoteList(p.read), QuoteList(p.write),
        p.disabled);
  return WriteFileAtomic(path, text, 0644);
}

std::string ConnectionId(std::string_view name, std::string_view public_key,
                         std::string_view tenant) {
  std::string credential(public_key);
  credential.append(1, '\0').append(tenant);
  return fmt::format("{}#{:016x}", name, Fnv1a64(credential));
}

std::string_view ConnectionIdName(std::string_view connection_id) {
  const std::size_t hash = connection_id.find('#');
  return hash == std::string_view::npos ? std::string_view() : connection_id.substr(0, hash);
}

Status Principals::Add(Principal p) {
  CQRS_RETURN_IF_ERROR(ValidatePrincipal(p));
  if (FindByName(p.name) != nullptr)
    return Error(Code::kAlreadyExists, "a principal named {} exists", p.name);
  if (const Principal* other = FindByKey(p.public_key))
    return Error(Code::kAlreadyExists, "principal {} already has this public key", other->name);
  auto at = std::lower_bound(by_name_.begin(), by_name_.end(), p.name,
                             [&](std::size_t i, const std::string& n) { return all_[i].name < n; });
  by_name_.insert(at, all_.size());
  connection_ids_.push_back(ConnectionId(p.name, p.public_key, p.tenant));
  all_.push_back(std::move(p));
  return OkStatus();
}

Status Principals::SetDisabled(std::string_view name, bool disabled) {
  for (Principal& p : all_) {
    if (p.name != name) continue;
    p.disabled = disabled;
    return OkStatus();
  }
  return Error(Code::kNotFound, "no principal named {}", name);
}

const Principal* Principals::FindByName(std::string_view name) const {
  auto at = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                             [&](std::size_t i, std::string_view n) { return all_[i].name < n; });
  return at != by_name_.end() && all_[*at].name == name ? &all_[*at] : nullptr;
}

const Principal* Principals::FindByKey(std::string_view public_key) const {
  for (const Principal& p : all_)
    if (p.public_key == public_key) return &p;
  return nullptr;
}

}  // namespace cqrs::security
