// Loading and validating the TOML configuration with toml11.
#include "base/config.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <set>
#include <toml.hpp>

#include "base/names.h"
#include "base/pg_config.h"
#include "base/status.h"
#include "base/toml_reader.h"
#include "base/version.h"

namespace cqrs {
namespace {

Status ReadWriter(const toml::value& table, WriterConfig* w) {
  TableReader r(table, "writer.");
  r.Read("endpoint", &w->endpoint);
  r.Read("tick_endpoint", &w->tick_endpoint);
  r.Read("durability", &w->durability);
  r.Read("map_size_mb", &w->map_size_mb);
  r.Read("max_map_size_mb", &w->max_map_size_mb);
  r.Read("batch_max_requests", &w->batch_max_requests);
  r.Read("shed_overload", &w->shed_overload);
  r.Read("batch_max_bytes", &w->batch_max_bytes);
  r.Read("reader_check_ms", &w->reader_check_ms);
  r.Read("client_expiry_s", &w->client_expiry_s);
  r.Read("checkpoint_interval_events", &w->checkpoint_interval_events);
  r.Read("checkpoint_interval_s", &w->checkpoint_interval_s);
  r.Read("max_message_bytes", &w->max_message_bytes);
  return r.Finish();
}

Status ReadLog(const toml::value& table, LogConfig* l) {
  TableReader r(table, "log.");
  r.Read("keep", &l->keep);
  r.Read("keep_events", &l->keep_events);
  r.Read("step_events", &l->step_events);
  CQRS_RETURN_IF_ERROR(r.Finish());
  if (l->keep.empty()) return OkStatus();
  auto seconds = ParseAge(l->keep);
  if (!seconds.ok())
    return Error(Code::kInvalidArgument, "config log.keep {}", seconds.status().message());
  l->keep_s = seconds.value();
  return OkStatus();
}

Status ReadProjector(const toml::value& table, ProjectorConfig* p) {
  TableReader r(table, "projector.");
  r.Read("events_endpoint", &p->events_endpoint);
  r.Read("replay_endpoint", &p->replay_endpoint);
  r.Read("tick_endpoint", &p->tick_endpoint);
  r.Read("events_sndhwm", &p->events_sndhwm);
  r.Read("batch_max_events", &p->batch_max_events);
  r.Read("map_size_mb", &p->map_size_mb);
  r.Read("max_map_size_mb", &p->max_map_size_mb);
  r.Read("heartbeat_ms", &p->heartbeat_ms);
  r.Read("poll_ms", &p->poll_ms);
  r.Read("reader_check_ms", &p->reader_check_ms);
  r.Read("sync_read_store", &p->sync_read_store);
  return r.Finish();
}

Status ReadCache(const toml::value& table, CacheConfig* c) {
  TableReader r(table, "cache.");
  r.Read("slots", &c->slots);
  r.Read("fill_ms", &c->fill_ms);
  return r.Finish();
}

Status ReadSecurity(const toml::value& table, SecurityConfig* c) {
  TableReader r(table, "security.");
  r.Read("server_key", &c->server_key);
  r.Read("principals", &c->principals);
  r.Read("handshake_timeout_ms", &c->handshake_timeout_ms);
  return r.Finish();
}

Status ReadMetrics(const toml::value& table, MetricsConfig* m) {
  TableReader r(table, "metrics.");
  r.Read("listen", &m->listen);
  r.Read("ready_max_lag_events", &m->ready_max_lag_events);
  return r.Finish();
}

Status ReadMirror(const toml::value& table, MirrorConfig* m) {
  TableReader r(table, "mirror.");
  r.Read("nats", &m->nats);
  r.Read("stream", &m->stream);
  r.Read("subject", &m->subject);
  r.Read("replicas", &m->replicas);
  r.Read("max_message_bytes", &m->max_message_bytes);
  r.Read("publish_timeout_ms", &m->publish_timeout_ms);
  r.Read("user", &m->user);
  r.Read("password_file", &m->password_file);
  r.Read("nkey", &m->nkey);
  r.Read("nkey_seed_file", &m->nkey_seed_file);
  r.Read("tls_ca", &m->tls_ca);
  r.Read("tls_cert", &m->tls_cert);
  r.Read("tls_key", &m->tls_key);
  return r.Finish();
}

// A NATS subject token or stream name: letters, digits, '_' and '-' (no '.', wildcards or
// separators), 1..64 characters.
bool IsNatsToken(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

Status ValidateMirror(const MirrorConfig& m, const Limits& l) {
  auto bad = [](std::string_view key, std::string_view rule) {
    return Error(Code::kInvalidArgument, "config mirror.{} {}", key, rule);
  };
  if (!m.on()) return OkStatus();
  for (const std::string& url : m.Servers()) {
    std::string_view u = url;
    std::size_t scheme = u.find("://");
    std::string_view name = scheme == std::string_view::npos ? u : u.substr(0, scheme);
    if (scheme == std::string_view::npos || (name != "nats" && name != "tls") ||
        u.size() == scheme + 3)
      return bad("nats",
                 fmt::format("server '{}' is not nats://host:port or tls://host:port", url));
  }
  if (!IsNatsToken(m.stream))
    return bad("stream", "must be 1..64 letters, digits, '_' or '-' (a JetStream stream name)");
  if (!m.subject.empty()) {
    std::string_view rest = m.subject;
    if (rest.size() > 255) return bad("subject", "must be at most 255 characters");
    for (;;) {
      std::size_t dot = rest.find('.');
      if (!IsNatsToken(rest.substr(0, dot)))
        return bad("subject",
                   "must be tokens of letters, digits, '_' or '-' joined by '.' (no wildcards)");
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
  }
  if (m.replicas < 1 || m.replicas > 5) return bad("replicas", "must be in 1..5");
  // An event is an entity's fields and a few names: the largest fits in one message.
  const std::uint64_t least = std::uint64_t{l.max_entity_bytes} + 4096;
  if (m.max_message_bytes < least || m.max_message_bytes > (8u << 20))
    return bad("max_message_bytes",
               fmt::format("must be in {}..8388608 (limits.max_entity_bytes + 4096: the largest "
                           "event fits in one message)",
                           least));
  if (m.publish_timeout_ms < 100 || m.publish_timeout_ms > 600000)
    return bad("publish_timeout_ms", "must be in 100..600000");
  if (m.user.empty() != m.password_file.empty())
    return bad(m.user.empty() ? "user" : "password_file",
               "must be set together with mirror.user and mirror.password_file");
  if (m.nkey.empty() != m.nkey_seed_file.empty())
    return bad(m.nkey.empty() ? "nkey" : "nkey_seed_file",
               "must be set together with mirror.nkey and mirror.nkey_seed_file");
  if (!m.nkey.empty() && !m.user.empty())
    return bad("nkey", "and mirror.user are two ways to log in: set one");
  if (!m.nkey.empty() && (m.nkey.size() != 56 || m.nkey[0] != 'U' ||
                          !std::all_of(m.nkey.begin(), m.nkey.end(), [](char c) {
                            return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
                          })))
    return bad("nkey", "must be an nkey user's public key: 'U' and 55 more of A-Z, 2-7");
  if (m.tls_cert.empty() != m.tls_key.empty())
    return bad(m.tls_cert.empty() ? "tls_cert" : "tls_key",
               "must be set together with mirror.tls_cert and mirror.tls_key");
  const std::vector<std::string> servers = m.Servers();
  const bool tls = std::any_of(servers.begin(), servers.end(),
                               [](const std::string& u) { return u.starts_with("tls://"); });
  if ((tls || !m.tls_cert.empty()) && m.tls_ca.empty())
    return bad("tls_ca",
               "must name the CA file that the NATS servers' certificates are checked "
               "against (tls:// servers or a client certificate)");
  return OkStatus();
}

Status ReadReader(const toml::value& table, ReaderConfig* q) {
  TableReader r(table, "reader.");
  r.Read("endpoints", &q->endpoints);
  r.Read("count", &q->count);
  r.Read("default_timeout_ms", &q->default_timeout_ms);
  r.Read("max_timeout_ms", &q->max_timeout_ms);
  r.Read("default_scan_limit", &q->default_scan_limit);
  r.Read("max_scan_limit", &q->max_scan_limit);
  r.Read("max_reply_bytes", &q->max_reply_bytes);
  r.Read("batch_max_queries", &q->batch_max_queries);
  r.Read("max_waiting", &q->max_waiting);
  r.Read("max_waiting_bytes", &q->max_waiting_bytes);
  r.Read("min_seq_slack", &q->min_seq_slack);
  return r.Finish();
}

Status ReadLimits(const toml::value& table, Limits* l) {
  TableReader r(table, "limits.");
  r.Read("max_request_bytes", &l->max_request_bytes);
  r.Read("max_commands", &l->max_commands);
  r.Read("max_key_bytes", &l->max_key_bytes);
  r.Read("max_fields", &l->max_fields);
  r.Read("max_entity_bytes", &l->max_entity_bytes);
  r.Read("max_client_id_bytes", &l->max_client_id_bytes);
  r.Read("max_token_bytes", &l->max_token_bytes);
  r.Read("remembered_replies", &l->remembered_replies);
  return r.Finish();
}

}  // namespace

std::string Config::LoopbackEndpoint(int offset) const {
  return fmt::format("tcp://127.0.0.1:{}", base_port + offset);
}

std::string Config::WriterEndpoint() const {
  return writer.endpoint.empty() ? LoopbackEndpoint(1) : writer.endpoint;
}

std::string Config::DataIpcEndpoint(std::string_view name) const {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(data_dir, ec);
  if (ec) dir = data_dir;
  return fmt::format("ipc://{}", (dir.lexically_normal() / name).string());
}

std::string Config::PrincipalsPath() const {
  return security.principals.empty()
             ? (std::filesystem::path(data_dir) / "principals.toml").string()
             : security.principals;
}

std::string Config::TickEndpoint() const {
  return writer.tick_endpoint.empty() ? DataIpcEndpoint("writer.tick") : writer.tick_endpoint;
}

std::string Config::EventsEndpoint() const {
  return projector.events_endpoint.empty() ? LoopbackEndpoint(2) : projector.events_endpoint;
}

std::string Config::ReplayEndpoint() const {
  return projector.replay_endpoint.empty() ? LoopbackEndpoint(3) : projector.replay_endpoint;
}

std::string Config::ProjectorTickEndpoint() const {
  return projector.tick_endpoint.empty() ? DataIpcEndpoint("projector.tick")
                                         : projector.tick_endpoint;
}

std::uint32_t Config::ReaderCount() const {
  return reader.endpoints.empty() ? reader.count
                                  : static_cast<std::uint32_t>(reader.endpoints.size());
}

std::string Config::ReaderEndpoint(std::uint32_t index) const {
  if (index < reader.endpoints.size()) return reader.endpoints[index];
  return LoopbackEndpoint(10 + static_cast<int>(index));
}

std::vector<std::string> Config::ReaderEndpoints() const {
  std::vector<std::string> out;
  for (std::uint32_t i = 0; i < ReaderCount(); ++i) out.push_back(ReaderEndpoint(i));
  return out;
}

void AddCommonFlags(CLI::App& app, CommonFlags* flags) {
  app.add_option("--config", flags->config_file, "TOML configuration file (flags override it)")
      ->check(CLI::ExistingFile);
  app.add_option("--data", flags->data_dir, "data directory (default ./data)");
  app.add_option("--base-port", flags->base_port,
                 "move every default endpoint: writer P+1, events P+2, replay P+3, readers P+10+i "
                 "(default 7100)")
      ->check(CLI::Range(1, 65000));
  app.add_option("--log-level", flags->log_level, "trace, debug, info, warn, error (default info)");
}

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv) {
  const std::string name = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "cqrs";
  app.set_version_flag("--version", name + " " + CQRS_VERSION_STRING);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // CLI11's own codes are 105..114
  }
  return std::nullopt;
}

Status ReadCollections(const toml::array& tables, std::vector<CollectionSpec>* out) {
  out->clear();
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const std::string prefix = fmt::format("collections[{}].", i);
    TableReader r(tables[i], prefix);
    CollectionSpec& c = out->emplace_back();
    r.Read("name", &c.name);
    r.Read("indexes", &c.indexes);
    if (const toml::array* aggregates = r.Tables("aggregates")) {
      for (std::size_t j = 0; j < aggregates->size(); ++j) {
        TableReader a((*aggregates)[j], fmt::format("{}aggregates[{}].", prefix, j));
        AggregateSpec& spec = c.aggregates.emplace_back();
        a.Read("name", &spec.name);
        a.Read("group_by", &spec.group_by);
        a.Read("sum", &spec.sum);
        r.Adopt(a.Finish());
      }
    }
    CQRS_RETURN_IF_ERROR(r.Finish());
  }
  return OkStatus();
}

