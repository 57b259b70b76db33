// The history-recording client and the judge of its histories.
#include "tests/faults/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "base/clock.h"
#include "store/key_format.h"
#include "store/write_store.h"
#include "wire/aligned_buffer.h"
#include "wire/command_codec.h"
#include "wire/protocol.h"

namespace cqrs::faults {
namespace {

constexpr std::uint64_t kMinBackoffNs = 5'000'000;
constexpr std::uint64_t kMaxBackoffNs = 200'000'000;

}  // namespace

HistoryCounts& HistoryCounts::operator+=(const HistoryCounts& o) {
  commands += o.commands;
  acked += o.acked;
  failed += o.failed;
  pending += o.pending;
  indeterminate += o.indeterminate;
  retryable += o.retryable;
  out_of_order += o.out_of_order;
  reconnects += o.reconnects;
  resent += o.resent;
  return *this;
}

HistoryClient::HistoryClient(zmq::context_t& context, HistoryOptions options)
    : context_(context), options_(std::move(options)) {
  if (options_.req_socket) options_.window = 1;
}

void HistoryClient::OpenSocket() {
  socket_ = std::make_unique<zmq::socket_t>(
      context_, options_.req_socket ? zmq::socket_type::req : zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->connect(options_.endpoint);
  std::fill(awaiting_.begin(), awaiting_.end(), 0);
  in_flight_ = 0;
}

void HistoryClient::Send(std::size_t index, const Workload& workload) {
  thread_local wire::CommandRequestEncoder encoder;
  CommandSpec command = workload(index);
  auto bytes = encoder.Encode(options_.client_id, index + 1, "", {&command, 1});
  Record& r = records_[index];
  if (r.attempts++ > 0) ++resent_;
  sent_ns_[index] = MonoNs();
  if (!awaiting_[index]) ++in_flight_;
  awaiting_[index] = 1;
  (void)socket_->send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::none);
}

void HistoryClient::HandleReply(const zmq::message_t& frame) {
  wire::AlignedBuffer buffer;
  buffer.Assign(frame.data(), frame.size());
  wire::CommandReplyData reply;
  if (!wire::ParseCommandReply(buffer.span(), &reply).ok()) return;
  if (reply.request_id == 0 || reply.request_id > records_.size()) return;
  std::size_t index = reply.request_id - 1;
  if (awaiting_[index]) --in_flight_;
  awaiting_[index] = 0;
  Record& r = records_[index];
  switch (reply.status) {
    case Code::kOk:
      if (r.outcome == Outcome::kPending) {
        r.outcome = Outcome::kOk;
        r.seq = reply.seq;
        backoff_ns_ = 0;
        if (probe_ == index + 1) probe_ = 0;  // admitted again: the rest may follow
        cwnd_ = std::min(cwnd_ + 1, options_.window);
      } else if (r.outcome == Outcome::kFailed || r.seq != reply.seq) {
        r.conflicting = true;
      }
      return;
    case Code::kOutOfOrder:  // an earlier id was not applied: resend in order
      ++out_of_order_;
      if (r.outcome == Outcome::kPending && (probe_ == 0 || probe_ == index + 1)) {
        resend_ = true;
        cwnd_ = std::max<std::uint32_t>(cwnd_ / 2, 1);
      }
      return;
    case Code::kResourceExhausted:
    case Code::kUnavailable:  // nothing applied, nothing remembered
      ++retryable_;
      if (r.outcome == Outcome::kPending && (probe_ == 0 || probe_ == index + 1)) {
        resend_ = true;
        cwnd_ = std::max<std::uint32_t>(cwnd_ / 2, 1);
      }
      return;
    default:
      if (r.outcome == Outcome::kPending) {
        r.outcome = Outcome::kFailed;
        r.code = reply.status;
        if (probe_ == index + 1) probe_ = 0;  // a definite answer admits the rest too
      } else if (r.outcome == Outcome::kOk || r.code != reply.status) {
        r.conflicting = true;
      }
      return;
  }
}

void HistoryClient::Run(const Workload& workload, std::uint64_t min_commands,
                        const std::atomic<bool>& keep_going, std::chrono::milliseconds deadline,
                        const std::atomic<bool>& abort) {
  records_.clear();
  sent_ns_.clear();
  awaiting_.clear();
  // The first request goes alone: a new client's first id is whatever reaches the writer first,
  // so if it were shed while a later one got in, it could never be applied (OutOfOrder for
  // ever). The window then grows by one per Ok.
  cwnd_ = 1;
  OpenSocket();
  const std::uint64_t timeout_ns =
      static_cast<std::uint64_t>(options_.attempt_timeout.count()) * 1'000'000;
  const std::uint64_t end_ns = MonoNs() + static_cast<std::uint64_t>(deadline.count()) * 1'000'000;
  std::size_t base = 0, next = 0;  // oldest without an outcome; next never sent
  std::uint64_t resend_at = 0;
  while (MonoNs() < end_ns && !abort.load(std::memory_order_relaxed)) {
    const bool more = next < min_commands || keep_going.load(std::memory_order_relaxed);
    while (base < next && records_[base].outcome != Outcome::kPending) ++base;
    if (base == next && !more) break;
    std::uint64_t now = MonoNs();
    // After a refusal, back off, then probe with the oldest unanswered request alone; once it
    // is admitted, resend the rest in order (resending a whole window into an overloaded writer
    // only earns OutOfOrder for everything behind the first refused one).
    if (resend_ && resend_at == 0) {
      backoff_ns_ = std::clamp(backoff_ns_ * 2, kMinBackoffNs, kMaxBackoffNs);
      resend_at = now + backoff_ns_;
    }
    if (resend_at != 0 && now >= resend_at) {
      resend_ = false;
      resend_at = 0;
      for (std::size_t i = base; i < next; ++i) {
        if (records_[i].outcome != Outcome::kPending) continue;
        probe_ = i + 1;
        if (!awaiting_[i]) Send(i, workload);
        break;
      }
    }
    // Unanswered requests first, in id order, then new ones, while the congestion window
    // allows (halved by each refusal, one more for each Ok).
    if (resend_at == 0 && probe_ == 0) {
      for (std::size_t i = base; i < next && in_flight_ < cwnd_; ++i)
        if (records_[i].outcome == Outcome::kPending && !awaiting_[i]) Send(i, workload);
      while (more && next - base < options_.window && in_flight_ < cwnd_) {
        records_.emplace_back();
        sent_ns_.push_back(0);
        awaiting_.push_back(0);
        Send(next++, workload);
      }
    }
    now = MonoNs();
    // The oldest request without a reply in time: indeterminate. Replace the socket (a REQ
    // would be wedged; a DEALER's peer may be gone) and resend everything unanswered.
    bool timed_out = false;
    for (std::size_t i = base; i < next; ++i)
      if (awaiting_[i] && now > sent_ns_[i] + timeout_ns) timed_out = true;
    if (timed_out) {
      timeouts_ns_.push_back(now);
      ++reconnects_;
      OpenSocket();
      for (std::size_t i = base; i < next; ++i) {
        if (records_[i].outcome != Outcome::kPending) continue;
        records_[i].indeterminate = true;
        Send(i, workload);
      }
      continue;
    }
    zmq::pollitem_t item{socket_->handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(5));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    zmq::message_t frame;
    while (socket_->recv(frame, zmq::recv_flags::dontwait)) {
      HandleReply(frame);
      if (options_.req_socket) break;
    }
  }
  socket_.reset();
  if (std::getenv("CQRS_FAULT_DEBUG"))
    for (std::size_t i = base; i < next; ++i)
      if (records_[i].outcome == Outcome::kPending)
        fmt::print(stderr,
                   "{} request {} pending: attempts {} awaiting {} resend {} probe {} cwnd {} "
                   "in flight {}\n",
                   options_.client_id, i + 1, records_[i].attempts, awaiting_[i], resend_, probe_,
                   cwnd_, in_flight_);
}

HistoryCounts HistoryClient::counts() const {
  HistoryCounts c;
  c.commands = records_.size();
  for (const Record& r : records_) {
    c.acked += r.outcome == Outcome::kOk;
    c.failed += r.outcome == Outcome::kFailed;
    c.pending += r.outcome == Outcome::kPending;
    c.indeterminate += r.indeterminate;
  }
  c.retryable = retryable_;
  c.out_of_order = out_of_order_;
  c.reconnects = reconnects_;
  c.resent = resent_;
  return c;
}

Result<Verdict> CheckHistories(const std::string& data_dir,
                               std::span<const HistoryClient* const> clients,
                               const std::vector<std::string>* archive) {
  store::WriteStoreOptions o;
  o.dir = data_dir + "/write";
  o.read_only = true;
  auto opened = store::WriteStore::Open(o);
  if (!opened.ok()) return opened.status();
  auto& s = *opened.value();
  auto txn = store::Txn::BeginRead(s.env());
  if (!txn.ok()) return txn.status();

  // (client_id, request_id) → the seqs of its events; (tenant, collection, key) → last version.
  std::map<std::pair<std::string, std::uint64_t>, std::vector<std::uint64_t>> by_request;
  std::map<std::string, std::uint64_t> versions;
  Verdict v;
  auto cursor = store::Cursor::Open(txn.value(), s.dbs().events);
  if (!cursor.ok()) return cursor.status();
  std::string_view k, value;
  wire::AlignedBuffer b;
  auto visit = [&](std::uint64_t seq, std::string_view event) {
    if (seq != ++v.events) ++v.log_gaps;
    b.Assign(event.data(), event.size());
    const auto* e = flatbuffers::GetRoot<fb::Event>(b.data());
    std::string id = e->client_id() ? e->client_id()->str() : "";
    by_request[{id, e->request_id()}].push_back(seq);
    std::string entity = fmt::format("{}\n{}\n{}", e->tenant() ? e->tenant()->str() : "",
                                     e->collection()->str(), e->key()->str());
    std::uint64_t& last = versions[entity];
    if (e->op() != fb::Op::Delete && e->version() != last + 1) ++v.bad_versions;
    last = e->op() == fb::Op::Delete ? 0 : e->version();
  };
  Status st = cursor->Get(MDB_FIRST, &k, &value);
  if (archive == nullptr) {
    for (; st.ok(); st = cursor->Get(MDB_NEXT, &k, &value)) visit(store::DecodeSeqKey(k), value);
  } else {
    for (std::size_t i = 0; i < archive->size(); ++i) visit(i + 1, (*archive)[i]);
    // What retention left in the log must be the archive's tail, byte for byte.
    for (; st.ok(); st = cursor->Get(MDB_NEXT, &k, &value)) {
      const std::uint64_t seq = store::DecodeSeqKey(k);
      if (seq == 0 || seq > archive->size() || (*archive)[seq - 1] != value) ++v.log_gaps;
    }
  }
  auto head = s.LastSeq(txn.value());
  if (!head.ok()) return head.status();
  if (head.value() != v.events) ++v.log_gaps;

  std::map<std::string, const HistoryClient*> known;
  for (const HistoryClient* c : clients) {
    known[c->client_id()] = c;
    std::uint64_t last_seq = 0;
    const auto& records = c->records();
    for (std::size_t i = 0; i < records.size(); ++i) {
      const Record& r = records[i];
      auto it = by_request.find({c->client_id(), i + 1});
      std::size_t events = it == by_request.end() ? 0 : it->second.size();
      v.conflicting += r.conflicting;
      if (events > 1) ++v.duplicated;
      switch (r.outcome) {
        case Outcome::kOk:
          if (events == 0) ++v.lost;
          if (events >= 1 && it->second.back() != r.seq) ++v.wrong_seq;
          if (r.seq <= last_seq) ++v.reordered;
          last_seq = r.seq;
          break;
        case Outcome::kFailed:
          if (events > 0) ++v.phantom;
          break;
        case Outcome::kPending:
          ++v.pending;
          break;
      }
    }
  }
  // Events of requests no history sent.
  for (const auto& [request, seqs] : by_request) {
    auto c = known.find(request.first);
    if (c == known.end() || request.second == 0 || request.second > c->second->records().size())
      v.phantom += seqs.size();
  }
  return v;
}

std::string CountsLine(const std::string& name, const HistoryCounts& c, int kills,
                       const Verdict& v) {
  return fmt::format(
      "{}: commands={} acked={} failed={} indeterminate={} retryable={} out_of_order={} "
      "resent={} kills={} events={} lost={} duplicated={} reordered={} phantom={} wrong_seq={} "
      "conflicting={} pending={} bad_versions={} log_gaps={}",
      name, c.commands, c.acked, c.failed, c.indeterminate, c.retryable, c.out_of_order, c.resent,
      kills, v.events, v.lost, v.duplicated, v.reordered, v.phantom, v.wrong_seq, v.conflicting,
      v.pending, v.bad_versions, v.log_gaps);
}

}  // namespace cqrs::faults
