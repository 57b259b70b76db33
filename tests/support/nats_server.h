// Test support for the NATS JetStream mirror: a real nats-server (Debian's, JetStream on, file
// storage in a temp dir, loopback only) that the test starts and stops, and a check of the
// event log's stream against the log itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/test_network.h"
#include "tests/support/test_support.h"

namespace cqrs::testing {

// The nats-server binary (PATH, then /usr/sbin); REQUIREs that it exists.
std::string NatsServerBinary();

struct NatsNode {
  std::string name = "nats";
  // A node of a JetStream cluster named "cqrs-test": its own cluster port, and every node's
  // "address:cluster port" (its own among them).
  int cluster_port = 0;
  std::vector<std::string> routes;
  std::string config;  // nats-server configuration text (tls, authorization), in <name>.conf
  bool tls = false;    // url() is tls://
  std::string address = "127.0.0.1";
  std::vector<std::string> exec_prefix;  // e.g. TestNetwork::Exec's: run in another host
};

class NatsServer {
 public:
  // Starts `nats-server -js` on node.address at a free port, storing under <dir>/<name>; waits
  // until it accepts connections. Its output goes to <dir>/<name>.log.
  explicit NatsServer(const TempDir& dir, NatsNode node = {});
  ~NatsServer();
  std::string url() const;  // nats://<address>:<port> (tls:// with tls)
  int port() const { return port_; }
  void Kill(int sig);
  void Start();  // again, on the same port and store

 private:
  NatsNode node_;
  std::string store_dir_, log_path_, config_path_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// Three NatsServer nodes forming one JetStream cluster, on loopback or each in a host of
// `network`; waits until a client can make a stream of 3 replicas (a meta leader is elected).
class NatsCluster {
 public:
  explicit NatsCluster(const TempDir& dir, const TestNetwork* network = nullptr);
  std::string urls(int except = -1) const;  // every node's (but `except`'s), comma-separated
  NatsServer& node(int i) { return *nodes_[static_cast<std::size_t>(i)]; }
  // The node (0..2) that leads `stream`'s replicas now, or -1.
  int StreamLeader(const std::string& stream);

 private:
  std::vector<std::unique_ptr<NatsServer>> nodes_;
};

// A free TCP port on 127.0.0.1 (bound to 0, read back, released).
int FreeTcpPort();

// What the stream holds, checked against the log.
struct StreamCheck {
  std::string problem;  // empty: the stream is a gap-free, overlap-free copy of the log
  std::uint64_t messages = 0;
  std::uint64_t last_seq = 0;  // of the last event in the stream
};

// Reads every message of `stream` (subject <stream>.log) at `url` and checks that the messages'
// segments are contiguous from seq 1 (no gap, no overlap), each event equal byte for byte to the
// log's at <data_dir>/write, and that the stream ends at the log's last seq when
// `through_log_end` (else at most there).
StreamCheck CheckStream(const std::string& url, const std::string& stream,
                        const std::string& data_dir, bool through_log_end = true);

// Waits up to `timeout` for the stream's last segment (of the write store at <data_dir>) to end
// at `seq` or later; returns that it did.
bool WaitStreamAt(const std::string& url, const std::string& stream, const std::string& data_dir,
                  std::uint64_t seq, std::chrono::milliseconds timeout);

}  // namespace cqrs::testing
