// The pipelined command client.
#include "client/client.h"

#include <algorithm>
#include <cerrno>
#include <random>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "security/curve_client.h"
#include "wire/zmq_util.h"

namespace cqrs {
namespace {

constexpr std::uint64_t kMinBackoffNs = 5'000'000;      // 5 ms
constexpr std::uint64_t kMaxBackoffNs = 1'000'000'000;  // 1 s

std::uint64_t ToNs(std::chrono::milliseconds ms) {
  return static_cast<std::uint64_t>(ms.count()) * 1'000'000;
}

}  // namespace

std::string GenerateClientId() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ MonoNs();
  return fmt::format("{:016x}", v);
}

std::string CommandResult::ToJson() const {
  std::string out = "{\"status\":";
  AppendJsonString(&out, CodeName(status));
  out += fmt::format(",\"request_id\":{},\"seq\":{},\"versions\":[{}]", request_id, seq,
                     fmt::join(versions, ","));
  if (failed_index >= 0) out += fmt::format(",\"failed_index\":{}", failed_index);
  if (!message.empty()) {
    out += ",\"message\":";
    AppendJsonString(&out, message);
  }
  if (indeterminate) out += ",\"indeterminate\":true";
  out += "}";
  return out;
}

Result<std::unique_ptr<Client>> Client::Connect(ClientOptions options, zmq::context_t* context) {
  if (options.window == 0) return Status(Code::kInvalidArgument, "window must be at least 1");
  if (options.max_query_batch < 1 || options.max_query_batch > 256)
    return Status(Code::kInvalidArgument, "max_query_batch must be in 1..256");
  if (options.max_command_batch < 1 || options.max_command_batch > 1024)
    return Status(Code::kInvalidArgument, "max_command_batch must be in 1..1024");
  if (options.attempt_timeout.count() <= 0)
    return Status(Code::kInvalidArgument, "attempt_timeout must be positive");
  CQRS_RETURN_IF_ERROR(options.curve.Validate());
  std::unique_ptr<Client> client(new Client(std::move(options), context));
  try {
    client->OpenSocket();
  } catch (const zmq::error_t& e) {
    return Error(Code::kInvalidArgument, "connect {}: {}", client->options_.writer_endpoint,
                 e.what());
  }
  return client;
}

Client::Client(ClientOptions options, zmq::context_t* context)
    : options_(std::move(options)),
      owned_context_(context ? nullptr : std::make_unique<zmq::context_t>(1)),
      context_(context ? context : owned_context_.get()),
      client_id_(options_.client_id),
      ring_(options_.window, options_.first_request_id) {
  // A new session's first request goes alone: the writer takes whatever id of a new client
  // reaches it first as its first, so a first request shed under overload while a later one got
  // in could never be applied. The window then grows by one per Ok, up to `window`.
  cwnd_ = 1;
  if (client_id_.empty()) {
    client_id_ = GenerateClientId();
    generated_id_ = true;
  }
  QueryChannelOptions q;
  q.endpoints = options_.reader_endpoints;
  q.token = options_.token;
  q.attempt_timeout = options_.attempt_timeout;
  q.deadline = options_.deadline;
  q.window = options_.window;
  q.max_batch = options_.max_query_batch;
  q.curve = options_.curve;
  queries_ = std::make_unique<QueryChannel>(std::move(q), *context_);
}

Client::~Client() {
  queries_.reset();
  socket_.reset();
}

void Client::OpenSocket() {
  socket_ = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::dealer);
  wire::SocketTuning tuning;
  wire::ConfigureClient(*socket_, tuning);
  security::SecureClient(*socket_, options_.curve);
  handshake_.Attach(*context_, *socket_, options_.curve);
  socket_->connect(options_.writer_endpoint);
}

void Client::Send(Pending& p) {
  zmq::message_t msg(p.bytes.data(), p.bytes.size());
  // A full pipe (never expected: the window is far below the high-water mark) is left to the
  // attempt timeout, which reconnects and resends.
  MarkSent(p, socket_->send(msg, zmq::send_flags::dontwait).has_value());
}

void Client::MarkSent(Pending& p, bool sent) {
  p.last_sent_ns = MonoNs();
  ++p.result.attempts;
  ++stats_.sent;
  if (p.queued) {
    p.queued = false;
    --queued_;
  }
  if (sent && p.outstanding++ == 0) ++awaiting_;
}

void Client::SendBatch(std::span<Pending* const> group) {
  batch_.Begin();
  for (const Pending* p : group) batch_.Add(p->bytes);
  auto frame = batch_.Finish(wire::BatchKind::kCommands);
  zmq::message_t msg(frame.data(), frame.size());
  const bool sent = socket_->send(msg, zmq::send_flags::dontwait).has_value();
  for (Pending* p : group) MarkSent(*p, sent);
}