Status ValidateCollections(const std::vector<CollectionSpec>& collections) {
  auto bad = [](std::size_t i, std::string_view rule) {
    return Error(Code::kInvalidArgument, "config collections[{}] {}", i, rule);
  };
  if (collections.size() > kMaxCollectionSpecs)
    return Error(Code::kInvalidArgument, "config collections declares more than {} collections",
                 kMaxCollectionSpecs);
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < collections.size(); ++i) {
    const CollectionSpec& c = collections[i];
    if (!IsValidCollectionName(c.name))
      return bad(i, fmt::format("name '{}' is not a collection name ([a-z0-9_]{{1,64}})", c.name));
    if (!names.insert(c.name).second)
      return bad(i, fmt::format("declares '{}' a second time", c.name));
    if (c.indexes.size() > kMaxIndexesPerCollection)
      return bad(i, fmt::format("has more than {} indexes", kMaxIndexesPerCollection));
    std::set<std::string_view> fields;
    for (const auto& f : c.indexes) {
      if (!IsValidFieldName(f))
        return bad(
            i, fmt::format("index '{}' is not a field name ([A-Za-z_][A-Za-z0-9_]{{0,63}})", f));
      if (!fields.insert(f).second) return bad(i, fmt::format("indexes '{}' twice", f));
    }
    if (c.aggregates.size() > kMaxAggregatesPerCollection)
      return bad(i, fmt::format("has more than {} aggregates", kMaxAggregatesPerCollection));
    std::set<std::string_view> aggregates;
    for (const auto& a : c.aggregates) {
      if (!IsValidFieldName(a.name))
        return bad(i,
                   fmt::format("aggregate name '{}' is not [A-Za-z_][A-Za-z0-9_]{{0,63}}", a.name));
      if (!aggregates.insert(a.name).second)
        return bad(i, fmt::format("declares aggregate '{}' twice", a.name));
      if (!IsValidFieldName(a.group_by))
        return bad(
            i, fmt::format("aggregate '{}' group_by '{}' is not a field name", a.name, a.group_by));
      if (!a.sum.empty() && !IsValidFieldName(a.sum))
        return bad(i, fmt::format("aggregate '{}' sum '{}' is not a field name", a.name, a.sum));
    }
  }
  return OkStatus();
}

