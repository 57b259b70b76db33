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
  bad([](LoadOptions& x) { x.mix = {0, 1, 0}; }, "--reader");
  LoadOptions by_count = o;
  by_count.duration_s = 0;
  by_count.requests = 100;
  CHECK(ValidateLoadOptions(by_count).ok());
}

TEST_CASE("LoadReport prints a row per operation with percentiles", "[cli][load]") {
  LoadReport r;
  r.seconds = 2;
  r.ops[kGet].ok = 1000;
  for (int i = 1; i <= 1000; ++i)
    r.ops[kGet].latency_ns.Record(static_cast<std::uint64_t>(i) * 1000);
  CHECK(r.throughput(kGet) == Approx(500));
  std::string json = r.ToJson();
  CHECK_THAT(json, Catch::Contains("\"get\":{\"ok\":1000,\"failed\":0,\"indeterminate\":0,"
                                   "\"per_sec\":500.0"));
  CHECK_THAT(json, Catch::Contains("\"max\":1000.0"));
  CHECK_THAT(json, !Catch::Contains("\"put\""));  // no row for an op that did not run
  CHECK_THAT(r.ToText(), Catch::Contains("get"));
}

TEST_CASE("ParseMix reads op=weight lists and names a bad part", "[cli][load]") {
  auto mix = ParseMix("put=20,get=80");
  REQUIRE(mix.ok());
  CHECK(mix.value() == std::array<std::uint32_t, 3>{20, 80, 0});
  CHECK(ParseMix("rmw=1").value() == std::array<std::uint32_t, 3>{0, 0, 1});
  CHECK_THAT(ParseMix("put").status().message(), Catch::Contains("'put' is not op=weight"));
  CHECK_THAT(ParseMix("scan=5").status().message(),
             Catch::Contains("'scan' is not put, get or rmw"));
  CHECK_THAT(ParseMix("put=x").status().message(), Catch::Contains("weight 'x' of put"));
  CHECK_THAT(ParseMix("put=0").status().message(), Catch::Contains("at least one weight"));
}

}  // namespace cqrs::cli
