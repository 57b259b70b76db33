#include "base/fault.h"

#include <catch2/catch.hpp>
#include <cstdlib>

namespace cqrs {

TEST_CASE("CQRS_FAULTS: each bad entry is refused by name; probability 0 never fires",
          "[base][fault]") {
  for (const char* bad : {"crash_after_comit=0.1", "drop_reply", "drop_reply=2", "drop_reply=0.1x",
                          "drop_reply=", "drop_reply=0.1,,"}) {
    INFO(bad);
    setenv("CQRS_FAULTS", bad, 1);
    auto r = fault::ArmFromEnvironment();
    REQUIRE(!r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK_THAT(r.status().message(), Catch::Contains("CQRS_FAULTS"));
    CHECK(!fault::Fire(fault::Point::kDropReply));
  }
  setenv("CQRS_FAULTS", "drop_reply=0,crash_after_commit=0", 1);
  auto r = fault::ArmFromEnvironment();
  REQUIRE(r.ok());
  CHECK(r.value() == "drop_reply=0, crash_after_commit=0");
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(fault::Fire(fault::Point::kDropReply));
  unsetenv("CQRS_FAULTS");
}

}  // namespace cqrs
