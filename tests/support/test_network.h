// "Other hosts" for tests: network namespaces joined by a bridge in the test's own namespace,
// made by the test and removed by it (also those a killed test left). Traffic stays on the
// bridge: each host has one address on a /24 of 10.x.y.0 that only these namespaces use.
#pragma once

#include <string>
#include <vector>

namespace cqrs::testing {

class TestNetwork {
 public:
  // Whether namespaces can be made here (root, `ip`); if not, `why` says what is missing. Under
  // CI=true a test must fail rather than skip when they cannot (RequireOrSkip).
  static bool Available(std::string* why);
  // True when the test may go on; false (after a warning) when it should be skipped on a
  // developer's machine; fails the test under CI=true.
  static bool RequireOrSkip();

  // Makes `hosts` namespaces, host i with address 10.x.y.(2+i) on its "eth0", a veth into the
  // bridge, which holds 10.x.y.1 in this namespace.
  explicit TestNetwork(int hosts);
  ~TestNetwork();
  TestNetwork(const TestNetwork&) = delete;
  TestNetwork& operator=(const TestNetwork&) = delete;

  int hosts() const { return static_cast<int>(names_.size()); }
  const std::string& address(int host) const { return addresses_[static_cast<std::size_t>(host)]; }
  const std::string& ns(int host) const { return names_[static_cast<std::size_t>(host)]; }
  // `argv` run inside host `host`: ip netns exec <ns> argv...
  std::vector<std::string> Exec(int host, std::vector<std::string> argv) const;
  // Cuts (false) or restores (true) host `host`'s only link: its eth0 goes down or up.
  void SetLink(int host, bool up);

 private:
  std::string prefix_;  // cq<pid>x<n>: every name made starts with it
  std::string bridge_;
  std::vector<std::string> names_, addresses_;
};

}  // namespace cqrs::testing
