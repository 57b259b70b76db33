// Configuration shared by every process: defaults, the TOML file (--config), then flags, in that
// order of precedence. See docs/OPERATIONS.md for every key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace CLI {
class App;
}

namespace cqrs {

// The one tenant of every request while security is off.
inline constexpr std::string_view kDefaultTenant = "default";

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
  // Idempotency records of a (principal, client_id) idle this long are removed; a later request
  // with that client_id starts a new client (docs/PROTOCOL.md, "Idempotency"). 7 days.
  std::uint64_t client_expiry_s = 7 * 24 * 3600;
  // A checkpoint of the entity state (docs/OPERATIONS.md, "Durability") is taken in the
  // background after this many events, or this many seconds with at least one new event,
  // whichever comes first; 0 turns that trigger off (both 0: no checkpoints). The last two
  // are kept.
  std::uint64_t checkpoint_interval_events = 1'000'000;
  std::uint64_t checkpoint_interval_s = 600;
  // Overload: when a batch fills up and more requests wait, answer up to another batch's worth
  // of them at once with ResourceExhausted (nothing applied) instead of letting them queue;
  // clients back off (docs/OPERATIONS.md, "Overload"; docs/BENCHMARKS.md for what it costs).
  bool shed_overload = true;
  // ZMQ_MAXMSGSIZE: a larger frame disconnects its sender (libzmq); a frame above
  // limits.max_request_bytes but within this gets InvalidArgument instead. Default: the default
  // max_request_bytes plus 64 KiB (wire::kMessageSlackBytes).
  std::uint32_t max_message_bytes = (1u << 20) + (64u << 10);
};

// Retention of the event log ([log]; docs/OPERATIONS.md, "Retention"). Neither rule set: every
// event is kept. An event is removed only when every rule that is set allows it (both set: the
// one that keeps more wins) and it is below the floor no consumer has passed (log holds, the
// newest state checkpoint; writer/log_retention.h).
struct LogConfig {
  std::string keep;                   // an age: "<n>s", "<n>m", "<n>h" or "<n>d"; "" no age rule
  std::uint64_t keep_s = 0;           // `keep` in seconds (0: no age rule)
  std::uint64_t keep_events = 0;      // the newest this many events are kept; 0: no count rule
  std::uint32_t step_events = 10000;  // events removed per transaction of the writer
  bool retains() const { return keep_s > 0 || keep_events > 0; }
};

struct ProjectorConfig {
  std::string events_endpoint;             // empty: tcp://127.0.0.1:<base_port + 2> (PUB)
  std::string replay_endpoint;             // empty: tcp://127.0.0.1:<base_port + 3> (ROUTER)
  std::string tick_endpoint;               // empty: ipc://<data>/projector.tick (PUB, for readers)
  std::uint32_t events_sndhwm = 100000;    // per subscriber; beyond it PUB drops (gap → replay)
  std::uint32_t batch_max_events = 10000;  // events per read-store transaction
  std::uint64_t map_size_mb = 1024;
  std::uint64_t max_map_size_mb = 1u << 20;
  std::uint32_t heartbeat_ms = 100;
  std::uint32_t poll_ms = 200;          // catch-up timer, the safety net under the writer's tick
  std::uint32_t reader_check_ms = 100;  // mdb_reader_check of both stores (see writer's)
  // false: read-store commits are not fsynced; after a machine crash the read store is rebuilt
  // from the log. true: each commit is fsynced (slower projector, no rebuild).
  bool sync_read_store = false;
};

struct ReaderConfig {
  std::vector<std::string> endpoints;       // empty: tcp://127.0.0.1:<base_port + 10 + i>
  std::uint32_t count = 2;                  // readers `cqrs up` starts (when endpoints is empty)
  std::uint32_t default_timeout_ms = 1000;  // a min_seq wait when the query says 0
  std::uint32_t max_timeout_ms = 60000;
  std::uint32_t default_scan_limit = 100;
  std::uint32_t max_scan_limit = 1000;
  std::uint32_t max_reply_bytes = 4u << 20;  // a page stops early past it (`next` continues)
  std::uint32_t batch_max_queries = 256;     // frames per snapshot; queries per QueryBatch
  std::uint32_t max_waiting = 10000;         // queries parked on min_seq; more: ResourceExhausted
  // Bytes the parked queries may hold in all (their requests as sent); more: ResourceExhausted.
  std::uint64_t max_waiting_bytes = 64u << 20;
  // A min_seq more than this beyond the writer's committed seq (while the writer is alive) is
  // refused at once with InvalidArgument: no acknowledged write has such a seq yet.
  std::uint64_t min_seq_slack = 0;
};