Status LoadConfigFile(const std::string& path, Config* config) {
  toml::value root;
  CQRS_RETURN_IF_ERROR(ParseTomlFile(path, "config ", &root));
  TableReader r(root, "");
  r.Read("data", &config->data_dir);
  r.Read("base_port", &config->base_port);
  r.Read("log_level", &config->log_level);
  if (const toml::value* w = r.Table("writer")) r.Adopt(ReadWriter(*w, &config->writer));
  if (const toml::value* l = r.Table("log")) r.Adopt(ReadLog(*l, &config->log));
  if (const toml::value* p = r.Table("projector")) r.Adopt(ReadProjector(*p, &config->projector));
  if (const toml::value* q = r.Table("reader")) r.Adopt(ReadReader(*q, &config->reader));
  if (const toml::value* k = r.Table("cache")) r.Adopt(ReadCache(*k, &config->cache));
  if (const toml::value* k = r.Table("security")) r.Adopt(ReadSecurity(*k, &config->security));
  if (const toml::value* m = r.Table("mirror")) r.Adopt(ReadMirror(*m, &config->mirror));
  if (const toml::value* g = r.Table("postgresql")) r.Adopt(ReadPostgres(*g, &config->postgresql));
  if (const toml::value* m = r.Table("metrics")) r.Adopt(ReadMetrics(*m, &config->metrics));
  if (const toml::value* l = r.Table("limits")) r.Adopt(ReadLimits(*l, &config->limits));
  if (const toml::array* c = r.Tables("collections"))
    r.Adopt(ReadCollections(*c, &config->collections));
  Status s = r.Finish();
  if (!s.ok()) return Status(s.code(), fmt::format("{}: {}", path, s.message()));
  return OkStatus();
}

