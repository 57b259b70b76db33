// cqrs::Client: the C++ client of the write path. Sync calls and a pipelined API with a window
// of requests in flight; a client_id with contiguous request ids, so a retry never applies twice;
// indeterminate requests (no reply in time) are resent with the same ids over a fresh socket,
// retryable replies are resent after a backoff, and OutOfOrder is repaired by resending in order.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/result.h"
#include "client/query_channel.h"
#include "client/request_ring.h"
#include "security/curve_client.h"
#include "security/keys.h"
#include "wire/aligned_buffer.h"
#include "wire/batch_codec.h"
#include "wire/command_codec.h"
#include "wire/value_codec.h"

namespace cqrs {

struct ClientOptions {
  std::string writer_endpoint = "tcp://127.0.0.1:7101";
  // One DEALER connects to all of them; ZeroMQ spreads the queries round-robin.
  std::vector<std::string> reader_endpoints = {"tcp://127.0.0.1:7110", "tcp://127.0.0.1:7111"};
  std::string client_id;  // empty: a random id per Client
  std::string token;
  std::uint64_t first_request_id = 1;
  // No reply this long after a send: the request is indeterminate; reconnect and resend.
  std::chrono::milliseconds attempt_timeout{1000};
  // A request without a definite reply this long after its first send (writer down, store full)
  // completes with `indeterminate` set, and the Client starts a new session (see Client).
  // 0: retry until a definite reply, however long that takes.
  std::chrono::milliseconds deadline{60000};
  std::uint32_t window = 128;  // requests in flight at most (and, separately, queries)
  // Queries submitted between two polls leave together in QueryBatch frames of at most this
  // many (1..256, the readers' default reader.batch_max_queries); 1: a frame per query.
  std::uint32_t max_query_batch = 64;
  // Requests submitted between two polls leave together in CommandBatch frames of at most this
  // many (1..1024), each still applied and answered on its own; 1: a frame per request.
  std::uint32_t max_command_batch = 64;
  // Security on: this client's key pair and the servers' public key (security::LoadClientCurve).
  // The principal the key belongs to decides the tenant and what may be read and written.
  security::ClientCurve curve;
};

// How a query is answered.
struct ReadOptions {
  // The oldest snapshot the answer may come from. Default: the highest seq this Client has had
  // acknowledged (session consistency: a client always reads its own writes). 0: any snapshot.
  std::optional<std::uint64_t> min_seq;
  // How long a reader may wait for min_seq before DeadlineExceeded (0: its default, 1 s).
  std::chrono::milliseconds wait{0};
};

// The outcome of one request.
struct CommandResult {
  Code status = Code::kOk;
  std::string message;
  int failed_index = -1;
  std::uint64_t seq = 0;                // the request's last event (Ok only)
  std::vector<std::uint64_t> versions;  // each command's new version, 0 for a delete (Ok only)
  std::uint64_t request_id = 0;
  std::uint32_t attempts = 0;  // sends, resends included
  // No definite reply before the deadline: the request may or may not have been applied.
  bool indeterminate = false;

  bool ok() const { return status == Code::kOk; }
  // {"status":"Ok","seq":5,...}
  std::string ToJson() const;
};

struct ClientStats {
  std::uint64_t sent = 0;
  std::uint64_t resent = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t retryable = 0;
  std::uint64_t indeterminate = 0;
};

// One Client per thread (it owns a ZeroMQ socket). Callbacks run inside Submit/Poll/Flush on the
// calling thread; the CommandResult they get is valid only during the call. Once warm, a request
// allocates only inside libzmq (the encoder, reply buffers and result slots are reused).
//
// Session: with a generated client_id, a request that ends indeterminate (deadline) ends the
// session: in-flight requests end indeterminate too and the Client continues with a new random
// client_id. With a caller-chosen client_id the ids simply continue; if the writer never saw the
// abandoned id, the next request gets OutOfOrder naming the id it expects.
class Client {
 public:
  using Callback = std::function<void(const CommandResult&)>;

  // Creates the socket and connects (ZeroMQ connects lazily: a writer that is down is not an
  // error here). Owns its context unless one is given.
  static Result<std::unique_ptr<Client>> Connect(ClientOptions options,
                                                 zmq::context_t* context = nullptr);
  ~Client();

  // Sync: sends and waits for the definite reply (or the deadline).
  CommandResult Execute(std::span<const CommandSpec> commands);
  CommandResult Execute(const CommandSpec& command) { return Execute({&command, 1}); }
  CommandResult Create(std::string collection, std::string key, std::vector<FieldSpec> fields);
  CommandResult Update(std::string collection, std::string key, std::vector<FieldSpec> fields,
                       std::uint64_t expected_version = 0);
  CommandResult Upsert(std::string collection, std::string key, std::vector<FieldSpec> fields);
  CommandResult Delete(std::string collection, std::string key, std::uint64_t expected_version = 0);

  // Pipelined: queues the request (first serving replies while the window is full) and calls
  // `done` once with the outcome. What is queued leaves at the next Poll, Flush or PollItems,
  // together (CommandBatch frames of up to max_command_batch). Returns the request id.
  std::uint64_t Submit(std::span<const CommandSpec> commands, Callback done);