struct CacheConfig {
  // Slots of the shared-memory hot cache (512 bytes each; a power of 2; 0: no cache). Fixed when
  // the segment is created: a changed value applies once every process of the data dir has
  // stopped and the segment (/dev/shm/cqrs-<hash of the data dir>-v<version>) was removed.
  std::uint32_t slots = 16384;
  // How often the projector fills the keys readers missed (read-hot cache, docs/ARCHITECTURE.md)
  // when no batch woke it sooner; 0: the cache is write-through only.
  std::uint32_t fill_ms = 2;
};

// Prometheus metrics and health over HTTP, served by `cqrs metrics` from the control block
// (docs/OPERATIONS.md, "Metrics and health"). Off while `listen` is empty.
struct MetricsConfig {
  std::string listen;  // HOST:PORT, e.g. 127.0.0.1:9464
  // /readyz answers 503 while the projector is more than this many events behind the writer.
  std::uint64_t ready_max_lag_events = 100000;
  bool on() const { return !listen.empty(); }
};
// "HOST:PORT" (port 1..65535; "[::1]:9464" for IPv6) into its parts; InvalidArgument naming
// `what` otherwise.
Status ParseListenAddress(std::string_view text, std::string_view what, std::string* host,
                          int* port);

// The event log mirrored to a NATS JetStream stream by cqrs-mirror, for read replicas on other
// hosts (docs/OPERATIONS.md, "Across machines"). Off while `nats` is empty.
struct MirrorConfig {
  std::string nats;  // the cluster's servers, comma-separated: nats://host:port,...
  std::string stream = "cqrs";
  std::string subject;         // empty: <stream>.log
  std::uint32_t replicas = 3;  // of the stream, when cqrs-mirror creates it (1..5)
  // A message carries the events that are ready, up to this many bytes (one larger event goes
  // alone). Within the servers' max_payload.
  std::uint32_t max_message_bytes = 256u << 10;
  // How long a publish waits for the stream's acknowledgement before it is retried.
  std::uint32_t publish_timeout_ms = 5000;
  // The stream carries every tenant's data: the servers' user and a file holding its password
  // (mode 0600), and TLS: the CA file the servers' certificates are checked against (required
  // for tls:// servers), and this client's certificate chain and key for servers that ask.
  std::string user;
  std::string password_file;
  // Or an nkey user of the servers: its public key ("U...", 56 characters) and a file holding
  // its seed (mode 0600), which nats.c signs the servers' challenge with.
  std::string nkey;
  std::string nkey_seed_file;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;

  bool on() const { return !nats.empty(); }
  std::string Subject() const { return subject.empty() ? stream + ".log" : subject; }
  std::vector<std::string> Servers() const;  // `nats` split at commas
};

// Authentication and tenants (docs/OPERATIONS.md, "Security"). Off while server_key is empty.
struct SecurityConfig {
  // The servers' CURVE key file (NAME.key from `cqrs keygen`, mode 0600). Set: every writer,
  // reader, replay and events socket is CURVE with a ZAP allow-list of the principals file.
  std::string server_key;
  std::string principals;  // empty: <data>/principals.toml
  // A connection that has not completed its handshake this long after connecting is dropped
  // (ZMQ_HANDSHAKE_IVL): half-open connections do not pile up.
  std::uint32_t handshake_timeout_ms = 5000;
};

// Read models declared per collection (docs/OPERATIONS.md): secondary indexes on fields, and
// aggregates (count, plus the sum of a numeric field) grouped by a field.
struct AggregateSpec {
  std::string name;
  std::string group_by;
  std::string sum;  // empty: count only
};
struct CollectionSpec {
  std::string name;
  std::vector<std::string> indexes;
  std::vector<AggregateSpec> aggregates;
  const AggregateSpec* FindAggregate(std::string_view aggregate) const;
  bool HasIndex(std::string_view field) const;
};
inline constexpr std::size_t kMaxCollectionSpecs = 256;
// An empty declaration list, for components built without a Config.
const std::vector<CollectionSpec>& NoCollectionSpecs();
// The declaration of `collection` in `specs`, or nullptr.
const CollectionSpec* FindCollectionSpec(const std::vector<CollectionSpec>& specs,
                                         std::string_view collection);
inline constexpr std::size_t kMaxIndexesPerCollection = 32;
inline constexpr std::size_t kMaxAggregatesPerCollection = 32;

