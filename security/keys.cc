// CURVE key pairs and key files.
#include "security/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <toml.hpp>

#include "base/status.h"
#include "base/toml_reader.h"

namespace cqrs::security {

bool IsValidPrincipalName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<KeyPair> GenerateKeyPair() {
  std::array<char, kZ85KeyLength + 1> pub{}, sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0)
    return Error(Code::kUnavailable, "zmq_curve_keypair: {} (libzmq without CURVE?)",
                 zmq_strerror(zmq_errno()));
  return KeyPair{std::string(pub.data()), std::string(sec.data())};
}

Status ValidateKey(std::string_view z85, std::string_view what) {
  if (z85.size() != kZ85KeyLength)
    return Error(Code::kInvalidArgument, "{} must be {} Z85 characters, not {}", what,
                 kZ85KeyLength, z85.size());
  std::string text(z85);
  std::array<std::uint8_t, 32> bytes{};
  if (zmq_z85_decode(bytes.data(), text.c_str()) == nullptr)
    return Error(Code::kInvalidArgument, "{} is not a Z85-encoded key", what);
  return OkStatus();
}

Status WriteFileAtomic(const std::string& path, const std::string& text, unsigned mode) {
  // Created with its final mode, so a secret is never readable by others, even briefly.
  std::string tmp = path + ".tmp";
  std::filesystem::remove(tmp);
  FILE* f = nullptr;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, static_cast<mode_t>(mode));
  if (fd >= 0) f = fdopen(fd, "w");
  if (f == nullptr)
    return Error(Code::kUnavailable, "cannot write {}: {}", tmp, std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fflush(f) == 0 && ok;
  ok = fsync(fileno(f)) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
    return Error(Code::kUnavailable, "cannot write {}: {}", path, std::strerror(errno));
  return OkStatus();
}

Status WriteKeyFiles(const std::string& dir, const std::string& name, const KeyPair& keys,
                     bool overwrite) {
  if (!IsValidPrincipalName(name))
    return Error(Code::kInvalidArgument,
                 "key name \"{}\" must be 1-64 of [A-Za-z0-9_.-], not starting with '.'", name);
  std::string base = (std::filesystem::path(dir) / name).string();
  for (const char* ext : {".key", ".pub"})
    if (!overwrite && std::filesystem::exists(base + ext))
      return Error(Code::kAlreadyExists, "{}{} exists (--force replaces it)", base, ext);
  CQRS_RETURN_IF_ERROR(WriteFileAtomic(
      base + ".key",
      fmt::format("# cqrs CURVE key pair \"{}\": keep this file secret\npublic_key = \"{}\"\n"
                  "secret_key = \"{}\"\n",
                  name, keys.public_key, keys.secret_key),
      0600));
  return WriteFileAtomic(
      base + ".pub",
      fmt::format("# cqrs CURVE public key \"{}\"\npublic_key = \"{}\"\n", name, keys.public_key),
      0644);
}

Result<KeyPair> ReadKeyFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Error(errno == ENOENT ? Code::kNotFound : Code::kUnavailable, "{}: {}", path,
                 std::strerror(errno));
  toml::value root;
  CQRS_RETURN_IF_ERROR(ParseTomlFile(path, "", &root));
  KeyPair keys;
  TableReader r(root, "", "key");
  r.Read("public_key", &keys.public_key);
  r.Read("secret_key", &keys.secret_key);
  Status s = r.Finish();
  if (!s.ok()) return Error(s.code(), "{}: {}", path, s.message());
  CQRS_RETURN_IF_ERROR(ValidateKey(keys.public_key, path + ": public_key"));
  if (!keys.secret_key.empty()) {
    CQRS_RETURN_IF_ERROR(ValidateKey(keys.secret_key, path + ": secret_key"));
    std::array<char, kZ85KeyLength + 1> derived{};
    if (zmq_curve_public(derived.data(), keys.secret_key.c_str()) != 0 ||
        keys.public_key != derived.data())
      return Error(Code::kInvalidArgument, "{}: public_key is not the secret_key's", path);
    if ((st.st_mode & 077) != 0)
      return Error(Code::kPermissionDenied,
                   "{} holds a secret key but others may read it (mode {:o}): chmod 600 it", path,
                   st.st_mode & 0777);
  }
  return keys;
}

Status ClientCurve::Validate() const {
  if (!enabled()) return OkStatus();
  CQRS_RETURN_IF_ERROR(ValidateKey(server_public_key, "server public key"));
  CQRS_RETURN_IF_ERROR(ValidateKey(keys.public_key, "client public key"));
  return ValidateKey(keys.secret_key, "client secret key");
}

Result<ClientCurve> LoadClientCurve(const std::string& key_file, const std::string& server_key) {
  ClientCurve curve;
  if (key_file.empty() && server_key.empty()) return curve;
  if (key_file.empty() || server_key.empty())
    return Status(Code::kInvalidArgument,
                  "CURVE needs both the client's key file (--key, CQRS_KEY) and the server's "
                  "public key (--server-key, CQRS_SERVER_KEY)");
  auto keys = ReadKeyFile(key_file);
  if (!keys.ok()) return keys.status();
  if (keys->secret_key.empty())
    return Error(Code::kInvalidArgument, "{} holds no secret_key: name the client's .key file",
                 key_file);
  curve.keys = std::move(keys).value();
  if (ValidateKey(server_key, "server key").ok()) {
    curve.server_public_key = server_key;
  } else {
    auto server = ReadKeyFile(server_key);
    if (!server.ok()) return server.status();
    curve.server_public_key = server->public_key;
  }
  return curve;
}

Result<ClientCurve> LoadClientCurveOrEnvironment(std::string key_file, std::string server_key) {
  auto env = [](std::string* value, const char* name) {
    const char* v = std::getenv(name);
    if (value->empty() && v != nullptr) *value = v;
  };
  env(&key_file, "CQRS_KEY");
  env(&server_key, "CQRS_SERVER_KEY");
  return LoadClientCurve(key_file, server_key);
}

}  // namespace cqrs::security