Result<Config> ResolveConfig(const CommonFlags& flags) {
  Config config;
  if (!flags.config_file.empty()) CQRS_RETURN_IF_ERROR(LoadConfigFile(flags.config_file, &config));
  if (flags.data_dir) config.data_dir = *flags.data_dir;
  if (flags.base_port) config.base_port = *flags.base_port;
  if (flags.log_level) config.log_level = *flags.log_level;
  CQRS_RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

Result<std::uint64_t> ParseAge(std::string_view text) {
  std::uint64_t n = 0;
  const char* end = text.data() + text.size();
  auto [unit, ec] = std::from_chars(text.data(), end, n);
  std::uint64_t scale = 0;
  if (ec == std::errc() && unit + 1 == end) {
    switch (*unit) {
      case 's':
        scale = 1;
        break;
      case 'm':
        scale = 60;
        break;
      case 'h':
        scale = 3600;
        break;
      case 'd':
        scale = 86400;
        break;
      default:
        break;
    }
  }
  // At most 100 years: the product stays far from overflowing nanoseconds.
  if (scale == 0 || n == 0 || n > 100ull * 365 * 86400 / scale)
    return Error(Code::kInvalidArgument,
                 "'{}' must be a positive age like \"90s\", \"30m\", \"12h\" or \"7d\" (at "
                 "most 100 years)",
                 text);
  return n * scale;
}

Status ParseListenAddress(std::string_view text, std::string_view what, std::string* host,
                          int* port) {
  const std::size_t colon = text.rfind(':');
  int p = 0;
  const char* end = text.data() + text.size();
  if (colon == std::string_view::npos || colon == 0 ||
      std::from_chars(text.data() + colon + 1, end, p).ptr != end || p < 1 || p > 65535)
    return Error(Code::kInvalidArgument, "{} '{}' must be HOST:PORT with a port in 1..65535", what,
                 text);
  std::string_view h = text.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  *host = std::string(h);
  *port = p;
  return OkStatus();
}

Status ValidateConfig(const Config& c) {
  auto bad = [](std::string_view key, std::string_view rule) {
    return Error(Code::kInvalidArgument, "config {} {}", key, rule);
  };
  if (c.data_dir.empty()) return bad("data", "must not be empty");
  if (c.base_port < 1 || c.base_port > 65000) return bad("base_port", "must be in 1..65000");
  if (c.cache.slots > (1u << 22) || (c.cache.slots & (c.cache.slots - 1)) != 0)
    return bad("cache.slots", "must be 0 or a power of 2 up to 4194304 (2 GiB)");
  if (c.cache.fill_ms > 60000) return bad("cache.fill_ms", "must be in 0..60000");
  if (c.security.handshake_timeout_ms < 100 || c.security.handshake_timeout_ms > 600000)
    return bad("security.handshake_timeout_ms", "must be in 100..600000");
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!kLevels.count(c.log_level))
    return bad("log_level", "must be trace, debug, info, warn, error or off");
  const Limits& l = c.limits;
  if (l.max_request_bytes < 64) return bad("limits.max_request_bytes", "must be at least 64");
  if (l.max_commands < 1) return bad("limits.max_commands", "must be at least 1");
  if (l.max_key_bytes < 1 || l.max_key_bytes > kMaxStorableKeyBytes)
    return bad("limits.max_key_bytes",
               fmt::format("must be in 1..{} (LMDB's key size less the namespace prefix)",
                           kMaxStorableKeyBytes));
  if (l.max_fields < 1 || l.max_fields > 65535)
    return bad("limits.max_fields", "must be in 1..65535");
  if (l.max_entity_bytes < 64) return bad("limits.max_entity_bytes", "must be at least 64");
  if (l.max_client_id_bytes < 1 || l.max_client_id_bytes > 255)
    return bad("limits.max_client_id_bytes", "must be in 1..255");
  if (l.remembered_replies < 1024) return bad("limits.remembered_replies", "must be at least 1024");
  if (c.log.step_events < 1 || c.log.step_events > 1'000'000)
    return bad("log.step_events", "must be in 1..1000000");
  const WriterConfig& w = c.writer;
  if (w.map_size_mb < 1) return bad("writer.map_size_mb", "must be at least 1");
  if (w.max_map_size_mb < w.map_size_mb)
    return bad("writer.max_map_size_mb", "must be at least writer.map_size_mb");
  if (w.batch_max_requests < 1) return bad("writer.batch_max_requests", "must be at least 1");
  if (w.batch_max_bytes < l.max_request_bytes)
    return bad("writer.batch_max_bytes", "must be at least limits.max_request_bytes");
  if (w.reader_check_ms < 10) return bad("writer.reader_check_ms", "must be at least 10");
  if (w.client_expiry_s < 1 || w.client_expiry_s > 10ull * 365 * 24 * 3600)
    return bad("writer.client_expiry_s", "must be in 1..315360000 (10 years)");
  if (w.max_message_bytes < l.max_request_bytes)
    return bad("writer.max_message_bytes", "must be at least limits.max_request_bytes");
  const ProjectorConfig& p = c.projector;
  if (p.batch_max_events < 1) return bad("projector.batch_max_events", "must be at least 1");
  if (p.map_size_mb < 1) return bad("projector.map_size_mb", "must be at least 1");
  if (p.max_map_size_mb < p.map_size_mb)
    return bad("projector.max_map_size_mb", "must be at least projector.map_size_mb");
  if (p.heartbeat_ms < 10 || p.heartbeat_ms > 10000)
    return bad("projector.heartbeat_ms", "must be in 10..10000");
  if (p.poll_ms < 10) return bad("projector.poll_ms", "must be at least 10");
  if (p.reader_check_ms < 10) return bad("projector.reader_check_ms", "must be at least 10");
  const ReaderConfig& q = c.reader;
  if (q.endpoints.empty() && (q.count < 1 || q.count > 56))
    return bad("reader.count", "must be in 1..56");
  if (q.endpoints.size() > 56) return bad("reader.endpoints", "holds at most 56 endpoints");
  if (q.default_timeout_ms < 1 || q.default_timeout_ms > q.max_timeout_ms)
    return bad("reader.default_timeout_ms", "must be in 1..reader.max_timeout_ms");
  if (q.default_scan_limit < 1 || q.default_scan_limit > q.max_scan_limit)
    return bad("reader.default_scan_limit", "must be in 1..reader.max_scan_limit");
  if (q.max_reply_bytes < (64u << 10))
    return bad("reader.max_reply_bytes", "must be at least 65536 (one entity)");
  if (q.batch_max_queries < 1) return bad("reader.batch_max_queries", "must be at least 1");
  if (q.max_waiting_bytes < (1u << 20))
    return bad("reader.max_waiting_bytes", "must be at least 1048576 (one request)");
  if (c.metrics.on()) {
    std::string host;
    int port = 0;
    CQRS_RETURN_IF_ERROR(
        ParseListenAddress(c.metrics.listen, "config metrics.listen", &host, &port));
  }
  if (c.metrics.ready_max_lag_events < 1)
    return bad("metrics.ready_max_lag_events", "must be at least 1");
  CQRS_RETURN_IF_ERROR(ValidateMirror(c.mirror, l));
  CQRS_RETURN_IF_ERROR(ValidatePostgres(c.postgresql));
  return ValidateCollections(c.collections);
}