void Client::Answered(Pending& p) {
  if (p.outstanding > 0 && --p.outstanding == 0) --awaiting_;
}

void Client::SendQueued() {
  if (queued_ == 0 || resend_at_ns_ != 0 || probe_id_ != 0) return;
  to_send_.clear();
  std::size_t awaiting = awaiting_;
  for (std::uint64_t id = ring_.base();
       id < ring_.next() && to_send_.size() < queued_ && awaiting < cwnd_; ++id) {
    Pending& p = ring_.at(id);
    if (p.done || !p.queued) continue;
    if (p.result.attempts > 0) ++stats_.resent;
    to_send_.push_back(&p);
    if (p.outstanding == 0) ++awaiting;
  }
  // In id order, runs of up to max_command_batch requests and kMaxBatchBytes per frame.
  for (std::size_t begin = 0; begin < to_send_.size();) {
    std::size_t end = begin, bytes = 0;
    while (end < to_send_.size() && end - begin < options_.max_command_batch) {
      const std::size_t size = to_send_[end]->bytes.size();
      if (end > begin && bytes + size > kMaxBatchBytes) break;
      bytes += size;
      ++end;
    }
    if (end - begin == 1) {
      Send(*to_send_[begin]);
    } else {
      SendBatch({to_send_.data() + begin, end - begin});
    }
    begin = end;
  }
}

void Client::ResendAll() {
  ring_.ForEachOpen([&](Pending& p) {
    if (p.queued || p.outstanding > 0) return;
    p.queued = true;
    ++queued_;
  });
  SendQueued();
}

void Client::Refused(std::uint64_t id) {
  Pending& p = ring_.at(id);
  if (!p.queued) {
    p.queued = true;
    ++queued_;
  }
  // Only the first refusal of a round (or the probe's) slows down: the others behind it are
  // its echo.
  if (probe_id_ != 0 && probe_id_ != id) return;
  if (probe_id_ == 0 && resend_at_ns_ != 0) return;
  probe_id_ = 0;
  cwnd_ = std::max<std::size_t>(cwnd_ / 2, 1);
  backoff_ns_ = std::clamp(backoff_ns_ * 2, kMinBackoffNs, kMaxBackoffNs);
  resend_at_ns_ = MonoNs() + backoff_ns_;
}

std::uint64_t Client::Submit(std::span<const CommandSpec> commands, Callback done) {
  while (ring_.full()) Poll(options_.attempt_timeout);
  Pending& p = ring_.Add();
  const std::uint64_t id = p.id;
  auto bytes = encoder_.Encode(client_id_, id, options_.token, commands);
  p.bytes.assign(bytes.begin(), bytes.end());
  p.callback = std::move(done);
  p.first_sent_ns = MonoNs();
  p.outstanding = 0;
  p.result.status = Code::kOk;
  p.result.message.clear();
  p.result.failed_index = -1;
  p.result.seq = 0;
  p.result.versions.clear();
  p.result.request_id = id;
  p.result.attempts = 0;
  p.result.indeterminate = false;
  p.last_sent_ns = p.first_sent_ns;  // the attempt timeout runs from here while it waits
  p.queued = true;                   // sent with everything else queued at the next poll
  ++queued_;
  return id;
}

void Client::HandleReply(const zmq::message_t& frame) {
  reply_buffer_.Assign(frame.data(), frame.size());
  wire::ForEachReply(reply_buffer_.span(), wire::BatchKind::kCommandReplies, nested_buffer_,
                     [this](std::span<const std::uint8_t> reply) { HandleCommandReply(reply); });
}

void Client::HandleCommandReply(std::span<const std::uint8_t> aligned) {
  if (!wire::ParseCommandReply(aligned, &reply_).ok()) return;  // not ours: ignore
  const std::uint64_t id = reply_.request_id;
  Pending* open = ring_.Find(id);
  if (open == nullptr) return;  // a late answer to a retired request
  Pending& p = *open;
  Answered(p);
  if (reply_.status == Code::kOutOfOrder) {
    ++stats_.out_of_order;
    if (p.outstanding > 0) return;  // answers an older send; a newer one is on its way
    const std::uint64_t expected = reply_.expected_request_id;
    const std::uint64_t base = ring_.base();
    if (id != base && (expected == 0 || (expected >= base && expected < id))) {
      // An earlier request was not applied (refused, lost, or still on its way): this one
      // waits for it. Resend it, not the whole window, if it is not in flight.
      if (expected != 0) {
        Pending& missing = ring_.at(expected);
        if (!missing.done && missing.outstanding == 0 && !missing.queued) {
          missing.queued = true;
          ++queued_;
        }
      }
      Refused(id);
      SendQueued();
      return;
    }
    // The oldest request itself is refused: the writer expects an id we no longer hold.
  } else if (IsRetryable(reply_.status)) {
    ++stats_.retryable;
    if (p.outstanding > 0) return;
    Refused(id);
    return;
  }
  backoff_ns_ = 0;
  if (probe_id_ == id) probe_id_ = 0;  // admitted: the queued ones follow
  cwnd_ = std::min(cwnd_ + 1, ring_.capacity());
  CommandResult& r = p.result;
  r.status = reply_.status;
  r.message.assign(reply_.message);
  r.failed_index = reply_.failed_index;
  r.seq = reply_.seq;
  r.versions.assign(reply_.versions.begin(), reply_.versions.end());
  if (r.ok()) last_seq_ = std::max(last_seq_, r.seq);
  Complete(p);
  // The window may admit more now: what is queued leaves together once every reply waiting
  // was read (ServeReady's CheckTimers).
}

