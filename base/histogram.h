// Histogram: a log-linear latency histogram in the manner of HdrHistogram (none is packaged for
// C++ in Debian). Each power of two is split into 64 linear sub-buckets, so a recorded value is
// reported within 1/64 (1.6 %) of itself; values below 128 are exact. Fixed memory, no
// allocation per record, mergeable across threads.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace cqrs {

// Not thread-safe; give each thread its own and Merge().
class Histogram {
 public:
  void Record(std::uint64_t value);
  void RecordN(std::uint64_t value, std::uint64_t count);
  void Merge(const Histogram& other);
  void Clear();

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const {
    return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0;
  }
  // The smallest recorded value v such that at least q (0..1) of the values are <= v, reported
  // as the highest value of its bucket (never below the true percentile, at most 1.6 % above),
  // capped at max().
  std::uint64_t Percentile(double q) const;
  // Count per bucket (BucketHigh(i) is bucket i's largest value): for exporting the whole shape.
  std::span<const std::uint64_t> counts() const { return counts_; }

  static constexpr int kSubBits = 6;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits) * kSub + kSub;

  // Bucket arithmetic, exposed for tests.
  static int BucketOf(std::uint64_t value);
  static std::uint64_t BucketHigh(int bucket);  // largest value mapping to `bucket`

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
};

}  // namespace cqrs
