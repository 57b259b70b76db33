#include "client/request_ring.h"

#include <catch2/catch.hpp>
#include <vector>

namespace cqrs {
namespace {

struct Entry {
  std::uint64_t id = 0;
  bool done = true;
};

std::vector<std::uint64_t> Open(RequestRing<Entry>& ring) {
  std::vector<std::uint64_t> ids;
  ring.ForEachOpen([&](Entry& e) { ids.push_back(e.id); });
  return ids;
}

}  // namespace

TEST_CASE("RequestRing hands out ids in order and reuses a slot only once its id is retired",
          "[client][ring]") {
  RequestRing<Entry> ring(3, 10);
  CHECK(ring.empty());
  CHECK(ring.Add().id == 10);
  CHECK(ring.Add().id == 11);
  CHECK(ring.Add().id == 12);
  CHECK(ring.full());
  CHECK(ring.in_flight() == 3);

  // Answered out of order: 11 first. The base stays at 10 and the ring stays full.
  ring.Find(11)->done = true;
  ring.Retire();
  CHECK(ring.base() == 10);
  CHECK(ring.full());
  CHECK(Open(ring) == std::vector<std::uint64_t>{10, 12});
  CHECK(ring.Find(11) == nullptr);  // a second answer to 11 is a late duplicate

  ring.Find(10)->done = true;
  ring.Retire();
  CHECK(ring.base() == 12);  // past 10 and the already answered 11
  CHECK(ring.in_flight() == 1);
  CHECK(ring.Add().id == 13);       // 10's slot again
  CHECK(ring.Find(10) == nullptr);  // retired: not mistaken for 13 in the same slot
  CHECK(ring.Find(14) == nullptr);  // never handed out
  CHECK(ring.Find(13) != nullptr);

  // Completing inside ForEachOpen (as a deadline does) retires as it goes.
  ring.ForEachOpen([&](Entry& e) {
    e.done = true;
    ring.Retire();
  });
  CHECK(ring.empty());
  ring.Restart(1);
  CHECK(ring.Add().id == 1);
}

}  // namespace cqrs
