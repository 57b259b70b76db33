// cqrs::Subscriber: follows the projector's change feed and delivers every event once, in seq
// order. A SUB socket takes the live events; a gap (by seq, or by collection_seq when filtered
// to one collection), a heartbeat showing events we never saw, or a late start is back-filled
// from the projector's replay endpoint (the durable log), so drops by ZeroMQ are repaired.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "base/result.h"
#include "schemas/cqrs_generated.h"
#include "security/keys.h"
#include "wire/aligned_buffer.h"
#include "wire/event_codec.h"

namespace cqrs {

struct SubscriberOptions {
  std::string events_endpoint = "tcp://127.0.0.1:7102";
  std::string replay_endpoint = "tcp://127.0.0.1:7103";
  std::string collection;  // empty: every collection
  // 0: events from now on; N: every event with seq >= N first (replayed), then live ones.
  std::uint64_t from_seq = 0;
  int rcvhwm = 100000;  // SUB high-water mark; past it ZeroMQ drops and replay fills in
  std::chrono::milliseconds replay_timeout{2000};
  // Security on: the key pair and the servers' public key, and the tenant of the key's
  // principal (topics are then "<tenant>/<collection>/<key>"); `collection` is then required.
  security::ClientCurve curve;
  std::string tenant;
};

struct SubscriberStats {
  std::uint64_t delivered = 0;
  std::uint64_t gaps = 0;        // times a gap was detected
  std::uint64_t replayed = 0;    // events delivered from replay
  std::uint64_t duplicates = 0;  // live events dropped as already delivered
  std::uint64_t heartbeats = 0;
};

// Not thread-safe: one thread polls it.
class Subscriber {
 public:
  // The event is valid only during the call.
  using Handler = std::function<void(const fb::Event&)>;

  static Result<std::unique_ptr<Subscriber>> Connect(SubscriberOptions options,
                                                     zmq::context_t* context = nullptr);
  ~Subscriber();

  // Receives for up to `wait` and delivers what is in order. Unavailable if a needed replay
  // got no answer (the subscriber stays usable: call again).
  Status Poll(std::chrono::milliseconds wait, const Handler& handler);

  // The seq of the last delivered event (0: none yet).
  std::uint64_t last_seq() const { return last_seq_; }
  // The projector's applied seq from the last heartbeat or replay.
  std::uint64_t head_seq() const { return head_seq_; }
  const SubscriberStats& stats() const { return stats_; }

 private:
  explicit Subscriber(SubscriberOptions options, zmq::context_t* context);
  Status HandleLive(const zmq::message_t& topic, const zmq::message_t& body, const Handler& h);
  Status Deliver(const fb::Event& event, bool replayed, const Handler& h);
  // Replays until `target` (a seq, or a collection_seq when filtered) has been delivered, or the
  // log holds nothing more.
  Status Replay(std::uint64_t target, const Handler& h);
  Status RequestReplay(std::uint64_t from_seq, const fb::EventBatch** batch);
  Status DrainPending(const Handler& h);
  bool filtered() const { return !options_.collection.empty(); }
  std::uint64_t Position(const fb::Event& e) const {
    return filtered() ? e.collection_seq() : e.seq();
  }

  SubscriberOptions options_;
  std::unique_ptr<zmq::context_t> owned_context_;
  zmq::context_t* context_;
  zmq::socket_t sub_;
  std::unique_ptr<zmq::socket_t> replay_;
  bool started_ = false;  // the first position is known
  bool joined_ = false;   // a late joiner's first replay is done
  std::uint64_t last_tail_check_ns_ = 0;
  std::uint64_t next_ = 0;      // the next position (seq or collection_seq) to deliver
  std::uint64_t last_seq_ = 0;  // global seq of the last delivered event
  std::uint64_t head_seq_ = 0;
  std::map<std::uint64_t, std::vector<std::uint8_t>> pending_;  // live events past a gap
  wire::AlignedBuffer buffer_;
  wire::AlignedBuffer replay_buffer_;
  wire::ReplayRequestEncoder encoder_;
  SubscriberStats stats_;
};

}  // namespace cqrs