  // Queries, sync: Get a key, Scan a page of a collection, Find, Aggregate, any QuerySpec.
  QueryResult Get(std::string collection, std::string key, const ReadOptions& options = {});
  // Gets of many keys of one collection, answered in the order of `keys`: they leave together
  // (QueryBatch frames of up to max_query_batch) and each is answered on its own.
  std::vector<QueryResult> MultiGet(const std::string& collection,
                                    std::span<const std::string> keys,
                                    const ReadOptions& options = {});
  QueryResult Scan(wire::ScanQuery scan, const ReadOptions& options = {});
  // Entities by a declared index, in (value, key) order, paged by `next` (see wire::FindQuery).
  QueryResult Find(wire::FindQuery find, const ReadOptions& options = {});
  // The groups of a declared aggregate, with count and sum (QueryResult::groups).
  QueryResult Aggregate(std::string collection, std::string name, const ReadOptions& options = {});
  QueryResult Query(const wire::QuerySpec& query, const ReadOptions& options = {});
  // Queries, pipelined: queued, and sent at the next Poll, Flush or PollItems together with
  // every other query queued by then (QueryBatch frames of up to max_query_batch; one alone
  // goes as a plain QueryRequest). Returns the query's request id.
  std::uint64_t SubmitQuery(const wire::QuerySpec& query, const ReadOptions& options,
                            QueryChannel::Callback done);

  // Serves replies and timers for up to `wait`; returns how many requests and queries completed.
  std::size_t Poll(std::chrono::milliseconds wait);
  // Serves until no request and no query is in flight.
  void Flush();

  // For a thread that serves many Clients with one zmq::poll (cqrs load): PollItems sends the
  // queued queries and writes the sockets to watch into `items` (returns how many, at most
  // kMaxPollItems: those with requests or queries in flight, possibly none), ServeReady handles
  // what the poll reported on them plus due timers (returns how many requests and queries
  // completed; call it with the items of the last PollItems of this Client), and
  // next_timer_ns() says when timers next need ServeReady (UINT64_MAX: never).
  static constexpr std::size_t kMaxPollItems = 2;
  std::size_t PollItems(zmq::pollitem_t* items);
  std::size_t ServeReady(const zmq::pollitem_t* items, std::size_t count);
  std::uint64_t next_timer_ns() const;

  std::size_t in_flight() const { return ring_.in_flight(); }
  std::size_t queries_in_flight() const { return queries_->in_flight(); }
  // The highest seq of any acknowledged request: pass it as min_seq to read your writes.
  std::uint64_t last_seq() const { return last_seq_; }
  const std::string& client_id() const { return client_id_; }
  const ClientStats& stats() const { return stats_; }

 private:
  struct Pending {
    std::uint64_t id = 0;
    bool done = true;
    std::vector<std::uint8_t> bytes;  // the encoded request, resent as is
    Callback callback;
    std::uint64_t first_sent_ns = 0;
    std::uint64_t last_sent_ns = 0;
    std::uint32_t outstanding = 0;  // sends on the current socket not answered yet
    bool queued = false;            // to be sent (new, or refused retryably) when admitted
    CommandResult result;
  };

  Client(ClientOptions options, zmq::context_t* context);
  void OpenSocket();
  void Send(Pending& p);
  // Counts a send of `p` (`sent`: the socket took it).
  void MarkSent(Pending& p, bool sent);
  // Sends the queued requests in id order while the congestion window allows, unless a
  // backoff or a probe holds them: several in CommandBatch frames of up to max_command_batch.
  void SendQueued();
  void SendBatch(std::span<Pending* const> group);
  // Queues every unanswered request (after a reconnect) and sends what the window allows.
  void ResendAll();
  // A retryable refusal or OutOfOrder of `id`: halve the window, back off, then probe.
  void Refused(std::uint64_t id);
  // One fewer send awaiting its reply on the current socket.
  void Answered(Pending& p);
  void HandleReply(const zmq::message_t& frame);
  void HandleCommandReply(std::span<const std::uint8_t> aligned);
  void Complete(Pending& p);
  void CheckTimers();
  void AbandonSession();
  std::uint64_t NextTimerNs() const;

  ClientOptions options_;
  std::unique_ptr<zmq::context_t> owned_context_;
  zmq::context_t* context_;
  std::unique_ptr<zmq::socket_t> socket_;
  security::HandshakeWatch handshake_;  // why the writer gives no reply, with CURVE
  std::string client_id_;
  bool generated_id_ = false;
  RequestRing<Pending> ring_;  // base(): the oldest request not yet retired
  std::uint64_t last_seq_ = 0;
  // Overload (the writer sheds with ResourceExhausted) and lost requests (OutOfOrder): after a
  // refusal nothing more is sent until a backoff ends; then the oldest unanswered request goes
  // alone (the probe), and once it is admitted the queued ones follow in id order within a
  // congestion window that each refusal halves and each Ok widens by one, up to the window.
  std::uint64_t resend_at_ns_ = 0;  // 0: no backoff running
  std::uint64_t backoff_ns_ = 0;
  std::uint64_t probe_id_ = 0;  // 0: none in flight
  std::size_t cwnd_ = 0;
  std::size_t awaiting_ = 0;  // requests with a send on the current socket not answered yet
  std::size_t queued_ = 0;    // requests with `queued` set
  std::size_t completed_ = 0;
  // Where the last PollItems put each socket (kNotPolled: left out, nothing in flight on it).
  static constexpr std::size_t kNotPolled = kMaxPollItems;
  std::size_t writer_item_ = kNotPolled, query_item_ = kNotPolled;
  wire::CommandRequestEncoder encoder_;
  std::vector<Pending*> to_send_;  // SendQueued's scratch
  wire::NestedFrameBuilder batch_;
  // A CommandBatch frame holds at most this many bytes of requests (a larger one goes alone).
  static constexpr std::size_t kMaxBatchBytes = 256u << 10;
  wire::AlignedBuffer reply_buffer_;
  wire::AlignedBuffer nested_buffer_;  // a batch's reply that came unaligned
  wire::CommandReplyData reply_;
  ClientStats stats_;
  std::unique_ptr<QueryChannel> queries_;
};

// A random 16-hex-digit client id.
std::string GenerateClientId();

}  // namespace cqrs
