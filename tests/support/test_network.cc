// Network namespaces for tests.
#include "tests/support/test_network.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tests/support/test_support.h"

namespace cqrs::testing {
namespace {

std::atomic<int> next_network{0};

// Runs `command` with sh; returns its exit status (no REQUIRE: cleanup must go on).
int Quiet(const std::string& command) {
  return std::system((command + " > /dev/null 2>&1").c_str());
}

// Removes the namespaces and bridges of test processes that are gone (names cq<pid>x...).
void RemoveStale() {
  FILE* pipe = popen("ip netns list 2>/dev/null; ip -o link show type bridge 2>/dev/null", "r");
  if (pipe == nullptr) return;
  std::string all;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) all.append(buf, n);
  pclose(pipe);
  std::istringstream lines(all);
  std::string line;
  while (std::getline(lines, line)) {
    // "cq123x0h1 (id: 3)" or "42: cq123x0br: <...>"
    std::size_t at = line.find("cq");
    if (at == std::string::npos || (at != 0 && line.compare(at - 2, 2, ": ") != 0)) continue;
    std::size_t end = line.find_first_of(" :@", at);
    std::string name = line.substr(at, end == std::string::npos ? std::string::npos : end - at);
    const pid_t pid = static_cast<pid_t>(std::atoi(name.c_str() + 2));
    if (pid <= 0 || kill(pid, 0) == 0) continue;
    if (at == 0)
      Quiet("ip netns del " + name);
    else
      Quiet("ip link del " + name);
  }
}

}  // namespace

bool TestNetwork::Available(std::string* why) {
  if (geteuid() != 0) {
    *why = "not root (network namespaces need CAP_NET_ADMIN)";
    return false;
  }
  const std::string probe = fmt::format("cq{}probe", getpid());
  if (Quiet("ip netns add " + probe) != 0) {
    *why = "`ip netns add` failed (no iproute2, or no permission here)";
    return false;
  }
  Quiet("ip netns del " + probe);
  return true;
}

bool TestNetwork::RequireOrSkip() {
  std::string why;
  if (Available(&why)) return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") FAIL("CI=true: cannot make test hosts: " << why);
  WARN("skipped: cannot make network namespaces for the test's hosts: " << why);
  return false;
}

TestNetwork::TestNetwork(int hosts) {
  RemoveStale();
  const int n = next_network.fetch_add(1);
  prefix_ = fmt::format("cq{}x{}", getpid(), n);
  bridge_ = prefix_ + "br";
  // 10.(100 + pid % 100).(n % 250).0/24: distinct per test process and network.
  const std::string subnet = fmt::format("10.{}.{}", 100 + getpid() % 100, n % 250);
  RunShell(
      fmt::format("ip link add {0} type bridge && ip addr add {1}.1/24 dev {0} && "
                  "ip link set {0} up",
                  bridge_, subnet));
  for (int i = 0; i < hosts; ++i) {
    const std::string ns = fmt::format("{}h{}", prefix_, i);
    const std::string outer = fmt::format("{}v{}", prefix_, i);
    const std::string inner = fmt::format("{}p{}", prefix_, i);
    const std::string address = fmt::format("{}.{}", subnet, 2 + i);
    RunShell(
        fmt::format("ip netns add {ns} && ip -n {ns} link set lo up && "
                    "ip link add {outer} type veth peer name {inner} && "
                    "ip link set {inner} netns {ns} && ip -n {ns} link set {inner} name eth0 && "
                    "ip -n {ns} addr add {address}/24 dev eth0 && ip -n {ns} link set eth0 up && "
                    "ip link set {outer} master {bridge} && ip link set {outer} up",
                    fmt::arg("ns", ns), fmt::arg("outer", outer), fmt::arg("inner", inner),
                    fmt::arg("address", address), fmt::arg("bridge", bridge_)));
    names_.push_back(ns);
    addresses_.push_back(address);
  }
}

TestNetwork::~TestNetwork() {
  for (const std::string& ns : names_) Quiet("ip netns del " + ns);  // takes its veth along
  Quiet("ip link del " + bridge_);
}

std::vector<std::string> TestNetwork::Exec(int host, std::vector<std::string> argv) const {
  static const std::string ip = [] {
    for (const char* candidate : {"/usr/bin/ip", "/bin/ip", "/usr/sbin/ip", "/sbin/ip"})
      if (access(candidate, X_OK) == 0) return std::string(candidate);
    return std::string("ip");
  }();
  std::vector<std::string> out = {ip, "netns", "exec", ns(host)};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

void TestNetwork::SetLink(int host, bool up) {
  RunShell(fmt::format("ip -n {} link set eth0 {}", ns(host), up ? "up" : "down"));
}

}  // namespace cqrs::testing
