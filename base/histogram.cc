// Log-linear histogram buckets and percentiles.
#include "base/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace cqrs {

int Histogram::BucketOf(std::uint64_t v) {
  if (v < 2 * kSub) return static_cast<int>(v);  // exact region: buckets 0..127
  int msb = 63 - std::countl_zero(v);            // >= kSubBits + 1
  int shift = msb - kSubBits;                    // >= 1
  auto sub = static_cast<int>((v >> shift) & (kSub - 1));
  return (shift + 1) * kSub + sub;
}

std::uint64_t Histogram::BucketHigh(int bucket) {
  if (bucket < 2 * kSub) return static_cast<std::uint64_t>(bucket);
  int shift = bucket / kSub - 1;
  auto sub = static_cast<std::uint64_t>(bucket % kSub);
  std::uint64_t low = (static_cast<std::uint64_t>(kSub) + sub) << shift;
  return low + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::Record(std::uint64_t value) { RecordN(value, 1); }

void Histogram::RecordN(std::uint64_t value, std::uint64_t n) {
  if (n == 0) return;
  counts_[static_cast<std::size_t>(BucketOf(value))] += n;
  count_ += n;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += value * n;
}

void Histogram::Merge(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::Clear() { *this = Histogram(); }

std::uint64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(BucketHigh(static_cast<int>(i)), max_);
  }
  return max_;
}

}  // namespace cqrs
