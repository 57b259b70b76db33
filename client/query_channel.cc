// The query half of the client.
#include "client/query_channel.h"

#include <fmt/format.h>

#include "base/clock.h"
#include "security/curve_client.h"
#include "wire/zmq_util.h"

namespace cqrs {
namespace {
std::uint64_t ToNs(std::chrono::milliseconds ms) {
  return static_cast<std::uint64_t>(ms.count()) * 1'000'000;
}
}  // namespace

QueryChannel::QueryChannel(QueryChannelOptions options, zmq::context_t& context)
    : options_(std::move(options)), context_(context), ring_(options_.window, 1) {}

QueryChannel::~QueryChannel() = default;

void QueryChannel::OpenSocket() {
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  wire::ConfigureClient(*socket_, wire::SocketTuning());
  security::SecureClient(*socket_, options_.curve);
  handshake_.Attach(context_, *socket_, options_.curve);
  for (const std::string& endpoint : options_.endpoints) socket_->connect(endpoint);
}

std::uint64_t QueryChannel::Submit(const wire::QuerySpec& query, std::uint64_t min_seq,
                                   std::uint32_t wait_ms, Callback done) {
  if (!socket_) OpenSocket();
  Pending& p = ring_.Add();
  const std::uint64_t id = p.id;
  auto bytes = encoder_.Encode(id, options_.token, min_seq, wait_ms, query);
  p.bytes.assign(bytes.begin(), bytes.end());
  p.callback = std::move(done);
  p.first_sent_ns = MonoNs();
  // A query may rightly wait at the reader for its min_seq: that is not a lost reply.
  p.attempt_ns =
      ToNs(options_.attempt_timeout) + std::uint64_t{wait_ms == 0 ? 1000u : wait_ms} * 1'000'000;
  p.last_sent_ns = p.first_sent_ns;  // its attempt timeout runs from the Submit
  p.result.attempts = 0;
  p.result.request_id = id;
  unsent_.push_back(id);
  return id;
}

void QueryChannel::Flush() {
  std::size_t begin = 0;
  while (begin < unsent_.size()) {
    // The longest run that fits one QueryBatch (a query too large for one goes alone).
    std::size_t end = begin, bytes = 0;
    while (end < unsent_.size() && end - begin < options_.max_batch) {
      const std::size_t size = ring_.at(unsent_[end]).bytes.size();
      if (end > begin && bytes + size > kMaxBatchBytes) break;
      bytes += size;
      ++end;
    }
    if (end - begin == 1) {
      Send(ring_.at(unsent_[begin]));
    } else {
      SendBatch({unsent_.data() + begin, end - begin});
    }
    begin = end;
  }
  unsent_.clear();
}

void QueryChannel::Send(Pending& p) {
  zmq::message_t msg(p.bytes.data(), p.bytes.size());
  p.last_sent_ns = MonoNs();
  ++p.result.attempts;
  (void)socket_->send(msg, zmq::send_flags::dontwait);  // a full pipe is left to the timeout
}

void QueryChannel::SendBatch(std::span<const std::uint64_t> ids) {
  batch_.Begin();
  for (std::uint64_t id : ids) batch_.Add(ring_.at(id).bytes);
  auto frame = batch_.Finish(wire::BatchKind::kQueries);
  zmq::message_t msg(frame.data(), frame.size());
  const std::uint64_t now = MonoNs();
  for (std::uint64_t id : ids) {
    Pending& p = ring_.at(id);
    p.last_sent_ns = now;
    ++p.result.attempts;
  }
  (void)socket_->send(msg, zmq::send_flags::dontwait);  // a full pipe is left to the timeout
}

void QueryChannel::HandleReadable() {
  if (!socket_) return;
  zmq::message_t frame;
  wire::DrainMessages(*socket_, frame, [this](const zmq::message_t& f) { HandleReply(f); });
}

void QueryChannel::HandleReply(const zmq::message_t& frame) {
  reply_buffer_.Assign(frame.data(), frame.size());
  wire::ForEachReply(reply_buffer_.span(), wire::BatchKind::kQueryReplies, nested_buffer_,
                     [this](std::span<const std::uint8_t> reply) { HandleQueryReply(reply); });
}

void QueryChannel::HandleQueryReply(std::span<const std::uint8_t> aligned) {
  if (!wire::ParseQueryReply(aligned, &reply_).ok()) return;
  Pending* open = ring_.Find(reply_.request_id);
  if (open == nullptr) return;  // a late duplicate of a finished query
  Pending& p = *open;
  QueryResult& r = p.result;
  r.status = reply_.status;
  r.message.swap(reply_.message);
  r.seq = reply_.seq;
  r.entities.swap(reply_.entities);
  r.next.swap(reply_.next);
  r.groups.swap(reply_.groups);
  Complete(p);
}

void QueryChannel::Complete(Pending& p) {
  p.done = true;
  ++completed_;
  Callback callback = std::move(p.callback);
  p.callback = nullptr;
  if (callback) callback(p.result);
  ring_.Retire();
}

void QueryChannel::CheckTimers() {
  Flush();  // a query's timers run from its Submit: never resend one not yet sent
  const std::uint64_t now = MonoNs();
  bool overdue = false;
  ring_.ForEachOpen([&](Pending& p) {
    if (options_.deadline.count() > 0 && now - p.first_sent_ns >= ToNs(options_.deadline)) {
      p.result.status = Code::kUnavailable;
      p.result.message = fmt::format("no reply from the readers within {} ms ({} attempts)",
                                     options_.deadline.count(), p.result.attempts);
      if (const std::string& why = handshake_.LastFailure(); !why.empty())
        p.result.message += "; " + why;
      p.result.entities.clear();
      p.result.next.clear();
      p.result.groups.clear();
      Complete(p);
      return;
    }
    if (now - p.last_sent_ns >= p.attempt_ns) overdue = true;
  });
  if (!overdue) return;
  // A reader died or a reply was lost: a fresh socket drops the dead pipes; resend what is open.
  OpenSocket();
  ring_.ForEachOpen([&](Pending& p) { Send(p); });
}

std::uint64_t QueryChannel::NextTimerNs() const {
  std::uint64_t t = UINT64_MAX;
  for (std::uint64_t id = ring_.base(); id < ring_.next(); ++id) {
    const Pending& p = ring_.at(id);
    if (p.done) continue;
    t = std::min(t, p.last_sent_ns + p.attempt_ns);
    if (options_.deadline.count() > 0) t = std::min(t, p.first_sent_ns + ToNs(options_.deadline));
  }
  return t;
}

}  // namespace cqrs
