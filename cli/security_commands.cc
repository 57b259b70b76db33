// cqrs keygen (CURVE key pairs) and cqrs principal add/disable/enable/list (the principals file).
#include <fmt/format.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "base/config.h"
#include "base/json.h"
#include "base/status.h"
#include "cli/commands.h"
#include "cli/stats.h"
#include "security/keys.h"
#include "security/principals.h"
#include "shm/control_block.h"

namespace cqrs::cli {
namespace {

int Refuse(const Status& s) {
  std::fprintf(stderr, "cqrs: %s\n", s.message().c_str());
  return s.code() == Code::kInvalidArgument ? 2 : 1;
}

struct KeygenCommand {
  std::string name;
  std::string dir = ".";
  bool force = false;
};

int RunKeygen(const KeygenCommand& c) {
  auto keys = security::GenerateKeyPair();
  if (!keys.ok()) return Refuse(keys.status());
  std::error_code ec;
  const bool created = std::filesystem::create_directories(c.dir, ec);
  if (ec) return Refuse(Error(Code::kUnavailable, "cannot create {}: {}", c.dir, ec.message()));
  if (created)  // a directory made for secrets: only its owner may list it
    std::filesystem::permissions(c.dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  if (Status s = security::WriteKeyFiles(c.dir, c.name, keys.value(), c.force); !s.ok())
    return Refuse(s);
  auto base = (std::filesystem::path(c.dir) / c.name).string();
  std::fprintf(stderr, "wrote %s.key (secret, mode 0600) and %s.pub\n", base.c_str(), base.c_str());
  std::printf("%s\n", keys->public_key.c_str());
  return 0;
}

struct PrincipalCommand {
  CommonFlags common;
  std::string file;  // empty: the config's
  security::Principal principal;
  std::string key_file;
  bool json = false;

  Result<std::string> Path() const {
    if (!file.empty()) return file;
    auto config = ResolveConfig(common);
    if (!config.ok()) return config.status();
    return config->PrincipalsPath();
  }
};

// After an edit: SIGHUP to every live process of the pipeline on the config's data dir that
// reads this file (per the config), so the change applies now; says what it did on stderr.
void SignalReload(const CommonFlags& common, const std::string& path) {
  auto config = ResolveConfig(common);
  if (!config.ok()) return;
  std::error_code ec;
  if (!std::filesystem::equivalent(path, config->PrincipalsPath(), ec)) return;
  if (!shm::ControlBlock::Exists(config->data_dir)) {
    std::fprintf(stderr, "no pipeline has run on %s: servers read %s when they start\n",
                 config->data_dir.c_str(), path.c_str());
    return;
  }
  auto control = shm::ControlBlock::Attach(config->data_dir, config->cache.slots);
  if (!control.ok()) return;
  std::string signalled;
  for (const ProcessSample& p : TakeSample(control.value()).processes)
    if (p.alive && p.role != "supervisor" && kill(static_cast<pid_t>(p.pid), SIGHUP) == 0)
      signalled += fmt::format("{}{} (pid {})", signalled.empty() ? "" : ", ", p.role, p.pid);
  if (signalled.empty())
    std::fprintf(stderr,
                 "no process of the pipeline on %s is running: servers read %s when they "
                 "start\n",
                 config->data_dir.c_str(), path.c_str());
  else
    std::fprintf(stderr, "reloading (SIGHUP): %s\n", signalled.c_str());
}

// Loads the file, applies `change`, saves it, and has the running servers reload it.
int EditPrincipals(const PrincipalCommand& c,
                   const std::function<Status(security::Principals&)>& change) {
  auto path = c.Path();
  if (!path.ok()) return Refuse(path.status());
  auto principals = security::Principals::Load(*path);
  if (!principals.ok()) return Refuse(principals.status());
  if (Status s = change(principals.value()); !s.ok()) return Refuse(s);
  const auto parent = std::filesystem::path(*path).parent_path();
  std::error_code ec;
  if (!parent.empty() && (std::filesystem::create_directories(parent, ec), ec))
    return Refuse(Error(Code::kUnavailable, "cannot create {}: {}", parent.string(), ec.message()));
  if (Status s = principals->Save(*path); !s.ok()) return Refuse(s);
  SignalReload(c.common, *path);
  return 0;
}

std::string PrincipalJson(const security::Principal& p) {
  auto list = [](const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) out += ",";
      AppendJsonString(&out, items[i]);
    }
    return out + "]";
  };
  std::string out = "{\"name\":";
  AppendJsonString(&out, p.name);
  out += ",\"tenant\":";
  AppendJsonString(&out, p.tenant);
  out += ",\"public_key\":";
  AppendJsonString(&out, p.public_key);
  return out + ",\"read\":" + list(p.read) + ",\"write\":" + list(p.write) +
         ",\"disabled\":" + (p.disabled ? "true" : "false") + "}";
}

void AddFileFlags(CLI::App* cmd, PrincipalCommand* c) {
  AddCommonFlags(*cmd, &c->common);
  cmd->add_option("--file", c->file,
                  "the principals file (default: the config's security.principals, else "
                  "<data>/principals.toml)");
}

}  // namespace

