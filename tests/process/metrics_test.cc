// `cqrs metrics` under `cqrs up --metrics` (issue #21): /metrics parses as Prometheus text and
// moves under load, /healthz and /readyz answer, and `cqrs stats --check` names a process that
// is down.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <thread>

#include "client/client.h"
#include "tests/support/nats_server.h"  // FreeTcpPort
#include "tests/support/pipeline.h"
#include "tests/support/test_support.h"
#include "tests/support/writer_process.h"

namespace cqrs::testing {
namespace {

// GET `path` from 127.0.0.1:`port` with HTTP/1.0: {status, body}; {0, ""} if nothing answers.
std::pair<int, std::string> Get(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return {0, ""};
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[8192];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
    response.append(buf, static_cast<std::size_t>(n));
  close(fd);
  const std::size_t head_end = response.find("\r\n\r\n");
  if (response.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos) return {0, ""};
  return {std::stoi(response.substr(9, 3)), response.substr(head_end + 4)};
}

bool IsMetricName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != ':') return false;
  return true;
}

// Every sample line of a Prometheus text exposition, "name{labels}" → value; fails the test on a
// line that is neither a sample nor a # HELP / # TYPE comment naming a metric.
std::map<std::string, double> ParseExposition(const std::string& text) {
  std::map<std::string, double> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    REQUIRE(end != std::string::npos);  // every line ends with a newline
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    INFO(line);
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      REQUIRE(space != std::string::npos);
      CHECK(IsMetricName(rest.substr(0, space)));
      continue;
    }
    const std::size_t space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    const std::string series = line.substr(0, space), value = line.substr(space + 1);
    const std::size_t brace = series.find('{');
    CHECK(IsMetricName(series.substr(0, brace)));
    if (brace != std::string::npos) CHECK(series.back() == '}');
    char* parsed_end = nullptr;
    const double v = value == "+Inf" ? 1e300 : std::strtod(value.c_str(), &parsed_end);
    if (value != "+Inf") REQUIRE(parsed_end == value.c_str() + value.size());
    out[series] = v;
  }
  return out;
}

}  // namespace

TEST_CASE("cqrs metrics: /metrics parses and moves under load, /readyz, stats --check",
          "[process][metrics]") {
  TempDir dir;
  Pipeline p(dir);
  const int port = FreeTcpPort();
  p.StartUp({"--metrics", "127.0.0.1:" + std::to_string(port)});
  // The metrics server starts with the others: wait for it to answer.
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) {
    status = Get(port, "/healthz").first;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(status == 200);
  auto [ready_status, ready] = Get(port, "/readyz");
  CHECK(ready_status == 200);
  CHECK(ready == "ready\n");

  auto before = ParseExposition(Get(port, "/metrics").second);
  CHECK(before["cqrs_up"] == 1);
  bool writer_up = false;
  for (const auto& [name, value] : before)
    if (name.rfind("cqrs_process_up{role=\"writer\"", 0) == 0) writer_up = value == 1;
  CHECK(writer_up);

  auto client = Client::Connect(p.client_options()).value();
  for (int i = 0; i < 50; ++i)
    REQUIRE(client->Upsert("m", "k" + std::to_string(i), {{"n", std::int64_t{i}}}).ok());
  for (int i = 0; i < 20; ++i) REQUIRE(client->Get("m", "k" + std::to_string(i)).ok());
  auto after = ParseExposition(Get(port, "/metrics").second);
  CHECK(after["cqrs_writer_committed_seq"] >= before["cqrs_writer_committed_seq"] + 50);
  CHECK(after["cqrs_requests_total{role=\"writer\"}"] >=
        before["cqrs_requests_total{role=\"writer\"}"] + 50);
  // The writer's reply-latency histogram: cumulative buckets, +Inf equal to the count.
  double last = 0;
  for (const char* le : {"2e-06", "4e-06", "8e-06", "1.6e-05", "3.2e-05", "6.4e-05", "0.000128",
                         "0.000256", "0.000512", "0.001024", "0.002048", "0.004096", "0.008192",
                         "0.016384", "0.032768", "+Inf"}) {
    const std::string key =
        std::string("cqrs_reply_latency_seconds_bucket{role=\"writer\",le=\"") + le + "\"}";
    INFO(key);
    REQUIRE(after.count(key) == 1);
    CHECK(after[key] >= last);
    last = after[key];
  }
  CHECK(last == after["cqrs_reply_latency_seconds_count{role=\"writer\"}"]);
  CHECK(last >= 50);

  std::string flags;
  for (const std::string& f : p.common_flags()) flags += " " + f;
  auto [code, out] = RunCli("stats --check" + flags);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("processes alive"));

  // A reader stopped (SIGSTOP) for longer than a heartbeat's 2 s: --check names it; the other
  // reader keeps the pipeline ready.
  std::string reader_pid;
  for (const auto& [name, value] : after)
    if (name.rfind("cqrs_process_up{role=\"reader 0\",pid=\"", 0) == 0)
      reader_pid = name.substr(name.find("pid=\"") + 5, name.find("\"}") - name.find("pid=\"") - 5);
  REQUIRE(!reader_pid.empty());
  REQUIRE(kill(std::stoi(reader_pid), SIGSTOP) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  std::tie(code, out) = RunCli("stats --check" + flags);
  kill(std::stoi(reader_pid), SIGCONT);
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains("down: reader 0 (pid " + reader_pid + ")"));
}

}  // namespace cqrs::testing
