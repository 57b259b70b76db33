#include "cli/load.h"

#include <catch2/catch.hpp>

namespace cqrs::cli {

TEST_CASE("ValidateLoadOptions names the flag that is out of range", "[cli][load]") {
  LoadOptions o;
  o.writer_endpoint = "tcp://127.0.0.1:7101";
  CHECK(ValidateLoadOptions(o).ok());
  auto bad = [&](auto mutate, const char* flag) {
    LoadOptions copy = o;
    mutate(copy);
    Status s = ValidateLoadOptions(copy);
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains(flag));
  };
  bad([](LoadOptions& x) { x.clients = 0; }, "--clients");
  bad([](LoadOptions& x) { x.pipeline = 0; }, "--pipeline");
  bad([](LoadOptions& x) { x.duration_s = 0; }, "--duration");
  bad([](LoadOptions& x) { x.keys = 0; }, "--keys");
  bad([](LoadOptions& x) { x.value_size = 70000; }, "--value-size");
  bad([](LoadOptions& x) { x.warmup_s = -1; }, "--warmup");
  bad([](LoadOptions& x) { x.writer_endpoint.clear(); }, "--writer");
  LoadOptions by_count = o;
  by_count.duration_s = 0;
  by_count.requests = 100;
  CHECK(ValidateLoadOptions(by_count).ok());
}

TEST_CASE("LoadReport prints percentiles from its histogram", "[cli][load]") {
  LoadReport r;
  r.ok = 1000;
  r.seconds = 2;
  for (int i = 1; i <= 1000; ++i) r.latency_ns.Record(static_cast<std::uint64_t>(i) * 1000);
  CHECK(r.throughput() == Approx(500));
  std::string json = r.ToJson();
  CHECK_THAT(json, Catch::Contains("\"requests_per_sec\":500.0"));
  CHECK_THAT(json, Catch::Contains("\"max\":1000.0"));
  CHECK_THAT(r.ToText(), Catch::Contains("500 requests/s"));
}

}  // namespace cqrs::cli
