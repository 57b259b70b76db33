#include "base/histogram.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

namespace cqrs {

TEST_CASE("Histogram buckets are contiguous and each holds its values", "[base][histogram]") {
  std::uint64_t expected_low = 0;
  for (int b = 0; b < Histogram::kBuckets; ++b) {
    std::uint64_t high = Histogram::BucketHigh(b);
    REQUIRE(high >= expected_low);
    CHECK(Histogram::BucketOf(expected_low) == b);
    CHECK(Histogram::BucketOf(high) == b);
    if (high == UINT64_MAX) break;
    expected_low = high + 1;
  }
}

TEST_CASE("Histogram is exact below 128", "[base][histogram]") {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.Record(v);
  CHECK(h.Percentile(0.5) == 50);
  CHECK(h.Percentile(0.99) == 99);
  CHECK(h.Percentile(1.0) == 100);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);
  CHECK(h.mean() == Approx(50.5));
}

TEST_CASE("Histogram percentiles are within 1/64 above the exact ones", "[base][histogram]") {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(11.0, 1.5);  // ~60 us median latencies in ns
  std::vector<std::uint64_t> values;
  Histogram h;
  for (int i = 0; i < 100000; ++i) {
    auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    std::uint64_t exact = values[rank - 1];
    std::uint64_t got = h.Percentile(q);
    INFO("q=" << q << " exact=" << exact << " got=" << got);
    CHECK(got >= exact);
    CHECK(static_cast<double>(got) <= static_cast<double>(exact) * (1.0 + 1.0 / 64) + 1);
  }
  CHECK(h.count() == values.size());
  CHECK(h.max() == values.back());
}

TEST_CASE("Histogram merges per-thread histograms", "[base][histogram]") {
  Histogram a, b;
  for (int i = 0; i < 1000; ++i) a.Record(1000);
  for (int i = 0; i < 1000; ++i) b.Record(5000000);
  a.Merge(b);
  CHECK(a.count() == 2000);
  CHECK(a.Percentile(0.5) <= 1000 * 65 / 64);
  CHECK(a.Percentile(0.75) >= 5000000);
  CHECK(a.max() == 5000000);
}

}  // namespace cqrs
