#include "base/status.h"

#include <catch2/catch.hpp>

namespace cqrs {

TEST_CASE("Status names its code and message", "[base][status]") {
  Status s = Error(Code::kInvalidArgument, "key is {} bytes, over max_key_bytes {}", 600, 507);
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.ToString() == "InvalidArgument: key is 600 bytes, over max_key_bytes 507");
  CHECK(OkStatus().ok());
  CHECK(OkStatus().ToString() == "Ok");
}

TEST_CASE("CodeName gives the wire name of every code", "[base][status]") {
  CHECK(CodeName(Code::kOk) == "Ok");
  CHECK(CodeName(Code::kOutOfOrder) == "OutOfOrder");
  CHECK(CodeName(Code::kInternal) == "Internal");
  CHECK(CodeName(static_cast<Code>(99)) == "Unknown");
}

TEST_CASE("Only ResourceExhausted and Unavailable are retryable", "[base][status]") {
  for (int i = 0; i < kCodeCount; ++i) {
    auto code = static_cast<Code>(i);
    CHECK(IsRetryable(code) == (code == Code::kResourceExhausted || code == Code::kUnavailable));
  }
}

TEST_CASE("Result holds a value or the error that prevented it", "[base][status]") {
  Result<int> good = 5;
  REQUIRE(good.ok());
  CHECK(good.value() == 5);
  Result<int> bad = Status(Code::kNotFound, "gone");
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kNotFound);
}

}  // namespace cqrs
