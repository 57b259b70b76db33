// cqrs put/create/update/del (writes, then waits until readers serve them), get, scan, watch,
// dump, ping.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "base/clock.h"
#include "base/config.h"
#include "base/json.h"
#include "base/signals.h"
#include "cli/commands.h"
#include "cli/field_parse.h"
#include "cli/json_render.h"
#include "client/client.h"
#include "client/subscriber.h"
#include "store/read_store.h"
#include "store/record_format.h"
#include "wire/value_codec.h"

namespace cqrs::cli {
namespace {

// Endpoint flags shared by the commands that talk to the pipeline.
struct Endpoints {
  CommonFlags common;
  std::string writer;
  std::vector<std::string> readers;
  int timeout_ms = 5000;
  CurveFlags curve;

  void Add(CLI::App* cmd) {
    AddCommonFlags(*cmd, &common);
    curve.Add(*cmd);
    cmd->add_option("--writer", writer, "writer endpoint (default from --config / --base-port)");
    cmd->add_option("--reader,--readers", readers,
                    "reader endpoints, on any host (a replica's are readers too): repeatable or "
                    "comma-separated (default: the configured readers)")
        ->delimiter(',');
    cmd->add_option("--timeout", timeout_ms, "give up after this many ms")
        ->check(CLI::Range(1, 3600000))
        ->capture_default_str();
  }

