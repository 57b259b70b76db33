#include "wire/log_segment.h"

#include <catch2/catch.hpp>

#include "tests/support/events.h"

namespace cqrs::wire {
namespace {

AlignedBuffer Copy(std::span<const std::uint8_t> bytes) {
  AlignedBuffer out;
  out.Assign(bytes.data(), bytes.size());
  return out;
}

// A segment of events first..last as the mirror builds it; its header may claim another last
// seq, and the event at `wrong_seq_at` may carry another seq.
AlignedBuffer Segment(std::uint64_t first, std::uint64_t last, std::uint64_t header_last = 0,
                      std::uint64_t wrong_seq_at = 0) {
  LogSegmentBuilder b;
  b.Begin();
  for (std::uint64_t seq = first; seq <= last; ++seq) {
    auto e = testing::MakeEvent(seq == wrong_seq_at ? seq + 7 : seq, fb::Op::Upsert, "c",
                                "k" + std::to_string(seq), 1, {{"n", std::int64_t{1}}});
    b.Add(e.span());
  }
  return Copy(
      b.Finish("0123456789abcdef0123456789abcdef", first, header_last ? header_last : last));
}

}  // namespace

TEST_CASE("A log segment carries its events in seq order, each verified", "[wire][segment]") {
  AlignedBuffer seg = Segment(5, 9);
  SegmentHeader h;
  std::vector<std::uint64_t> seqs;
  REQUIRE(ForEachSegmentEvent(seg.span(), 1u << 20, &h,
                              [&](const fb::Event& e, std::span<const std::uint8_t> frame) {
                                CHECK(reinterpret_cast<std::uintptr_t>(frame.data()) % 8 == 0);
                                seqs.push_back(e.seq());
                                return OkStatus();
                              })
              .ok());
  CHECK(h.store_id == "0123456789abcdef0123456789abcdef");
  CHECK(h.first_seq == 5);
  CHECK(h.last_seq == 9);
  CHECK(seqs == std::vector<std::uint64_t>{5, 6, 7, 8, 9});
}

TEST_CASE("A log segment with a gap, a wrong seq or a wrong size applies nothing",
          "[wire][segment]") {
  SegmentHeader h;
  int calls = 0;
  auto each = [&](const fb::Event&, std::span<const std::uint8_t>) {
    ++calls;
    return OkStatus();
  };
  AlignedBuffer short_range = Segment(5, 9, 10);
  CHECK_THAT(ForEachSegmentEvent(short_range.span(), 1u << 20, &h, each).message(),
             Catch::Contains("seqs 5..10 holds 5 events"));
  AlignedBuffer wrong = Segment(5, 9, 0, 8);
  CHECK_THAT(ForEachSegmentEvent(wrong.span(), 1u << 20, &h, each).message(),
             Catch::Contains("LogSegment event 8 has seq 15"));
  AlignedBuffer seg = Segment(1, 3);
  CHECK_THAT(ForEachSegmentEvent(seg.span(), 16, &h, each).message(),
             Catch::Contains("LogSegment"));
  AlignedBuffer cut = Copy(seg.span().first(seg.size() - 9));
  CHECK(ForEachSegmentEvent(cut.span(), 1u << 20, &h, each).code() == Code::kInvalidArgument);
  AlignedBuffer event = testing::MakeEvent(1, fb::Op::Delete, "c", "k", 1);
  CHECK(ForEachSegmentEvent(event.span(), 1u << 20, &h, each).code() == Code::kInvalidArgument);
  CHECK(calls == 0);
}

TEST_CASE("A segment's message id names its range and parses back", "[wire][segment]") {
  CHECK(SegmentMsgId(1, 16) == "1-16");
  std::uint64_t first = 0, last = 0;
  REQUIRE(ParseSegmentMsgId("17-17", &first, &last).ok());
  CHECK(first == 17);
  CHECK(last == 17);
  for (const char* bad : {"", "5", "5-", "-5", "0-3", "9-3", "1-2x", "a-b", "1--2"})
    CHECK(ParseSegmentMsgId(bad, &first, &last).code() == Code::kInvalidArgument);
}

}  // namespace cqrs::wire