std::vector<std::string> MirrorConfig::Servers() const {
  std::vector<std::string> out;
  if (nats.empty()) return out;
  std::string_view rest = nats;
  for (;;) {
    std::size_t comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    out.emplace_back(one);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

const std::vector<CollectionSpec>& NoCollectionSpecs() {
  static const std::vector<CollectionSpec> none;
  return none;
}

const AggregateSpec* CollectionSpec::FindAggregate(std::string_view aggregate) const {
  for (const auto& a : aggregates)
    if (a.name == aggregate) return &a;
  return nullptr;
}

bool CollectionSpec::HasIndex(std::string_view field) const {
  return std::find(indexes.begin(), indexes.end(), field) != indexes.end();
}

const CollectionSpec* FindCollectionSpec(const std::vector<CollectionSpec>& specs,
                                         std::string_view collection) {
  for (const auto& c : specs)
    if (c.name == collection) return &c;
  return nullptr;
}

const CollectionSpec* Config::FindCollection(std::string_view collection) const {
  return FindCollectionSpec(collections, collection);
}

namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  if (s.empty()) return out;
  for (std::size_t at = 0;;) {
    std::size_t next = s.find(sep, at);
    out.push_back(
        s.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at));
    if (next == std::string_view::npos) return out;
    at = next + 1;
  }
}

}  // namespace

