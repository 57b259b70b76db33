// NATS test support.
#include "tests/support/nats_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>
#include <vector>

#include "base/status.h"
#include "mirror/nats_link.h"
#include "projector/event_source.h"
#include "store/write_store.h"
#include "wire/log_segment.h"
#include "wire/protocol.h"

namespace cqrs::testing {
namespace {}  // namespace

int FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

namespace {

bool Accepts(const std::string& address, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

MirrorConfig LinkConfig(const std::string& url, const std::string& stream) {
  MirrorConfig m;
  m.nats = url;
  m.stream = stream;
  m.replicas = 1;
  return m;
}

}  // namespace

std::string NatsServerBinary() {
  for (const char* candidate : {"/usr/bin/nats-server", "/usr/sbin/nats-server"})
    if (access(candidate, X_OK) == 0) return candidate;
  FAIL("nats-server is not installed (scripts/install-deps installs Debian's nats-server)");
  return {};
}

NatsServer::NatsServer(const TempDir& dir, NatsNode node)
    : node_(std::move(node)),
      store_dir_(dir / node_.name),
      log_path_(dir / (node_.name + ".log")),
      port_(FreeTcpPort()) {
  if (!node_.config.empty()) {
    config_path_ = dir / (node_.name + ".conf");
    WriteFile(config_path_, node_.config);
  }
  Start();
}

NatsServer::~NatsServer() {
  if (process_ && process_->running()) {
    process_->Signal(SIGTERM);
    if (process_->Wait(std::chrono::seconds(10)) == -1) process_->Signal(SIGKILL);
  }
}

std::string NatsServer::url() const {
  return fmt::format("{}://{}:{}", node_.tls ? "tls" : "nats", node_.address, port_);
}

void NatsServer::Kill(int sig) {
  process_->Signal(sig);
  process_->Wait(std::chrono::seconds(10));
}

void NatsServer::Start() {
  std::vector<std::string> argv = node_.exec_prefix;
  for (const std::string& a :
       {NatsServerBinary(), std::string("-js"), std::string("-a"), node_.address, std::string("-p"),
        std::to_string(port_), std::string("-sd"), store_dir_, std::string("--server_name"),
        node_.name})
    argv.push_back(a);
  if (!config_path_.empty()) {
    argv.push_back("-c");
    argv.push_back(config_path_);
  }
  if (node_.cluster_port > 0) {
    const std::string own = fmt::format("{}:{}", node_.address, node_.cluster_port);
    std::string routes;
    for (const std::string& r : node_.routes)
      if (r != own) routes += fmt::format("{}nats://{}", routes.empty() ? "" : ",", r);
    for (const std::string& a :
         {std::string("--cluster_name"), std::string("cqrs-test"), std::string("--cluster"),
          "nats://" + own, std::string("--routes"), routes})
      argv.push_back(a);
  }
  process_ = std::make_unique<ChildProcess>(argv, log_path_);
  REQUIRE(WaitFor([&] { return Accepts(node_.address, port_); }, std::chrono::seconds(20)));
}

NatsCluster::NatsCluster(const TempDir& dir, const TestNetwork* network) {
  std::vector<NatsNode> nodes(3);
  std::vector<std::string> routes;
  for (int i = 0; i < 3; ++i) {
    NatsNode& n = nodes[static_cast<std::size_t>(i)];
    n.name = fmt::format("n{}", i);
    n.cluster_port = FreeTcpPort();
    if (network) {
      n.address = network->address(i);
      n.exec_prefix = network->Exec(i, {});
    }
    routes.push_back(fmt::format("{}:{}", n.address, n.cluster_port));
  }
  for (NatsNode& n : nodes) {
    n.routes = routes;
    nodes_.push_back(std::make_unique<NatsServer>(dir, n));
  }
  // JetStream answers once the nodes elected a meta leader: until then making a stream fails.
  MirrorConfig m = LinkConfig(urls(), "probe");
  m.replicas = 3;
  REQUIRE(WaitFor(
      [&] {
        auto link = mirror::NatsLink::Connect(m, "cqrs-test");
        if (!link.ok()) return false;
        if (!(*link)->EnsureStream("probe").ok()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          return false;
        }
        jsErrCode code = static_cast<jsErrCode>(0);
        js_DeleteStream((*link)->js(), "probe", nullptr, &code);
        return true;
      },
      std::chrono::seconds(60)));
}

std::string NatsCluster::urls(int except) const {
  std::string out;
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (static_cast<int>(i) != except) out += (out.empty() ? "" : ",") + nodes_[i]->url();
  return out;
}

int NatsCluster::StreamLeader(const std::string& stream) {
  auto link = mirror::NatsLink::Connect(LinkConfig(urls(), stream), "cqrs-test");
  if (!link.ok()) return -1;
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&info, (*link)->js(), stream.c_str(), nullptr, &code) != NATS_OK) return -1;
  int leader = -1;
  if (info->Cluster && info->Cluster->Leader)
    for (int i = 0; i < 3; ++i)
      if (fmt::format("n{}", i) == info->Cluster->Leader) leader = i;
  jsStreamInfo_Destroy(info);
  return leader;
}