// The PostgreSQL query side (docs/OPERATIONS.md, "PostgreSQL query side"): cqrs-pgsink keeps
// one table per declared collection. Off while `dsn` is empty.
enum class PgType : std::uint8_t {
  kText,
  kBigint,
  kDouble,
  kBoolean,
  kBytea,
  kTimestampNs,  // "timestamptz:ns": an int of nanoseconds since the Unix epoch
  kTimestampMs,  // "timestamptz:ms"
};
std::optional<PgType> ParsePgType(std::string_view name);
std::string_view PgTypeName(PgType type);  // as the config spells it
std::string_view PgSqlType(PgType type);   // as PostgreSQL does: "double precision", "timestamptz"
struct PgColumnSpec {
  std::string name;  // the entity's field, and the column
  PgType type = PgType::kText;
};
struct PgTableSpec {
  std::string collection;
  std::string table;                  // default: the collection's name
  std::vector<PgColumnSpec> columns;  // in name order
  std::vector<std::string> indexes;   // columns with one SQL index each
  const PgColumnSpec* FindColumn(std::string_view name) const;
};
struct PostgresConfig {
  std::string dsn;  // a libpq connection string
  // Each table gets a row-level security policy: a role sees the rows of the tenants that
  // cqrs_tenant_roles grants it (docs/OPERATIONS.md).
  bool row_level_security = false;
  // The sink's row in cqrs_checkpoint: two sinks of one name exclude each other, two names
  // (two pipelines into one database) are independent.
  std::string name = "cqrs";
  std::uint32_t batch_max_events = 10000;  // log events per PostgreSQL transaction
  std::uint32_t retry_max_ms = 5000;       // the longest wait between two tries to reconnect
  std::vector<PgTableSpec> tables;         // [[postgresql.tables]]

  bool on() const { return !dsn.empty(); }
  const PgTableSpec* FindTable(std::string_view collection) const;
};
inline constexpr std::size_t kMaxPgIdentifierBytes = 63;  // PostgreSQL's NAMEDATALEN - 1

struct Config {
  std::string data_dir = "./data";
  int base_port = 7100;
  std::string log_level = "info";
  WriterConfig writer;
  LogConfig log;
  ProjectorConfig projector;
  ReaderConfig reader;
  CacheConfig cache;
  SecurityConfig security;
  MirrorConfig mirror;
  PostgresConfig postgresql;
  MetricsConfig metrics;
  Limits limits;
  std::vector<CollectionSpec> collections;  // [[collections]]

  // The declaration of `collection`, or nullptr when it declares no read model.
  const CollectionSpec* FindCollection(std::string_view collection) const;
  // The declared read models in a canonical text (order of declaration does not matter): the
  // read store records it, and a projector that finds another one rebuilds the store.
  std::string ReadModelFingerprint() const;

  // tcp://127.0.0.1:<base_port + offset>, the endpoint plan of docs/PROTOCOL.md.
  std::string LoopbackEndpoint(int offset) const;
  // ipc://<absolute data dir>/<name>
  std::string DataIpcEndpoint(std::string_view name) const;
  std::string WriterEndpoint() const;
  std::string TickEndpoint() const;
  std::string EventsEndpoint() const;
  std::string ReplayEndpoint() const;
  std::string ProjectorTickEndpoint() const;
  std::uint32_t ReaderCount() const;
  std::string ReaderEndpoint(std::uint32_t index) const;
  std::vector<std::string> ReaderEndpoints() const;
  bool SecurityOn() const { return !security.server_key.empty(); }
  std::string PrincipalsPath() const;
};

// "<n>s", "<n>m", "<n>h" or "<n>d" in seconds; InvalidArgument naming the forms otherwise.
Result<std::uint64_t> ParseAge(std::string_view text);

// The declarations a fingerprint (Config::ReadModelFingerprint) was made from, so that a store
// built with other declarations can be kept up to date with its own while it is rebuilt.
// InvalidArgument if `fingerprint` is not one.
Result<std::vector<CollectionSpec>> ParseReadModelFingerprint(std::string_view fingerprint);

// Flags every process takes: --config FILE, --data DIR, --base-port P, --log-level L.
struct CommonFlags {
  std::string config_file;
  std::optional<std::string> data_dir;
  std::optional<int> base_port;
  std::optional<std::string> log_level;
};
void AddCommonFlags(CLI::App& app, CommonFlags* flags);

// Parses the command line of any cqrs binary. --help, and --version ("cqrs-writer 0.2.0"), print
// and give exit code 0; a usage error (unknown flag, missing or bad value) prints CLI11's message
// and gives 2, as every config error does. nullopt: parsed, carry on.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv);

// Parses a TOML file into `config` over its current values. Unknown keys are errors (a typo must
// not silently fall back to a default). InvalidArgument names the key; Unavailable if unreadable.
Status LoadConfigFile(const std::string& path, Config* config);

// Defaults, then the file named by --config, then the flags; validated.
Result<Config> ResolveConfig(const CommonFlags& flags);

// Checks ranges and cross-field rules. InvalidArgument naming the key.
Status ValidateConfig(const Config& config);

// The --nats and --stream flags of cqrs-mirror, cqrs-replica and `cqrs up` (empty: not given)
// over the config's [mirror], validated again. With `required`, InvalidArgument when no NATS
// servers are named at all.
Status ApplyNatsFlags(const std::string& nats, const std::string& stream, bool required,
                      Config* config);

std::string_view DurabilityName(Durability d);
std::optional<Durability> ParseDurability(std::string_view name);

}  // namespace cqrs