Result<std::vector<CollectionSpec>> ParseReadModelFingerprint(std::string_view fingerprint) {
  std::vector<CollectionSpec> out;
  auto bad = [&] {
    return Error(Code::kInvalidArgument, "'{}' is not a read-model fingerprint", fingerprint);
  };
  for (std::string_view part : Split(fingerprint, '|')) {
    auto colon = part.find(":i=");
    auto semi = part.find(";a=");
    if (colon == std::string_view::npos || semi == std::string_view::npos || semi < colon)
      return bad();
    CollectionSpec& c = out.emplace_back();
    c.name = std::string(part.substr(0, colon));
    for (std::string_view f : Split(part.substr(colon + 3, semi - colon - 3), ','))
      c.indexes.emplace_back(f);
    std::string_view aggs = part.substr(semi + 3);
    while (!aggs.empty()) {  // name(group_by,sum) separated by ','
      auto open = aggs.find('('), close = aggs.find(')');
      if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return bad();
      std::string_view inner = aggs.substr(open + 1, close - open - 1);
      auto comma = inner.find(',');
      if (comma == std::string_view::npos) return bad();
      c.aggregates.push_back({std::string(aggs.substr(0, open)),
                              std::string(inner.substr(0, comma)),
                              std::string(inner.substr(comma + 1))});
      aggs = aggs.substr(close + 1);
      if (!aggs.empty()) {
        if (aggs[0] != ',') return bad();
        aggs = aggs.substr(1);
      }
    }
  }
  CQRS_RETURN_IF_ERROR(ValidateCollections(out));
  return out;
}

