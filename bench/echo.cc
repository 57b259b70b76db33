// cqrs_echo: the floor under a query round trip. A ROUTER that echoes every message back and a
// DEALER client that sends one message at a time and times each round trip, so a Get through a
// reader can be compared with the bare ZeroMQ cost on the same machine in the same run.
//
//   cqrs_echo --server ENDPOINT                      echo until SIGINT/SIGTERM
//   cqrs_echo --client ENDPOINT [--requests N] [--size BYTES] [--warmup N]
//                                                    one JSON line: round trips, p50/p90/p99 µs
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "base/clock.h"
#include "base/histogram.h"
#include "base/signals.h"

namespace {

constexpr const char* kUsage =
    "usage: cqrs_echo --server ENDPOINT\n"
    "       cqrs_echo --client ENDPOINT [--requests N (100000)] [--size BYTES (100)]"
    " [--warmup N (10000)]\n"
    "A ZeroMQ ROUTER echo server, and a DEALER client timing one round trip at a time.\n";

bool ParseCount(std::string_view text, std::uint64_t* out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && p == text.data() + text.size();
}

int Serve(const std::string& endpoint) {
  const std::atomic<bool>& stop = cqrs::InstallStopSignals();
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(endpoint);
  zmq::message_t id, body;
  while (!stop.load()) {
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    try {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw;
    }
    while (router.recv(id, zmq::recv_flags::dontwait)) {
      if (!id.more() || !router.recv(body)) continue;
      while (body.more()) (void)router.recv(body);  // only single-frame bodies are echoed whole
      router.send(id, zmq::send_flags::sndmore);
      router.send(body, zmq::send_flags::none);
    }
  }
  return 0;
}

int RunClient(const std::string& endpoint, std::uint64_t requests, std::uint64_t size,
              std::uint64_t warmup) {
  zmq::context_t context(1);
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(endpoint);
  std::string payload(size, 'x');
  zmq::message_t reply;
  cqrs::Histogram latency;
  const std::uint64_t begin = cqrs::MonoNs();
  std::uint64_t measured_from = begin;
  for (std::uint64_t i = 0; i < warmup + requests; ++i) {
    if (i == warmup) measured_from = cqrs::MonoNs();
    const std::uint64_t start = cqrs::MonoNs();
    dealer.send(zmq::buffer(payload), zmq::send_flags::none);
    if (!dealer.recv(reply)) {
      std::fprintf(stderr, "cqrs_echo: receive failed\n");
      return 1;
    }
    if (i >= warmup) latency.Record(cqrs::MonoNs() - start);
  }
  const double seconds = static_cast<double>(cqrs::MonoNs() - measured_from) / 1e9;
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  std::printf(
      "{\"round_trips\":%llu,\"size\":%llu,\"per_sec\":%.1f,\"latency_us\":{\"p50\":%.1f,"
      "\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}}\n",
      static_cast<unsigned long long>(requests), static_cast<unsigned long long>(size),
      static_cast<double>(requests) / seconds, us(latency.Percentile(0.5)),
      us(latency.Percentile(0.9)), us(latency.Percentile(0.99)), us(latency.Percentile(0.999)),
      us(latency.max()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server, client;
  std::uint64_t requests = 100000, size = 100, warmup = 10000;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "cqrs_echo: %s needs a value\n%s", argv[i], kUsage);
      return 2;
    }
    std::string_view value = argv[++i];
    bool ok = true;
    if (arg == "--server") {
      server = value;
    } else if (arg == "--client") {
      client = value;
    } else if (arg == "--requests") {
      ok = ParseCount(value, &requests) && requests > 0;
    } else if (arg == "--size") {
      ok = ParseCount(value, &size) && size <= (1u << 20);
    } else if (arg == "--warmup") {
      ok = ParseCount(value, &warmup);
    } else {
      std::fprintf(stderr, "cqrs_echo: unknown argument %s\n%s", argv[i - 1], kUsage);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "cqrs_echo: bad value '%s' for %s\n", argv[i], argv[i - 1]);
      return 2;
    }
  }
  if (server.empty() == client.empty()) {
    std::fprintf(stderr, "cqrs_echo: give exactly one of --server and --client\n%s", kUsage);
    return 2;
  }
  try {
    return server.empty() ? RunClient(client, requests, size, warmup) : Serve(server);
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "cqrs_echo: %s\n", e.what());
    return 1;
  }
}