  // The options for a Client, or the configuration error.
  Result<ClientOptions> Options() const {
    auto config = ResolveConfig(common);
    if (!config.ok()) return config.status();
    ClientOptions o;
    auto keys = curve.Load();
    if (!keys.ok()) return keys.status();
    o.curve = std::move(keys).value();
    o.writer_endpoint = writer.empty() ? config->WriterEndpoint() : writer;
    o.reader_endpoints = readers.empty() ? config->ReaderEndpoints() : readers;
    o.deadline = std::chrono::milliseconds(timeout_ms);
    o.attempt_timeout = std::chrono::milliseconds(std::min(timeout_ms, 1000));
    return o;
  }
};

int Fail(const Status& s, int code = 2) {
  std::fprintf(stderr, "cqrs: %s\n", s.message().c_str());
  return code;
}

int ExitFor(Code code) {
  if (code == Code::kOk) return 0;
  return code == Code::kUnavailable || code == Code::kDeadlineExceeded ? 3 : 1;
}

struct WriteCommand {
  Op op = Op::kUpsert;
  Endpoints endpoints;
  std::string collection, key;
  std::vector<std::string> fields, unset;
  std::uint64_t expected_version = 0;
  bool no_wait = false;
};

int RunWrite(const WriteCommand& c) {
  auto options = c.endpoints.Options();
  if (!options.ok()) return Fail(options.status());
  CommandSpec spec{c.op, c.collection, c.key, c.expected_version, {}};
  for (const std::string& arg : c.fields) {
    auto field = ParseFieldArg(arg);
    if (!field.ok()) return Fail(field.status());
    spec.fields.push_back(std::move(field).value());
  }
  for (const std::string& name : c.unset) spec.fields.push_back({name, std::monostate{}});
  auto client = Client::Connect(options.value());
  if (!client.ok()) return Fail(client.status());
  CommandResult r = client.value()->Execute(spec);
  std::string json = r.ToJson();
  if (r.ok() && !c.no_wait) {
    // Read your write: a reader answers only from a snapshot at or past the write's seq.
    ReadOptions read;
    read.min_seq = r.seq;
    read.wait = std::chrono::milliseconds(c.endpoints.timeout_ms);
    QueryResult q = client.value()->Get(c.collection, c.key, read);
    json.pop_back();
    if (q.status == Code::kOk || q.status == Code::kNotFound) {
      json += fmt::format(",\"visible_seq\":{}}}", q.seq);
    } else {
      json += ",\"visible_seq\":null}";
      std::fprintf(stderr, "cqrs: written, but not yet seen on a reader: %s: %s\n",
                   std::string(CodeName(q.status)).c_str(), q.message.c_str());
    }
  }
  std::cout << json << std::endl;
  if (r.indeterminate) return 3;
  return r.ok() ? 0 : 1;
}

void AddWrite(CLI::App& app, const char* name, const char* help, Op op, int* exit_code) {
  auto c = std::make_shared<WriteCommand>();
  c->op = op;
  CLI::App* cmd = app.add_subcommand(name, help);
  if (op == Op::kDelete)
    cmd->alias("del");  // the name before `delete` (Op::kDelete, Client::Delete)
  c->endpoints.Add(cmd);
  cmd->add_option("collection", c->collection, "collection, [a-z0-9_]{1,64}")->required();
  cmd->add_option("key", c->key, "key, 1..507 bytes")->required();
  if (op != Op::kDelete)
    cmd->add_option("fields", c->fields,
                    "name=value: n=5 int, x=1.5 double, b=true bool, h=0xff bytes, s='\"5\"' a "
                    "string that looks like a number, anything else a string");
  if (op == Op::kUpdate || op == Op::kUpsert)
    cmd->add_option("--unset", c->unset, "remove this field (repeatable)");
  if (op != Op::kCreate)
    cmd->add_option("--expect-version", c->expected_version,
                    "apply only at this version (0 for absent); VersionConflict otherwise");
  cmd->add_flag("--no-wait", c->no_wait, "do not wait until a reader serves the write");
  cmd->callback([c, exit_code] { *exit_code = RunWrite(*c); });
}

struct ReadCommand {
  Endpoints endpoints;
  std::string collection, key;
  std::vector<std::string> keys;  // get
  std::optional<std::uint64_t> min_seq;
  std::uint32_t wait_ms = 0;
  wire::ScanQuery scan;
  bool all = false;
};

ReadOptions ToReadOptions(const ReadCommand& c) {
  ReadOptions r;
  r.min_seq = c.min_seq.value_or(0);
  r.wait = std::chrono::milliseconds(c.wait_ms);
  return r;
}

std::string GetJson(const QueryResult& q) {
  std::string out = "{\"status\":";
  AppendJsonString(&out, CodeName(q.status));
  out += fmt::format(",\"seq\":{}", q.seq);
  if (!q.entities.empty()) out += ",\"entity\":" + EntityJson(q.entities[0]);
  if (!q.message.empty()) {
    out += ",\"message\":";
    AppendJsonString(&out, q.message);
  }
  return out + "}";
}

// One JSON line per key, in the order given (several keys leave in one QueryBatch). Exits with
// the code of the first key not Ok.
int RunGet(const ReadCommand& c) {
  auto options = c.endpoints.Options();
  if (!options.ok()) return Fail(options.status());
  auto client = Client::Connect(options.value());
  if (!client.ok()) return Fail(client.status());
  std::vector<QueryResult> results =
      client.value()->MultiGet(c.collection, c.keys, ToReadOptions(c));
  int code = 0;
  for (const QueryResult& q : results) {
    std::cout << GetJson(q) << "\n";
    if (code == 0) code = ExitFor(q.status);
  }
  std::cout << std::flush;
  return code;
}

// Prints each page of a Scan or Find as JSON lines; with --all follows `next`, else prints it.
template <typename PagedQuery>
int RunPages(const ReadCommand& c, PagedQuery query, const char* what) {
  auto options = c.endpoints.Options();
  if (!options.ok()) return Fail(options.status());
  auto client = Client::Connect(options.value());
  if (!client.ok()) return Fail(client.status());
  ReadOptions read = ToReadOptions(c);
  for (;;) {
    QueryResult q = client.value()->Query(query, read);
    if (!q.ok()) {
      std::fprintf(stderr, "cqrs: %s: %s: %s\n", what, std::string(CodeName(q.status)).c_str(),
                   q.message.c_str());
      return ExitFor(q.status);
    }
    for (const auto& e : q.entities) std::cout << EntityJson(e) << "\n";
    if (q.next.empty()) break;
    if (!c.all) {
      std::string next = "{\"next\":";
      AppendJsonString(&next, q.next);
      std::cout << next << "}\n";
      break;
    }
    query.after = q.next;
    read.min_seq = q.seq;  // later pages never come from an older snapshot
  }
  std::cout << std::flush;
  return 0;
}

int RunScan(ReadCommand& c) {
  c.scan.collection = c.collection;
  return RunPages(c, c.scan, "scan");
}

int RunFind(ReadCommand& c) {
  auto predicate = ParseFindArg(c.key);
  if (!predicate.ok()) return Fail(predicate.status());
  wire::FindQuery find{c.collection,  predicate->field, predicate->eq, predicate->lo,
                       predicate->hi, c.scan.after,     c.scan.limit};
  return RunPages(c, std::move(find), "find");
}

int RunAggregate(const ReadCommand& c) {
  auto options = c.endpoints.Options();
  if (!options.ok()) return Fail(options.status());
  auto client = Client::Connect(options.value());
  if (!client.ok()) return Fail(client.status());
  QueryResult q = client.value()->Aggregate(c.collection, c.key, ToReadOptions(c));
  if (!q.ok()) {
    std::fprintf(stderr, "cqrs: agg: %s: %s\n", std::string(CodeName(q.status)).c_str(),
                 q.message.c_str());
    return ExitFor(q.status);
  }
  for (const auto& g : q.groups) {
    std::string line = "{\"key\":";
    AppendJsonValue(&line, wire::ToView(g.key));
    line += fmt::format(",\"count\":{},\"sum\":", g.count);
    AppendJsonValue(&line, ValueView::Double(g.sum));
    std::cout << line << "}\n";
  }
  std::cout << std::flush;
  return 0;
}

void AddReads(CLI::App& app, int* exit_code) {
  auto get = std::make_shared<ReadCommand>();
  CLI::App* g = app.add_subcommand(
      "get", "read entities by key from a reader: a JSON line per key, in the order given");
  get->endpoints.Add(g);
  g->add_option("collection", get->collection, "collection")->required();
  g->add_option("keys", get->keys, "one or more keys (sent together in one batch)")->required();
  g->add_option("--min-seq", get->min_seq, "answer from a snapshot at or past this seq");
  g->add_option("--wait", get->wait_ms, "how long the reader may wait for --min-seq (ms)");
  g->callback([get, exit_code] { *exit_code = RunGet(*get); });

  auto scan = std::make_shared<ReadCommand>();
  CLI::App* s =
      app.add_subcommand("scan", "list a collection's entities in key order (JSON lines)");
  scan->endpoints.Add(s);
  s->add_option("collection", scan->collection, "collection")->required();
  s->add_option("--prefix", scan->scan.prefix, "keys starting with this");
  s->add_option("--start", scan->scan.start, "keys >= this");
  s->add_option("--end", scan->scan.end, "keys < this");
  s->add_option("--after", scan->scan.after, "keys > this (the `next` of a previous page)");
  s->add_option("--limit", scan->scan.limit, "entities per page (default: the reader's, 100)");
  s->add_flag("--all", scan->all, "follow `next` through every page");
  s->add_option("--min-seq", scan->min_seq, "answer from a snapshot at or past this seq");
  s->add_option("--wait", scan->wait_ms, "how long the reader may wait for --min-seq (ms)");
  s->callback([scan, exit_code] { *exit_code = RunScan(*scan); });

  auto find = std::make_shared<ReadCommand>();
  CLI::App* f = app.add_subcommand(
      "find",
      "entities by a declared index, in (value, key) order (JSON lines): field=value, or "
      "field=lo..hi (inclusive; lo.. and ..hi leave a side open)");
  find->endpoints.Add(f);
  f->add_option("collection", find->collection, "collection")->required();
  f->add_option("predicate", find->key, "field=value or field=lo..hi")->required();
  f->add_option("--after", find->scan.after, "the `next` of a previous page");
  f->add_option("--limit", find->scan.limit, "entities per page (default: the reader's, 100)");
  f->add_flag("--all", find->all, "follow `next` through every page");
  f->add_option("--min-seq", find->min_seq, "answer from a snapshot at or past this seq");
  f->add_option("--wait", find->wait_ms, "how long the reader may wait for --min-seq (ms)");
  f->callback([find, exit_code] { *exit_code = RunFind(*find); });

  auto agg = std::make_shared<ReadCommand>();
  CLI::App* a = app.add_subcommand(
      "agg", "every group of a declared aggregate: {\"key\":..,\"count\":..,\"sum\":..} lines");
  agg->endpoints.Add(a);
  a->add_option("collection", agg->collection, "collection")->required();
  a->add_option("name", agg->key, "aggregate name (config [[collections]] aggregates)")->required();
  a->add_option("--min-seq", agg->min_seq, "answer from a snapshot at or past this seq");
  a->add_option("--wait", agg->wait_ms, "how long the reader may wait for --min-seq (ms)");
  a->callback([agg, exit_code] { *exit_code = RunAggregate(*agg); });
}

struct WatchCommand {
  CommonFlags common;
  std::string collection, events, replay;
  std::uint64_t from_seq = 0;
  std::uint64_t count = 0;
  int rcvhwm = 100000;
  CurveFlags curve;
  std::string tenant;
};

int RunWatch(const WatchCommand& c) {
  auto config = ResolveConfig(c.common);
  if (!config.ok()) return Fail(config.status());
  SubscriberOptions o;
  o.events_endpoint = c.events.empty() ? config->EventsEndpoint() : c.events;
  o.replay_endpoint = c.replay.empty() ? config->ReplayEndpoint() : c.replay;
  o.collection = c.collection;
  o.from_seq = c.from_seq;
  o.rcvhwm = c.rcvhwm;
  o.tenant = c.tenant;
  auto keys = c.curve.Load();
  if (!keys.ok()) return Fail(keys.status());
  o.curve = std::move(keys).value();
  auto sub = Subscriber::Connect(o);
  if (!sub.ok()) return Fail(sub.status());
  const std::atomic<bool>& stop = InstallStopSignals();
  std::uint64_t printed = 0;
  int code = 0;
  while (!stop.load() && (c.count == 0 || printed < c.count)) {
    Status s = sub.value()->Poll(std::chrono::milliseconds(100), [&](const fb::Event& e) {
      if (c.count != 0 && printed >= c.count) return;
      std::fputs(EventJson(e).c_str(), stdout);
      std::fputc('\n', stdout);
      ++printed;
    });
    std::fflush(stdout);
    if (s.code() == Code::kOutOfRange) {  // the events asked for are gone: no retry helps
      std::fprintf(stderr, "cqrs watch: %s\n", s.message().c_str());
      code = 1;
      break;
    }
    if (!s.ok()) {
      std::fprintf(stderr, "cqrs watch: %s (retrying)\n", s.message().c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const auto& st = sub.value()->stats();
  std::fprintf(
      stderr,
      "cqrs watch: %llu events (%llu replayed), %llu gaps recovered, %llu duplicates "
      "dropped, last seq %llu\n",
      static_cast<unsigned long long>(st.delivered), static_cast<unsigned long long>(st.replayed),
      static_cast<unsigned long long>(st.gaps), static_cast<unsigned long long>(st.duplicates),
      static_cast<unsigned long long>(sub.value()->last_seq()));
  return code;
}

void AddWatch(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<WatchCommand>();
  CLI::App* w = app.add_subcommand(
      "watch", "print live events (JSON lines), each once and in order, recovering gaps");
  AddCommonFlags(*w, &c->common);
  w->add_option("collection", c->collection, "only this collection (default: all)");
  w->add_option("--from-seq", c->from_seq,
                "first replay every event from this seq (default: from now)");
  w->add_option("--count", c->count, "stop after this many events");
  w->add_option("--events", c->events, "events PUB endpoint (default base-port + 2)");
  w->add_option("--replay", c->replay, "replay endpoint (default base-port + 3)");
  w->add_option("--rcvhwm", c->rcvhwm, "SUB high-water mark (messages)")->capture_default_str();
  c->curve.Add(*w);
  w->add_option("--tenant", c->tenant,
                "with --key: the tenant of the key's principal (the feed's topics carry it)");
  w->callback([c, exit_code] { *exit_code = RunWatch(*c); });
}

struct DumpCommand {
  CommonFlags common;
  std::string read_dir;
};

// Every entity of a read store in (tenant, collection, key) order, then its checkpoint: two
// stores with equal dumps hold the same data.
int RunDump(const DumpCommand& c) {
  auto config = ResolveConfig(c.common);
  if (!config.ok()) return Fail(config.status());
  store::ReadStoreOptions o;
  o.dir =
      c.read_dir.empty() ? (std::filesystem::path(config->data_dir) / "read").string() : c.read_dir;
  o.read_only = true;
  auto store = store::ReadStore::Open(o);
  if (!store.ok()) return Fail(store.status(), 1);
  auto& s = *store.value();
  auto txn = store::Txn::BeginRead(s.env());
  if (!txn.ok()) return Fail(txn.status(), 1);
  std::map<std::uint32_t, std::pair<std::string, std::string>> names;  // ns → tenant, collection
  auto cursor = store::Cursor::Open(txn.value(), s.dbs().names);
  std::string_view k, v;
  for (Status st = cursor->Get(MDB_FIRST, &k, &v); st.ok(); st = cursor->Get(MDB_NEXT, &k, &v)) {
    std::uint32_t ns = 0;
    if (!store::ReadU32(v, &ns, "names").ok())
      return Fail(Status(Code::kInternal, "corrupt names"), 1);
    auto zero = k.find('\0');
    names[ns] = {std::string(k.substr(0, zero)), std::string(k.substr(zero + 1))};
  }
  std::map<std::string, std::string> lines;  // sort key → line
  auto entities = store::Cursor::Open(txn.value(), s.dbs().entities);
  for (Status st = entities->Get(MDB_FIRST, &k, &v); st.ok();
       st = entities->Get(MDB_NEXT, &k, &v)) {
    std::uint32_t ns = store::GetU32BE(reinterpret_cast<const std::uint8_t*>(k.data()));
    const auto& [tenant, collection] = names[ns];
    wire::EntityData e;
    e.collection = collection;
    e.key = std::string(k.substr(4));
    store::RecordHeader h;
    if (!store::ParseRecordHeader(v, &h)) return Fail(Status(Code::kInternal, "corrupt record"), 1);
    e.version = h.version;
    e.seq = h.seq;
    store::RecordFieldReader r(v);
    FieldView f;
    while (r.Next(&f)) e.fields.push_back({std::string(f.name), wire::ToValue(f.value)});
    std::string line = "{\"tenant\":";
    AppendJsonString(&line, tenant);
    line += "," + EntityJson(e).substr(1);
    lines[tenant + '\0' + collection + '\0' + e.key] = std::move(line);
  }
  for (const auto& [sort_key, line] : lines) std::cout << line << "\n";
  auto checkpoint = s.ReadCheckpoint(txn.value());
  if (!checkpoint.ok()) return Fail(checkpoint.status(), 1);
  std::cout << fmt::format("{{\"applied_seq\":{},\"applied_events\":{}}}", checkpoint->applied_seq,
                           checkpoint->applied_events)
            << std::endl;
  return 0;
}

void AddDump(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<DumpCommand>();
  CLI::App* d = app.add_subcommand("dump", "print a read store: every entity, then its checkpoint");
  AddCommonFlags(*d, &c->common);
  d->add_option("--read-dir", c->read_dir, "read store directory (default <data>/read)");
  d->callback([c, exit_code] { *exit_code = RunDump(*c); });
}

struct PingCommand {
  Endpoints endpoints;
  int count = 3;
};

// Round trips to one server on a DEALER of its own: `frame` sent `count` times, one at a time,
// each answer awaited up to `timeout_ms`. Prints "<name> <endpoint> min/avg/max ms <status> seq
// <seq>" or "... no answer". True if every one was answered.
bool PingOne(zmq::context_t& context, const ClientOptions& options, const std::string& name,
             const std::string& endpoint, std::span<const std::uint8_t> frame, bool query,
             const PingCommand& c) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  security::SecureClient(socket, options.curve);
  socket.connect(endpoint);
  std::vector<double> ms;
  std::string outcome;
  wire::AlignedBuffer aligned;
  for (int i = 0; i < c.count; ++i) {
    const std::uint64_t start = MonoNs();
    (void)socket.send(zmq::buffer(frame.data(), frame.size()), zmq::send_flags::dontwait);
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::message_t reply;
    if (zmq::poll(&item, 1, std::chrono::milliseconds(c.endpoints.timeout_ms)) <= 0 ||
        !socket.recv(reply, zmq::recv_flags::dontwait)) {
      std::printf("%-8s %s no answer within %d ms\n", name.c_str(), endpoint.c_str(),
                  c.endpoints.timeout_ms);
      return false;
    }
    ms.push_back(static_cast<double>(MonoNs() - start) / 1e6);
    auto bytes =
        aligned.AlignedView({static_cast<const std::uint8_t*>(reply.data()), reply.size()});
    Code code = Code::kInternal;
    std::uint64_t seq = 0;
    if (query) {
      wire::QueryReplyData r;
      if (wire::ParseQueryReply(bytes, &r).ok()) code = r.status, seq = r.seq;
    } else {
      wire::CommandReplyData r;
      if (wire::ParseCommandReply(bytes, &r).ok()) code = r.status, seq = r.seq;
    }
    outcome = fmt::format("{}{}", CodeName(code), query ? fmt::format(" seq {}", seq) : "");
  }
  double sum = 0;
  for (double m : ms) sum += m;
  std::printf("%-8s %s %.3f/%.3f/%.3f ms %s\n", name.c_str(), endpoint.c_str(),
              *std::min_element(ms.begin(), ms.end()), sum / static_cast<double>(ms.size()),
              *std::max_element(ms.begin(), ms.end()), outcome.c_str());
  return true;
}

// The writer gets a request with no commands (refused with InvalidArgument: an answer that
// writes nothing), each reader a Get of a key no one writes (NotFound, with the reader's seq).
int RunPing(const PingCommand& c) {
  auto options = c.endpoints.Options();
  if (!options.ok()) return Fail(options.status());
  zmq::context_t context;
  wire::CommandRequestEncoder commands;
  wire::QueryRequestEncoder queries;
  bool all = PingOne(context, *options, "writer", options->writer_endpoint,
                     commands.Encode("", 0, options->token, {}), false, c);
  for (std::size_t i = 0; i < options->reader_endpoints.size(); ++i)
    all &=
        PingOne(context, *options, fmt::format("reader{}", i), options->reader_endpoints[i],
                queries.Encode(0, options->token, 0, 0, wire::GetQuery{"ping", "~ping"}), true, c);
  return all ? 0 : 3;
}

void AddPing(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<PingCommand>();
  CLI::App* p = app.add_subcommand(
      "ping", "check that the writer and each reader answer, with round-trip times (min/avg/max)");
  c->endpoints.Add(p);
  p->add_option("--count", c->count, "round trips to each server")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  p->callback([c, exit_code] { *exit_code = RunPing(*c); });
}

}  // namespace

void AddClientCommands(CLI::App& app, int* exit_code) {
  AddWrite(app, "put", "create or merge fields into an entity (Upsert)", Op::kUpsert, exit_code);
  AddWrite(app, "create", "create an entity (AlreadyExists if present)", Op::kCreate, exit_code);
  AddWrite(app, "update", "merge fields into an entity (NotFound if absent)", Op::kUpdate,
           exit_code);
  AddWrite(app, "delete", "delete an entity (NotFound if absent); also `del`", Op::kDelete,
           exit_code);
  AddReads(app, exit_code);
  AddWatch(app, exit_code);
  AddDump(app, exit_code);
  AddPing(app, exit_code);
}

}  // namespace cqrs::cli