void CurveFlags::Add(CLI::App& cmd) {
  cmd.add_option("--key", key_file,
                 "this client's key file from `cqrs keygen` (NAME.key; env CQRS_KEY): CURVE as "
                 "its principal");
  cmd.add_option("--server-key", server_key,
                 "the servers' public key: a .pub file or the Z85 text (env CQRS_SERVER_KEY)");
}

void AddSecurityCommands(CLI::App& app, int* exit_code) {
  auto k = std::make_shared<KeygenCommand>();
  CLI::App* keygen = app.add_subcommand(
      "keygen",
      "make a CURVE key pair: NAME.key (both keys, mode 0600) and NAME.pub; prints the "
      "public key");
  keygen->add_option("name", k->name, "file name (and principal name): [A-Za-z0-9_.-]{1,64}")
      ->required();
  keygen->add_option("--dir", k->dir, "where to write the files (created, mode 0700, if missing)")
      ->capture_default_str();
  keygen->add_flag("--force", k->force, "replace existing files");
  keygen->callback([k, exit_code] { *exit_code = RunKeygen(*k); });

  CLI::App* principal = app.add_subcommand(
      "principal",
      "edit the principals file: who may connect (CURVE public key), as which tenant, reading "
      "and writing which collections");
  principal->require_subcommand(1);

  auto a = std::make_shared<PrincipalCommand>();
  CLI::App* add = principal->add_subcommand("add", "add a principal");
  AddFileFlags(add, a.get());
  add->add_option("name", a->principal.name, "its name: [A-Za-z0-9_.-]{1,64}")->required();
  add->add_option("--tenant", a->principal.tenant, "the tenant it acts for")->required();
  auto* key = add->add_option("--key", a->principal.public_key, "its public key (Z85)");
  auto* key_file =
      add->add_option("--key-file", a->key_file, "read the public key from a .pub or .key file");
  key->excludes(key_file);
  add->add_option("--read", a->principal.read, "a collection it may read (\"*\": all); repeatable")
      ->delimiter(',');
  add->add_option("--write", a->principal.write,
                  "a collection it may write (\"*\": all); repeatable")
      ->delimiter(',');
  add->add_flag("--disabled", a->principal.disabled, "add it disabled");
  add->callback([a, exit_code] {
    if (!a->key_file.empty()) {
      auto keys = security::ReadKeyFile(a->key_file);
      if (!keys.ok()) {
        *exit_code = Refuse(keys.status());
        return;
      }
      a->principal.public_key = keys->public_key;
    }
    if (a->principal.public_key.empty()) {
      *exit_code = Refuse(Status(Code::kInvalidArgument, "--key or --key-file is required"));
      return;
    }
    *exit_code = EditPrincipals(*a, [&](security::Principals& p) { return p.Add(a->principal); });
  });

  for (bool disable : {true, false}) {
    auto d = std::make_shared<PrincipalCommand>();
    CLI::App* cmd = principal->add_subcommand(
        disable ? "disable" : "enable",
        disable ? "mark a principal disabled (the running servers reload the file at once)"
                : "let a disabled principal in again");
    AddFileFlags(cmd, d.get());
    cmd->add_option("name", d->principal.name, "the principal")->required();
    cmd->callback([d, disable, exit_code] {
      *exit_code = EditPrincipals(
          *d, [&](security::Principals& p) { return p.SetDisabled(d->principal.name, disable); });
    });
  }

  auto l = std::make_shared<PrincipalCommand>();
  CLI::App* list = principal->add_subcommand("list", "print every principal (JSON lines)");
  AddFileFlags(list, l.get());
  list->callback([l, exit_code] {
    auto path = l->Path();
    if (!path.ok()) {
      *exit_code = Refuse(path.status());
      return;
    }
    auto principals = security::Principals::Load(*path);
    if (!principals.ok()) {
      *exit_code = Refuse(principals.status());
      return;
    }
    for (const auto& p : principals->all()) std::cout << PrincipalJson(p) << "\n";
    *exit_code = 0;
  });
}

}  // namespace cqrs::cli
