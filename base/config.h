// Configuration shared by every process: defaults, the TOML file (--config), then flags, in that
// order of precedence. See docs/OPERATIONS.md for every key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"

namespace CLI {
class App;
}

namespace cqrs {

// LMDB (Debian's build) caps keys at 511 bytes; entity keys carry a 4-byte namespace prefix.
inline constexpr std::uint32_t kMaxStorableKeyBytes = 511 - 4;
inline constexpr std::uint32_t kMaxCollectionBytes = 64;
inline constexpr std::uint32_t kMaxFieldNameBytes = 64;

// Input limits. Breaking one is InvalidArgument with a message naming the limit's key.
struct Limits {
  std::uint32_t max_request_bytes = 1u << 20;  // at most writer.max_message_bytes
  std::uint32_t max_commands = 1024;           // commands in one CommandRequest
  std::uint32_t max_key_bytes = kMaxStorableKeyBytes;
  std::uint32_t max_fields = 256;              // fields of an entity and of a command
  std::uint32_t max_entity_bytes = 64u << 10;  // an entity's encoded record
  std::uint32_t max_client_id_bytes = 128;
  std::uint32_t max_token_bytes = 4096;
  std::uint32_t remembered_replies = 1024;  // per client_id, at least DESIGN's 1,024
};

enum class Durability { kSync, kNoSync };

struct WriterConfig {
  std::string endpoint;       // empty: tcp://127.0.0.1:<base_port + 1>
  std::string tick_endpoint;  // empty: ipc://<data>/writer.tick
  Durability durability = Durability::kSync;
  std::uint64_t map_size_mb = 1024;           // initial LMDB map size
  std::uint64_t max_map_size_mb = 1u << 20;   // growth stops here: ResourceExhausted
  std::uint32_t batch_max_requests = 1024;    // group commit bound, requests per transaction
  std::uint64_t batch_max_bytes = 16u << 20;  // group commit bound, request bytes per transaction
  std::uint32_t reader_check_ms = 1000;       // mdb_reader_check period
  // ZMQ_MAXMSGSIZE: a larger frame disconnects its sender (libzmq); a frame above
  // limits.max_request_bytes but within this gets InvalidArgument instead.
  std::uint32_t max_message_bytes = 1u << 20;
};

struct Config {
  std::string data_dir = "./data";
  int base_port = 7100;
  std::string log_level = "info";
  WriterConfig writer;
  Limits limits;

  // tcp://127.0.0.1:<base_port + offset>; DESIGN.md's endpoint plan.
  std::string LoopbackEndpoint(int offset) const;
  std::string WriterEndpoint() const;
  std::string TickEndpoint() const;
};

// Flags every process takes: --config FILE, --data DIR, --base-port P, --log-level L.
struct CommonFlags {
  std::string config_file;
  std::optional<std::string> data_dir;
  std::optional<int> base_port;
  std::optional<std::string> log_level;
};
void AddCommonFlags(CLI::App& app, CommonFlags* flags);

// Parses a TOML file into `config` over its current values. Unknown keys are errors (a typo must
// not silently fall back to a default). InvalidArgument names the key; Unavailable if unreadable.
Status LoadConfigFile(const std::string& path, Config* config);

// Defaults, then the file named by --config, then the flags; validated.
Result<Config> ResolveConfig(const CommonFlags& flags);

// Checks ranges and cross-field rules. InvalidArgument naming the key.
Status ValidateConfig(const Config& config);

std::string_view DurabilityName(Durability d);
std::optional<Durability> ParseDurability(std::string_view name);

}  // namespace cqrs