StreamCheck CheckStream(const std::string& url, const std::string& stream,
                        const std::string& data_dir, bool through_log_end) {
  StreamCheck out;
  auto link = mirror::NatsLink::Connect(LinkConfig(url, stream), "cqrs-test");
  REQUIRE(link.ok());
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  REQUIRE(WaitFor(
      [&] {
        code = static_cast<jsErrCode>(0);
        if (js_GetStreamInfo(&info, (*link)->js(), stream.c_str(), nullptr, &code) == NATS_OK)
          return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return false;
      },
      std::chrono::seconds(30)));
  // A stale answer (below) may say FirstSeq 0, the state of an empty stream: JetStream numbers
  // messages from 1 (seen once in CI: reading message 0 is InvalidArgument).
  const std::uint64_t first = std::max<std::uint64_t>(info->State.FirstSeq, 1);
  std::uint64_t last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);

  store::WriteStoreOptions w;
  w.dir = (std::filesystem::path(data_dir) / "write").string();
  w.read_only = true;
  auto log = store::WriteStore::Open(w);
  REQUIRE(log.ok());
  // A node that was just cut off may answer the stream info from its own stale copy (seen once:
  // 489 messages, to event 1,494, where the last message held event 86,206): the stream's last
  // message, which the leader answers, bounds it too.
  REQUIRE(WaitFor(
      [&] {
        auto tip = (*link)->ReadTip((*log)->store_id());
        if (tip.ok()) last = std::max(last, tip->stream_seq);
        if (!tip.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return tip.ok();
      },
      std::chrono::seconds(30)));
  projector::LogEventSource source(**log);
  std::vector<wire::AlignedBuffer> from_log;
  wire::AlignedBuffer body;
  std::uint64_t next = 1;  // the event seq the next segment must start at
  for (std::uint64_t s = first; s <= last && last > 0; ++s) {
    natsMsg* msg = nullptr;
    natsStatus got = NATS_OK;
    // A cluster that just got a node back may answer "JetStream system temporarily unavailable"
    // (10008) for a while: retried for up to 30 s, like any other failure of the read.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    do {
      code = static_cast<jsErrCode>(0);
      got = js_GetMsg(&msg, (*link)->js(), stream.c_str(), s, nullptr, &code);
      if (got != NATS_OK) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (got != NATS_OK && std::chrono::steady_clock::now() < give_up);
    if (got != NATS_OK) {
      out.problem = fmt::format("stream seq {}: {}", s, mirror::NatsError(got, code));
      return out;
    }
    body.Assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
    ++out.messages;
    // The log's events from `next` on, as many bytes as the segment (which holds its events and
    // a little more): all of the segment's events, and at most one beyond.
    auto n = source.Read(next - 1, 1u << 20, body.size(), &from_log);
    REQUIRE(n.ok());
    wire::SegmentHeader h;
    std::size_t i = 0;
    Status checked = wire::ForEachSegmentEvent(
        body.span(), wire::kMaxTrustedFrameBytes, &h,
        [&](const fb::Event& e, std::span<const std::uint8_t> frame) {
          if (i >= n.value() || !std::equal(frame.begin(), frame.end(), from_log[i].span().begin(),
                                            from_log[i].span().end()))
            return Error(Code::kInternal, "event {} differs from the log's", e.seq());
          ++i;
          return OkStatus();
        });
    if (checked.ok() && h.first_seq != next)
      checked = Error(Code::kInternal, "segment {}..{} follows seq {}", h.first_seq, h.last_seq,
                      next - 1);
    if (!checked.ok()) {
      out.problem = fmt::format("stream seq {}: {}", s, checked.message());
      return out;
    }
    next = h.last_seq + 1;
  }
  out.last_seq = next - 1;
  store::Txn txn = store::Txn::BeginRead((*log)->env()).value();
  const std::uint64_t log_end = (*log)->LastSeq(txn).value();
  if (out.last_seq > log_end || (through_log_end && out.last_seq != log_end))
    out.problem = fmt::format("the stream ends at seq {}, the log at {}", out.last_seq, log_end);
  return out;
}

bool WaitStreamAt(const std::string& url, const std::string& stream, const std::string& data_dir,
                  std::uint64_t seq, std::chrono::milliseconds timeout) {
  store::WriteStoreOptions w;
  w.dir = (std::filesystem::path(data_dir) / "write").string();
  w.read_only = true;
  auto log = store::WriteStore::Open(w);
  REQUIRE(log.ok());
  const std::string store_id = (*log)->store_id();
  auto link = mirror::NatsLink::Connect(LinkConfig(url, stream), "cqrs-test");
  REQUIRE(link.ok());
  std::uint64_t at = 0;
  bool reached = WaitFor(
      [&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        auto tip = (*link)->ReadTip(store_id);
        if (tip.ok()) at = tip->last_seq;
        return tip.ok() && at >= seq;
      },
      timeout);
  INFO("the stream ends at seq " << at << ", waited for " << seq);
  return reached;
}

}  // namespace cqrs::testing
