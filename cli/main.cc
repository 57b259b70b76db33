// cqrs: the command-line tool. Subcommands: put, create, update, del (one line of JSON each),
// load (a load generator). Processes run as their own binaries (cqrs-writer).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "base/config.h"
#include "cli/field_parse.h"
#include "cli/load.h"
#include "client/client.h"

namespace {

using namespace cqrs;

// Flags shared by the subcommands that talk to the writer.
struct WriterFlags {
  CommonFlags common;
  std::string writer;     // overrides the config's writer endpoint
  int timeout_ms = 5000;  // give up (indeterminate) after this long
};

void AddWriterFlags(CLI::App* cmd, WriterFlags* f) {
  AddCommonFlags(*cmd, &f->common);
  cmd->add_option("--writer", f->writer, "writer endpoint (default from --config / --base-port)");
}

Result<std::string> WriterEndpoint(const WriterFlags& f) {
  if (!f.writer.empty()) return f.writer;
  auto config = ResolveConfig(f.common);
  if (!config.ok()) return config.status();
  return config->WriterEndpoint();
}

struct WriteCommand {
  Op op;
  WriterFlags flags;
  std::string collection;
  std::string key;
  std::vector<std::string> fields;
  std::vector<std::string> unset;
  std::uint64_t expected_version = 0;
};

// Exit codes: 0 Ok, 1 definite failure, 2 usage or bad input, 3 indeterminate.
int RunWrite(const WriteCommand& c) {
  auto endpoint = WriterEndpoint(c.flags);
  if (!endpoint.ok()) {
    std::fprintf(stderr, "cqrs: %s\n", endpoint.status().message().c_str());
    return 2;
  }
  CommandSpec spec{c.op, c.collection, c.key, c.expected_version, {}};
  for (const std::string& arg : c.fields) {
    auto field = cli::ParseFieldArg(arg);
    if (!field.ok()) {
      std::fprintf(stderr, "cqrs: %s\n", field.status().message().c_str());
      return 2;
    }
    spec.fields.push_back(std::move(field).value());
  }
  for (const std::string& name : c.unset) spec.fields.push_back({name, std::monostate{}});
  ClientOptions options;
  options.writer_endpoint = endpoint.value();
  options.deadline = std::chrono::milliseconds(c.flags.timeout_ms);
  options.attempt_timeout = std::chrono::milliseconds(std::min(c.flags.timeout_ms, 1000));
  auto client = Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "cqrs: %s\n", client.status().message().c_str());
    return 2;
  }
  CommandResult r = client.value()->Execute(spec);
  std::cout << r.ToJson() << std::endl;
  if (r.indeterminate) return 3;
  return r.ok() ? 0 : 1;
}

void AddWriteCommand(CLI::App& app, const char* name, const char* help, Op op,
                     std::vector<std::unique_ptr<WriteCommand>>& keep, int* exit_code) {
  auto c = std::make_unique<WriteCommand>();
  c->op = op;
  CLI::App* cmd = app.add_subcommand(name, help);
  AddWriterFlags(cmd, &c->flags);
  cmd->add_option("collection", c->collection, "collection, [a-z0-9_]{1,64}")->required();
  cmd->add_option("key", c->key, "key, 1..507 bytes")->required();
  if (op != Op::kDelete) {
    cmd->add_option("fields", c->fields,
                    "name=value: n=5 int, x=1.5 double, b=true bool, h=0xff bytes, s='\"5\"' "
                    "string that looks like a number, anything else a string");
  }
  if (op == Op::kUpdate || op == Op::kUpsert)
    cmd->add_option("--unset", c->unset, "remove this field (repeatable)");
  if (op != Op::kCreate && op != Op::kUpsert)
    cmd->add_option("--expect-version", c->expected_version,
                    "apply only if the entity is at this version (VersionConflict otherwise)");
  if (op == Op::kUpsert)
    cmd->add_option("--expect-version", c->expected_version,
                    "apply only if the entity is at this version (0 for absent)");
  cmd->add_option("--timeout", c->flags.timeout_ms, "give up after this many ms (exit 3)")
      ->check(CLI::Range(1, 3600000));
  WriteCommand* raw = c.get();
  cmd->callback([raw, exit_code] { *exit_code = RunWrite(*raw); });
  keep.push_back(std::move(c));
}

void AddLoadCommand(CLI::App& app, cli::LoadOptions* o, WriterFlags* flags, bool* json,
                    int* exit_code) {
  CLI::App* cmd = app.add_subcommand("load", "write load: N pipelined clients upserting values");
  AddWriterFlags(cmd, flags);
  cmd->add_option("--clients", o->clients, "concurrent clients (threads)")->capture_default_str();
  cmd->add_option("--pipeline", o->pipeline, "requests in flight per client")
      ->capture_default_str();
  cmd->add_option("--requests", o->requests, "total requests (default: run for --duration)");
  cmd->add_option("--duration", o->duration_s, "seconds to measure")->capture_default_str();
  cmd->add_option("--warmup", o->warmup_s, "seconds before measuring")->capture_default_str();
  cmd->add_option("--keys", o->keys, "key space (uniform)")->capture_default_str();
  cmd->add_option("--value-size", o->value_size, "bytes per value")->capture_default_str();
  cmd->add_option("--collection", o->collection, "collection to write")->capture_default_str();
  cmd->add_flag("--json", *json, "print the result as one line of JSON");
  cmd->callback([o, flags, json, exit_code] {
    auto endpoint = WriterEndpoint(*flags);
    if (!endpoint.ok()) {
      std::fprintf(stderr, "cqrs load: %s\n", endpoint.status().message().c_str());
      *exit_code = 2;
      return;
    }
    o->writer_endpoint = endpoint.value();
    auto report = cli::RunLoad(
        *o, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
    if (!report.ok()) {
      std::fprintf(stderr, "cqrs load: %s\n", report.status().message().c_str());
      *exit_code = report.status().code() == Code::kInvalidArgument ? 2 : 1;
      return;
    }
    std::cout << (*json ? report->ToJson() : report->ToText()) << std::endl;
    *exit_code = 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cqrs: command-line client of a cqrs pipeline"};
  app.require_subcommand(1);
  int exit_code = 0;
  std::vector<std::unique_ptr<WriteCommand>> writes;
  AddWriteCommand(app, "put", "create or merge fields into an entity (Upsert)", Op::kUpsert, writes,
                  &exit_code);
  AddWriteCommand(app, "create", "create an entity (AlreadyExists if present)", Op::kCreate, writes,
                  &exit_code);
  AddWriteCommand(app, "update", "merge fields into an entity (NotFound if absent)", Op::kUpdate,
                  writes, &exit_code);
  AddWriteCommand(app, "del", "delete an entity (NotFound if absent)", Op::kDelete, writes,
                  &exit_code);
  cli::LoadOptions load;
  WriterFlags load_flags;
  bool json = false;
  AddLoadCommand(app, &load, &load_flags, &json, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
