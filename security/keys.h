// CURVE key pairs (Z85 text, 40 characters per key) and the files that hold them.
//
// A key file is TOML, written by `cqrs keygen`:
//   NAME.key (mode 0600)  public_key = "...", secret_key = "..."
//   NAME.pub              public_key = "..."
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace cqrs::security {

inline constexpr std::size_t kZ85KeyLength = 40;

struct KeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85; empty when read from a .pub file
};

// A client's CURVE settings: its key pair and the server's public key. Empty: plaintext.
struct ClientCurve {
  KeyPair keys;
  std::string server_public_key;
  bool enabled() const { return !server_public_key.empty(); }
  // OK when disabled or when all three keys are valid Z85; else InvalidArgument naming the key.
  Status Validate() const;
};

// The client's key file (NAME.key) and the server's public key: a key file's path (.pub or
// .key) or the 40-character Z85 text itself. Both empty: plaintext; one alone: InvalidArgument.
Result<ClientCurve> LoadClientCurve(const std::string& key_file, const std::string& server_key);

// LoadClientCurve from --key / --server-key values, each falling back to the environment
// (CQRS_KEY, CQRS_SERVER_KEY) when empty.
Result<ClientCurve> LoadClientCurveOrEnvironment(std::string key_file, std::string server_key);

// A fresh key pair (zmq_curve_keypair). Unavailable if libzmq was built without CURVE.
Result<KeyPair> GenerateKeyPair();

// OK if `z85` is 40 Z85 characters that decode to 32 bytes; else InvalidArgument naming `what`.
Status ValidateKey(std::string_view z85, std::string_view what);

// Writes <dir>/<name>.key (0600, both keys) and <dir>/<name>.pub. AlreadyExists if either file
// exists and !overwrite; InvalidArgument for a name outside [A-Za-z0-9_.-]{1,64}.
Status WriteKeyFiles(const std::string& dir, const std::string& name, const KeyPair& keys,
                     bool overwrite);

// Reads a .key or .pub file. InvalidArgument naming the file and key for a bad or missing key;
// NotFound / Unavailable if it cannot be read. A .key file readable by others is refused.
Result<KeyPair> ReadKeyFile(const std::string& path);

// Writes `text` to a temp file created with `mode`, fsyncs it and renames it over `path`: a
// reader never sees half a file, and a secret is never readable by others, even briefly.
Status WriteFileAtomic(const std::string& path, const std::string& text, unsigned mode);

// Principal and key-file names: [A-Za-z0-9_.-]{1,64}, not starting with '.'.
bool IsValidPrincipalName(std::string_view name);

}  // namespace cqrs::security
