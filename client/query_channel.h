// QueryChannel: the Client's query half. One DEALER connected to every reader endpoint (ZeroMQ
// round-robins the frames across them), a window of queries in flight matched to replies by
// request id, and a resend over a fresh socket when a reply is overdue (queries are idempotent).
// Submitted queries wait in the channel until the next Flush, which sends all of them at once:
// one QueryRequest frame, or QueryBatch frames of up to max_batch queries (no timer: what is
// queued goes at the Flush). Replies come as QueryReply or QueryBatchReply frames.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "base/result.h"
#include "client/request_ring.h"
#include "security/curve_client.h"
#include "security/keys.h"
#include "wire/aligned_buffer.h"
#include "wire/batch_codec.h"
#include "wire/query_codec.h"

namespace cqrs {

// The outcome of one query.
struct QueryResult {
  Code status = Code::kOk;
  std::string message;
  std::uint64_t seq = 0;  // the applied seq of the snapshot that answered (>= the min_seq asked)
  std::vector<wire::EntityData> entities;
  std::string next;  // Scan, Find: pass as `after` for the next page; empty: no more
  std::vector<wire::GroupData> groups;  // Aggregate
  std::uint64_t request_id = 0;
  std::uint32_t attempts = 0;

  bool ok() const { return status == Code::kOk; }
};

struct QueryChannelOptions {
  std::vector<std::string> endpoints;
  std::string token;
  std::chrono::milliseconds attempt_timeout{1000};  // plus the query's own wait
  std::chrono::milliseconds deadline{60000};        // then Unavailable; 0: never give up
  std::uint32_t window = 128;
  // Queries per QueryBatch frame at a Flush (at most the readers' reader.batch_max_queries);
  // 1: a frame per query.
  std::uint32_t max_batch = 64;
  security::ClientCurve curve;  // validated by the Client
};

// Not thread-safe; owned by a Client. Callbacks run inside HandleReadable/CheckTimers.
class QueryChannel {
 public:
  using Callback = std::function<void(const QueryResult&)>;

  QueryChannel(QueryChannelOptions options, zmq::context_t& context);
  ~QueryChannel();

  bool full() const { return ring_.full(); }
  std::size_t in_flight() const { return ring_.in_flight(); }
  std::size_t completed() const { return completed_; }

  // Queues a query for the next Flush (the channel must not be full). `wait_ms`: how long the
  // reader may wait for `min_seq` (0: the reader's default). Returns the request id.
  std::uint64_t Submit(const wire::QuerySpec& query, std::uint64_t min_seq, std::uint32_t wait_ms,
                       Callback done);
  // Sends every queued query now.
  void Flush();
  bool queued() const { return !unsent_.empty(); }
  // The socket to poll (null before the first query).
  zmq::socket_t* socket() { return socket_.get(); }
  // Reads every reply waiting on the socket.
  void HandleReadable();
  // Resends overdue queries, gives up on those past the deadline.
  void CheckTimers();
  // When CheckTimers next has work (UINT64_MAX: none).
  std::uint64_t NextTimerNs() const;

 private:
  struct Pending {
    std::uint64_t id = 0;
    bool done = true;
    std::vector<std::uint8_t> bytes;
    Callback callback;
    std::uint64_t first_sent_ns = 0;
    std::uint64_t last_sent_ns = 0;
    std::uint64_t attempt_ns = 0;  // attempt timeout for this query
    QueryResult result;
  };

  void OpenSocket();
  void Send(Pending& p);
  // Sends `count` queued queries as one QueryBatch frame.
  void SendBatch(std::span<const std::uint64_t> ids);
  void Complete(Pending& p);
  void HandleReply(const zmq::message_t& frame);
  void HandleQueryReply(std::span<const std::uint8_t> aligned);
  // A QueryBatch frame holds at most this many bytes of queries (a larger query goes alone).
  static constexpr std::size_t kMaxBatchBytes = 256u << 10;

  QueryChannelOptions options_;
  zmq::context_t& context_;
  std::unique_ptr<zmq::socket_t> socket_;
  security::HandshakeWatch handshake_;  // why the readers give no reply, with CURVE
  RequestRing<Pending> ring_;
  std::size_t completed_ = 0;
  wire::QueryRequestEncoder encoder_;
  std::vector<std::uint64_t> unsent_;  // ids queued since the last Flush, in order
  wire::NestedFrameBuilder batch_;
  wire::AlignedBuffer reply_buffer_;
  wire::AlignedBuffer nested_buffer_;  // a batch's reply that came unaligned
  wire::QueryReplyData reply_;
};

}  // namespace cqrs