void Client::Complete(Pending& p) {
  if (p.outstanding > 0) {
    p.outstanding = 0;
    --awaiting_;
  }
  if (p.queued) {
    p.queued = false;
    --queued_;
  }
  p.done = true;
  ++completed_;
  Callback callback = std::move(p.callback);
  p.callback = nullptr;
  if (callback) callback(p.result);
  ring_.Retire();
}

void Client::AbandonSession() {
  ring_.ForEachOpen([&](Pending& p) {
    ++stats_.indeterminate;
    p.result.status = Code::kUnavailable;
    p.result.indeterminate = true;
    p.result.message = fmt::format(
        "no definite reply from {} within {} ms ({} attempts): the request may or may not have "
        "been applied",
        options_.writer_endpoint, options_.deadline.count(), p.result.attempts);
    if (const std::string& why = handshake_.LastFailure(); !why.empty())
      p.result.message += "; " + why;
    Complete(p);
  });
  resend_at_ns_ = 0;
  probe_id_ = 0;
  if (generated_id_) {
    client_id_ = GenerateClientId();
    cwnd_ = 1;  // a new session: its first request alone again
    ring_.Restart(options_.first_request_id);
  }
  ++stats_.reconnects;
  OpenSocket();
}

void Client::CheckTimers() {
  if (ring_.empty()) return;
  std::uint64_t now = MonoNs();
  Pending& front = ring_.at(ring_.base());
  if (options_.deadline.count() > 0 && now - front.first_sent_ns >= ToNs(options_.deadline)) {
    AbandonSession();
    return;
  }
  if (front.outstanding > 0 && now - front.last_sent_ns >= ToNs(options_.attempt_timeout)) {
    // Indeterminate: the request or its reply may be lost, or the writer restarted. A fresh
    // socket drops whatever the old one held; resend everything with the same ids.
    ++stats_.reconnects;
    OpenSocket();
    ring_.ForEachOpen([](Pending& p) { p.outstanding = 0; });
    awaiting_ = 0;
    resend_at_ns_ = 0;
    probe_id_ = 0;
    ResendAll();
    return;
  }
  if (resend_at_ns_ != 0 && now >= resend_at_ns_) {
    // The backoff is over: the oldest unanswered request goes alone; the rest wait for it.
    resend_at_ns_ = 0;
    probe_id_ = ring_.base();
    if (front.outstanding == 0) {
      ++stats_.resent;
      Send(front);
    }
  }
  SendQueued();  // nothing may wait unsent while nothing holds it
}

std::uint64_t Client::NextTimerNs() const {
  if (ring_.empty()) return UINT64_MAX;
  const Pending& front = ring_.at(ring_.base());
  std::uint64_t t = front.last_sent_ns + ToNs(options_.attempt_timeout);
  if (options_.deadline.count() > 0) t = std::min(t, front.first_sent_ns + ToNs(options_.deadline));
  if (resend_at_ns_ != 0) t = std::min(t, resend_at_ns_);
  return t;
}

std::size_t Client::PollItems(zmq::pollitem_t* items) {
  SendQueued();  // what was submitted goes before the wait
  queries_->Flush();
  // Only sockets with something in flight: nothing else can bring an answer, and each socket
  // polled costs zmq_poll a look at its command mailbox (system calls) per turn. A late
  // duplicate reply waits in its socket until the next request and is ignored then.
  std::size_t count = 0;
  writer_item_ = query_item_ = kNotPolled;
  if (ring_.in_flight() > 0) {
    writer_item_ = count;
    items[count++] = {socket_->handle(), 0, ZMQ_POLLIN, 0};
  }
  zmq::socket_t* q = queries_->socket();
  if (q != nullptr && queries_->in_flight() > 0) {
    query_item_ = count;
    items[count++] = {q->handle(), 0, ZMQ_POLLIN, 0};
  }
  return count;
}