std::string Config::ReadModelFingerprint() const {
  std::vector<std::string> parts;
  for (const auto& c : collections) {
    std::vector<std::string> items(c.indexes.begin(), c.indexes.end());
    std::sort(items.begin(), items.end());
    std::vector<std::string> aggs;
    for (const auto& a : c.aggregates)
      aggs.push_back(fmt::format("{}({},{})", a.name, a.group_by, a.sum));
    std::sort(aggs.begin(), aggs.end());
    if (items.empty() && aggs.empty()) continue;
    parts.push_back(
        fmt::format("{}:i={};a={}", c.name, fmt::join(items, ","), fmt::join(aggs, ",")));
  }
  std::sort(parts.begin(), parts.end());
  return fmt::format("{}", fmt::join(parts, "|"));
}

std::string_view DurabilityName(Durability d) { return d == Durability::kSync ? "sync" : "nosync"; }

std::optional<Durability> ParseDurability(std::string_view name) {
  if (name == "sync") return Durability::kSync;
  if (name == "nosync") return Durability::kNoSync;
  return std::nullopt;
}

Status ApplyNatsFlags(const std::string& nats, const std::string& stream, bool required,
                      Config* config) {
  if (!nats.empty()) config->mirror.nats = nats;
  if (!stream.empty()) config->mirror.stream = stream;
  if (!nats.empty() || !stream.empty()) CQRS_RETURN_IF_ERROR(ValidateConfig(*config));
  if (required && !config->mirror.on())
    return Error(Code::kInvalidArgument,
                 "no NATS servers: set [mirror] nats in the config, or --nats");
  return OkStatus();
}

}  // namespace cqrs
