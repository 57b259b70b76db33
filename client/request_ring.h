// The requests a client has in flight, by id: ids are handed out in order, each in the slot
// id % capacity, and a slot is reused only once every id before it has been answered (retired).
// Shared by the command half (Client) and the query half (QueryChannel) of the client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/result.h"

namespace cqrs {

// `Entry` has `std::uint64_t id` and `bool done` (true for a free slot); the rest is the
// owner's.
template <typename Entry>
class RequestRing {
 public:
  RequestRing(std::size_t capacity, std::uint64_t first_id)
      : slots_(capacity), base_(first_id), next_(first_id) {}

  std::size_t capacity() const { return slots_.size(); }
  std::size_t in_flight() const { return static_cast<std::size_t>(next_ - base_); }
  bool full() const { return in_flight() >= slots_.size(); }
  bool empty() const { return base_ == next_; }
  std::uint64_t base() const { return base_; }  // the oldest id not retired
  std::uint64_t next() const { return next_; }  // the id Add gives next

  // The slot of the next id (the ring must not be full), its id set and `done` cleared.
  Entry& Add() {
    CQRS_CHECK(!full());
    Entry& e = at(next_);
    CQRS_CHECK(e.done);
    e.id = next_++;
    e.done = false;
    return e;
  }

  Entry& at(std::uint64_t id) { return slots_[id % slots_.size()]; }
  const Entry& at(std::uint64_t id) const { return slots_[id % slots_.size()]; }

  // The open entry of `id`; null for an id not in flight (a late duplicate of a retired one) or
  // already done.
  Entry* Find(std::uint64_t id) {
    if (id < base_ || id >= next_) return nullptr;
    Entry& e = at(id);
    return e.done || e.id != id ? nullptr : &e;
  }

  // Moves the base past the done entries at its front.
  void Retire() {
    while (base_ < next_ && at(base_).done) ++base_;
  }

  // `f(entry)` for every open entry, in id order (it may complete the entry).
  template <typename F>
  void ForEachOpen(F&& f) {
    for (std::uint64_t id = base_; id < next_; ++id)
      if (Entry& e = at(id); !e.done) f(e);
  }

  // Forgets every id (all must be done) and goes on from `id`.
  void Restart(std::uint64_t id) { base_ = next_ = id; }

 private:
  std::vector<Entry> slots_;
  std::uint64_t base_;
  std::uint64_t next_;
};

}  // namespace cqrs