std::size_t Client::ServeReady(const zmq::pollitem_t* items, std::size_t count) {
  const std::size_t before = completed_ + queries_->completed();
  if (writer_item_ < count && (items[writer_item_].revents & ZMQ_POLLIN)) {
    zmq::message_t frame;
    wire::DrainMessages(*socket_, frame, [this](const zmq::message_t& f) { HandleReply(f); });
  }
  if (query_item_ < count && (items[query_item_].revents & ZMQ_POLLIN)) queries_->HandleReadable();
  CheckTimers();
  queries_->CheckTimers();
  return completed_ + queries_->completed() - before;
}

std::uint64_t Client::next_timer_ns() const {
  return std::min(NextTimerNs(), queries_->NextTimerNs());
}

std::size_t Client::Poll(std::chrono::milliseconds wait) {
  const std::uint64_t end = MonoNs() + ToNs(wait);
  zmq::pollitem_t items[kMaxPollItems];
  std::size_t count = 0;  // nothing polled yet: ServeReady only checks timers
  for (;;) {
    queries_->Flush();  // what was submitted goes before the wait
    if (std::size_t done = ServeReady(items, count)) return done;
    std::uint64_t now = MonoNs();
    if (now >= end) return 0;
    std::uint64_t until = std::min(end, next_timer_ns());
    auto timeout_ms = static_cast<long>(until > now ? (until - now + 999'999) / 1'000'000 : 0);
    count = PollItems(items);  // again each time: a resend may have replaced the socket
    try {
      zmq::poll(items, count, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      count = 0;
    }
  }
}

void Client::Flush() {
  while (in_flight() > 0 || queries_->in_flight() > 0) Poll(std::chrono::milliseconds(1000));
}

std::uint64_t Client::SubmitQuery(const wire::QuerySpec& query, const ReadOptions& options,
                                  QueryChannel::Callback done) {
  while (queries_->full()) Poll(options_.attempt_timeout);
  return queries_->Submit(query, options.min_seq.value_or(last_seq_),
                          static_cast<std::uint32_t>(options.wait.count()), std::move(done));
}

QueryResult Client::Query(const wire::QuerySpec& query, const ReadOptions& options) {
  QueryResult out;
  bool finished = false;
  SubmitQuery(query, options, [&out, &finished](const QueryResult& r) {
    out = r;
    finished = true;
  });
  while (!finished) Poll(std::chrono::milliseconds(1000));
  return out;
}

QueryResult Client::Get(std::string collection, std::string key, const ReadOptions& options) {
  return Query(wire::GetQuery{std::move(collection), std::move(key)}, options);
}

std::vector<QueryResult> Client::MultiGet(const std::string& collection,
                                          std::span<const std::string> keys,
                                          const ReadOptions& options) {
  std::vector<QueryResult> out(keys.size());
  std::size_t finished = 0;
  wire::GetQuery get{collection, ""};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    get.key = keys[i];
    SubmitQuery(get, options, [&out, &finished, i](const QueryResult& r) {
      out[i] = r;
      ++finished;
    });
  }
  while (finished < keys.size()) Poll(std::chrono::milliseconds(1000));
  return out;
}

QueryResult Client::Scan(wire::ScanQuery scan, const ReadOptions& options) {
  return Query(std::move(scan), options);
}

QueryResult Client::Find(wire::FindQuery find, const ReadOptions& options) {
  return Query(std::move(find), options);
}

QueryResult Client::Aggregate(std::string collection, std::string name,
                              const ReadOptions& options) {
  return Query(wire::AggregateQuery{std::move(collection), std::move(name)}, options);
}

CommandResult Client::Execute(std::span<const CommandSpec> commands) {
  CommandResult out;
  bool done = false;
  Submit(commands, [&out, &done](const CommandResult& r) {
    out = r;
    done = true;
  });
  while (!done) Poll(std::chrono::milliseconds(1000));
  return out;
}

CommandResult Client::Create(std::string collection, std::string key,
                             std::vector<FieldSpec> fields) {
  return Execute(cqrs::Create(std::move(collection), std::move(key), std::move(fields)));
}

CommandResult Client::Update(std::string collection, std::string key, std::vector<FieldSpec> fields,
                             std::uint64_t expected_version) {
  return Execute(
      cqrs::Update(std::move(collection), std::move(key), std::move(fields), expected_version));
}

CommandResult Client::Upsert(std::string collection, std::string key,
                             std::vector<FieldSpec> fields) {
  return Execute(cqrs::Upsert(std::move(collection), std::move(key), std::move(fields)));
}

CommandResult Client::Delete(std::string collection, std::string key,
                             std::uint64_t expected_version) {
  return Execute(cqrs::Delete(std::move(collection), std::move(key), expected_version));
}

}  // namespace cqrs
