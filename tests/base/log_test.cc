// LogLimiter: one message per period, the rest counted.
#include "base/log.h"

#include <catch2/catch.hpp>

namespace cqrs {

TEST_CASE("LogLimiter lets one message per period through and counts the rest", "[base]") {
  LogLimiter limiter(1000);
  std::uint64_t suppressed = 99;
  CHECK(limiter.Allow(0, &suppressed));  // the first, even at time 0
  CHECK(suppressed == 0);
  CHECK_FALSE(limiter.Allow(1, &suppressed));
  CHECK_FALSE(limiter.Allow(999, &suppressed));
  CHECK(limiter.Allow(1000, &suppressed));
  CHECK(suppressed == 2);
  CHECK(limiter.Allow(5000, &suppressed));
  CHECK(suppressed == 0);
}

}  // namespace cqrs
