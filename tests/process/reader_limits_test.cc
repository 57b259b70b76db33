// A reader under a flood of queries parked on min_seq (issue #15, item 5): 1,500 queries padded
// to 900 KiB (the Verifier accepts bytes no offset reaches) wait for a seq the stopped projector
// has not applied. The reader's memory must stay within reader.max_waiting_bytes plus its
// batch, the queries beyond the bound are refused ResourceExhausted, other clients are answered
// meanwhile, and a min_seq beyond every committed seq is refused at once.
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>
#include <zmq.hpp>

#include "base/config.h"
#include "client/client.h"
#include "shm/control_block.h"
#include "tests/support/pipeline.h"
#include "wire/aligned_buffer.h"
#include "wire/query_codec.h"

namespace cqrs {
namespace {

std::uint64_t RssBytes(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

wire::QueryReplyData Parse(const zmq::message_t& frame) {
  wire::AlignedBuffer aligned;
  aligned.Assign(frame.data(), frame.size());
  wire::QueryReplyData r;
  REQUIRE(wire::ParseQueryReply(aligned.span(), &r).ok());
  return r;
}

#if defined(__SANITIZE_ADDRESS__)
// ASan keeps up to 256 MiB of freed memory in quarantine before it reuses any, with redzones
// and its own metadata on top (452 MiB at peak in one run, 675 MiB in a CI run under load): the
// bound that matters is the Release build's; this one still catches the 2.6 GB of the unbounded
// case.
constexpr std::uint64_t kAllocatorSlack = 1024u << 20;
#else
constexpr std::uint64_t kAllocatorSlack = 64u << 20;
#endif

}  // namespace

TEST_CASE("issue #15: queries parked on min_seq stay within reader.max_waiting_bytes",
          "[process][reader]") {
  constexpr std::uint64_t kMaxWaitingBytes = 16u << 20;
  testing::TempDir dir;
  testing::PipelineConfig config;
  config.durability = "nosync";
  config.readers = 1;
  config.reader_toml = fmt::format("max_waiting_bytes = {}\n", kMaxWaitingBytes);
  testing::Pipeline p(dir, config);
  p.StartUp();
  auto client = Client::Connect(p.client_options());
  REQUIRE(client.ok());
  REQUIRE(client.value()->Execute(Upsert("orders", "o1", {})).ok());
  REQUIRE(client.value()->Get("orders", "o1").ok());
  auto control = shm::ControlBlock::Attach(p.data_dir, CacheConfig().slots);
  REQUIRE(control.ok());
  const auto projector = static_cast<pid_t>(control->slot(shm::kProjectorSlot).pid.load());
  const auto reader = static_cast<pid_t>(control->slot(shm::kFirstReaderSlot).pid.load());
  REQUIRE(projector > 0);
  REQUIRE(reader > 0);

  // The projector stopped: the next write is committed but not applied.
  REQUIRE(kill(projector, SIGSTOP) == 0);
  CommandResult w = client.value()->Execute(Upsert("orders", "o2", {}));
  REQUIRE(w.ok());
  // A committed seq not applied in time: DeadlineExceeded (a client may try again later).
  ReadOptions wait_briefly;
  wait_briefly.min_seq = w.seq;
  wait_briefly.wait = std::chrono::milliseconds(50);
  QueryResult late = client.value()->Get("orders", "o2", wait_briefly);
  CHECK(late.status == Code::kDeadlineExceeded);
  CHECK_THAT(late.message, Catch::Contains(fmt::format("has not applied min_seq {}", w.seq)));
  const std::uint64_t baseline = RssBytes(reader);
  REQUIRE(baseline > 0);

  // A min_seq no write has reached yet is refused at once, naming both seqs.
  zmq::context_t context;
  zmq::socket_t attacker(context, zmq::socket_type::dealer);
  attacker.set(zmq::sockopt::linger, 0);
  attacker.set(zmq::sockopt::sndhwm, 0);
  attacker.connect(p.readers[0]);
  wire::QueryRequestEncoder encoder;
  auto far = encoder.Encode(1, "", std::uint64_t{1} << 62, 30000, wire::GetQuery{"orders", "o2"});
  attacker.send(zmq::buffer(far.data(), far.size()));
  zmq::message_t frame;
  REQUIRE(attacker.recv(frame));
  wire::QueryReplyData refused = Parse(frame);
  CHECK(refused.status == Code::kInvalidArgument);
  CHECK_THAT(refused.message,
             Catch::Contains(fmt::format("min_seq {} is beyond the last committed seq {}",
                                         std::uint64_t{1} << 62, w.seq)));

  const shm::AtomicU64& waited = control->slot(shm::kFirstReaderSlot).counters[shm::kWaited];
  const std::uint64_t waited_before = waited.load();
  // The flood: each query waits for w.seq (committed, so legitimate) for up to 30 s. A ZeroMQ
  // socket belongs to one thread: this one sends on `attacker` and reads its refusals until
  // every query was either refused or parked (the reader counts those it parks); the test's
  // thread meanwhile only samples the reader's memory and queries through its own client.
  constexpr int kQueries = 1500;
  std::atomic<std::uint64_t> exhausted{0}, unexpected{0};
  std::atomic<bool> flood_done{false};
  std::string unexpected_message;  // written by the flood thread, read after join
  std::thread flood([&] {
    auto drain = [&] {
      zmq::message_t reply;
      while (attacker.recv(reply, zmq::recv_flags::dontwait)) {
        wire::AlignedBuffer aligned;
        aligned.Assign(reply.data(), reply.size());
        wire::QueryReplyData r;
        if (wire::ParseQueryReply(aligned.span(), &r).ok() &&
            r.status == Code::kResourceExhausted &&
            r.message.find("reader.max_waiting_bytes") != std::string::npos) {
          ++exhausted;
        } else if (unexpected++ == 0) {
          unexpected_message = r.message;
        }
      }
    };
    std::string padded;
    for (int i = 0; i < kQueries; ++i) {
      auto q = encoder.Encode(100 + static_cast<std::uint64_t>(i), "", w.seq, 30000,
                              wire::GetQuery{"orders", "o2"});
      padded.assign(reinterpret_cast<const char*>(q.data()), q.size());
      padded.resize(900u << 10, '\0');
      attacker.send(zmq::buffer(padded));
      drain();
    }
    const auto flood_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (exhausted + unexpected + (waited.load() - waited_before) < kQueries &&
           std::chrono::steady_clock::now() < flood_deadline) {
      zmq::pollitem_t item{attacker.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      drain();
    }
    flood_done = true;
  });
  std::uint64_t peak = baseline;
  std::uint64_t others_answered = 0;
  ReadOptions fresh;
  fresh.min_seq = 0;  // what is applied: the stopped projector does not hold it up
  while (!flood_done) {
    peak = std::max(peak, RssBytes(reader));
    // Another client is answered throughout.
    if (client.value()->Get("orders", "o1", fresh).ok()) ++others_answered;
  }
  flood.join();
  INFO("first unexpected reply: " << unexpected_message);
  CHECK(unexpected == 0);
  const std::uint64_t parked = waited.load() - waited_before;
  CHECK(parked + exhausted == kQueries);
  INFO("reader RSS " << (baseline >> 20) << " MiB -> peak " << (peak >> 20) << " MiB; parked "
                     << parked << ", refused " << exhausted << ", others answered "
                     << others_answered);
  CHECK(parked >= 1);
  CHECK(parked * (900u << 10) <= kMaxWaitingBytes);
  CHECK(others_answered > 0);
  CHECK(peak - baseline <= kMaxWaitingBytes + 2 * (8u << 20) + kAllocatorSlack);

  // The projector resumes: every parked query is answered Ok at a seq >= its min_seq.
  REQUIRE(kill(projector, SIGCONT) == 0);
  std::uint64_t ok = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (ok < parked && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{attacker.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    while (attacker.recv(frame, zmq::recv_flags::dontwait)) {
      wire::QueryReplyData r = Parse(frame);
      INFO(r.message);
      REQUIRE(r.status == Code::kOk);
      CHECK(r.seq >= w.seq);
      ++ok;
    }
  }
  CHECK(ok == parked);
  CHECK(RssBytes(reader) - baseline <= kMaxWaitingBytes + 2 * (8u << 20) + kAllocatorSlack);
}

}  // namespace cqrs
