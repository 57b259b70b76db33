// cqrs up (the whole pipeline) and cqrs load (a load generator).
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>

#include "base/config.h"
#include "base/signals.h"
#include "cli/commands.h"
#include "cli/load.h"
#include "cli/supervisor.h"

namespace cqrs::cli {
namespace {

struct UpCommand {
  CommonFlags common;
  std::optional<std::uint32_t> readers;
  std::string bin_dir;
  bool quiet = false;
};

int RunUp(const UpCommand& c) {
  auto config = ResolveConfig(c.common);
  if (!config.ok()) {
    std::fprintf(stderr, "cqrs up: %s\n", config.status().message().c_str());
    return 2;
  }
  SupervisorOptions o;
  o.bin_dir = c.bin_dir.empty() ? Supervisor::SelfDirectory() : c.bin_dir;
  o.readers = c.readers.value_or(config->ReaderCount());
  if (o.readers < 1 || o.readers > 56) {
    std::fprintf(stderr, "cqrs up: --readers must be in 1..56\n");
    return 2;
  }
  o.status_line = !c.quiet;
  if (!c.common.config_file.empty())
    o.pass.insert(o.pass.end(), {"--config", c.common.config_file});
  o.pass.insert(o.pass.end(),
                {"--data", config->data_dir, "--base-port", std::to_string(config->base_port),
                 "--log-level", config->log_level});
  const std::atomic<bool>& stop = InstallStopSignals();
  Supervisor supervisor(std::move(config).value(), std::move(o));
  return supervisor.Run(stop);
}

struct LoadCommand {
  CommonFlags common;
  std::string writer;
  std::vector<std::string> readers;
  std::string mix = "put=100";
  std::string distribution = "uniform";
  LoadOptions options;
  bool json = false;
};

int RunLoadCommand(LoadCommand& c) {
  auto config = ResolveConfig(c.common);
  if (!config.ok()) {
    std::fprintf(stderr, "cqrs load: %s\n", config.status().message().c_str());
    return 2;
  }
  c.options.writer_endpoint = c.writer.empty() ? config->WriterEndpoint() : c.writer;
  c.options.reader_endpoints = c.readers.empty() ? config->ReaderEndpoints() : c.readers;
  auto mix = ParseMix(c.mix);
  if (!mix.ok()) {
    std::fprintf(stderr, "cqrs load: %s\n", mix.status().message().c_str());
    return 2;
  }
  c.options.mix = mix.value();
  if (Status s = ParseDistribution(c.distribution, &c.options); !s.ok()) {
    std::fprintf(stderr, "cqrs load: %s\n", s.message().c_str());
    return 2;
  }
  auto report = RunLoad(
      c.options, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
  if (!report.ok()) {
    std::fprintf(stderr, "cqrs load: %s\n", report.status().message().c_str());
    return report.status().code() == Code::kInvalidArgument ? 2 : 1;
  }
  std::cout << (c.json ? report->ToJson() : report->ToText()) << std::endl;
  return 0;
}

}  // namespace

void AddUpCommand(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<UpCommand>();
  CLI::App* up = app.add_subcommand(
      "up", "start writer, projector and readers; restart any that dies; Ctrl-C stops all");
  AddCommonFlags(*up, &c->common);
  up->add_option("--readers", c->readers, "reader processes (default: config reader.count, 2)");
  up->add_option("--bin-dir", c->bin_dir, "where the cqrs-* binaries are (default: next to cqrs)");
  up->add_flag("--quiet", c->quiet, "no status line");
  up->callback([c, exit_code] { *exit_code = RunUp(*c); });
}

void AddLoadCommand(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<LoadCommand>();
  CLI::App* cmd = app.add_subcommand(
      "load",
      "load generator: N pipelined clients running a mix of put, get, scan and rmw "
      "(read-your-write); closed loop, or open loop with --rate");
  AddCommonFlags(*cmd, &c->common);
  LoadOptions& o = c->options;
  cmd->add_option("--writer", c->writer, "writer endpoint (default from --config / --base-port)");
  cmd->add_option("--reader", c->readers, "reader endpoint, repeatable (default: configured)");
  cmd->add_option("--mix", c->mix,
                  "weights: put (Upsert), get (Get from any snapshot), scan (a page of "
                  "--scan-limit from a key), rmw (Upsert, then Get at its seq; adds the "
                  "command-to-visible row), e.g. put=20,get=80")
      ->capture_default_str();
  cmd->add_option("--clients", o.clients, "connections, each with its own client id")
      ->capture_default_str();
  cmd->add_option("--threads", o.threads,
                  "threads serving the connections (default: min(clients, 2))");
  cmd->add_option("--pipeline", o.pipeline, "operations in flight per connection")
      ->capture_default_str();
  cmd->add_option("--requests", o.requests, "total operations (default: run for --duration)");
  cmd->add_option("--duration", o.duration_s, "seconds to measure")->capture_default_str();
  cmd->add_option("--warmup", o.warmup_s, "seconds before measuring")->capture_default_str();
  cmd->add_option("--rate", o.rate,
                  "open loop: operations per second over all connections, latency counted from "
                  "when each was due (0: closed loop)")
      ->capture_default_str();
  cmd->add_option("--keys", o.keys, "key space: keys k0000000000..")->capture_default_str();
  cmd->add_option(
         "--distribution", c->distribution,
         "uniform, zipf (theta 0.99), zipf:THETA (theta in (0, 1)), or sequential (each key in "
         "turn: --requests K --keys K fills the key space)")
      ->capture_default_str();
  cmd->add_option("--value-size", o.value_size, "bytes per value")->capture_default_str();
  cmd->add_option("--scan-limit", o.scan_limit, "entities per scan")->capture_default_str();
  cmd->add_option("--collection", o.collection, "collection to use")->capture_default_str();
  cmd->add_flag("--json", c->json, "print the result as one line of JSON");
  cmd->callback([c, exit_code] { *exit_code = RunLoadCommand(*c); });
}

}  // namespace cqrs::cli
