#include "cli/load.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <sstream>

#include "base/version.h"

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
  bad([](LoadOptions& x) { x.mix = {0, 1, 0, 0}; }, "--reader");
  bad([](LoadOptions& x) { x.mix = {0, 0, 1, 0}; }, "--reader");
  bad([](LoadOptions& x) { x.threads = 5; }, "--threads");
  bad([](LoadOptions& x) { x.rate = -1; }, "--rate");
  bad([](LoadOptions& x) { x.scan_limit = 0; }, "--scan-limit");
  bad([](LoadOptions& x) { x.scan_limit = 1001; }, "--scan-limit");
  bad(
      [](LoadOptions& x) {
        x.distribution = KeyDistribution::kZipf;
        x.zipf_theta = 1;
      },
      "theta");
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
  // min, p95 and p99.99 beside the others, in every format (each a bucket's highest value: at
  // most 1.6 % above the exact percentile).
  CHECK_THAT(json, Catch::Contains("\"min\":1.0,\"p50\":503.8,") && Catch::Contains("\"p95\":") &&
                       Catch::Contains("\"p9999\":1000.0,"));
  CHECK_THAT(r.ToText(), Catch::Contains("min") && Catch::Contains("p95") &&
                             Catch::Contains("p99.99") && Catch::Contains("1.000\n"));
  CHECK(r.ToCsv() ==
        "op,ok,failed,indeterminate,per_sec,min_us,p50_us,p90_us,p95_us,p99_us,p999_us,"
        "p9999_us,max_us,mean_us\n"
        "get,1000,0,0,500.0,1.0,503.8,901.1,950.3,991.2,999.4,1000.0,1000.0,500.5\n");
}

TEST_CASE("LoadReport --json carries the settings and the version", "[cli][load]") {
  LoadReport r;
  r.seconds = 1;
  r.ops[kPut].ok = 1;
  r.ops[kPut].latency_ns.Record(1000);
  LoadOptions o;
  o.clients = 3;
  o.keys = 77;
  std::string settings = LoadSettingsJson(o, "put=100", "zipf:0.9", "kv");
  CHECK_THAT(settings, Catch::StartsWith("{\"mix\":\"put=100\",\"clients\":3,") &&
                           Catch::Contains("\"keys\":77,\"distribution\":\"zipf:0.9\","));
  std::string json = r.ToJson(settings);
  CHECK_THAT(json, Catch::EndsWith(",\"settings\":" + settings + ",\"version\":\"" +
                                   CQRS_VERSION_STRING + "\"}"));
}

TEST_CASE("LoadReport::Hgrm is HdrHistogram's percentile distribution", "[cli][load]") {
  LoadReport r;
  CHECK(r.Hgrm(kGet).empty());
  for (int i = 1; i <= 1000; ++i)
    r.ops[kGet].latency_ns.Record(static_cast<std::uint64_t>(i) * 1000);  // 1 µs .. 1 ms
  std::istringstream in(r.Hgrm(kGet));
  std::string line;
  std::getline(in, line);
  CHECK_THAT(line, Catch::Contains("Value") && Catch::Contains("Percentile") &&
                       Catch::Contains("TotalCount") && Catch::Contains("1/(1-Percentile)"));
  std::getline(in, line);
  CHECK(line.empty());
  double last_value = -1, last_p = -1;
  std::uint64_t last_count = 0;
  int rows = 0;
  while (std::getline(in, line) && line[0] != '#') {
    std::istringstream row(line);
    double value = 0, p = 0;
    std::uint64_t count = 0;
    row >> value >> p >> count;
    CHECK(value >= last_value);
    CHECK(p >= last_p);
    CHECK(count >= last_count);
    last_value = value, last_p = p, last_count = count;
    ++rows;
  }
  CHECK(rows > 10);
  CHECK(last_p == 1.0);
  CHECK(last_count == 1000);
  CHECK(last_value == Approx(1.0));  // ms
  CHECK_THAT(line, Catch::StartsWith("#[Mean    =        0.500"));
  std::getline(in, line);
  CHECK_THAT(line, Catch::Contains("Max     =        1.000") &&
                       Catch::Contains("Total count    =         1000"));
}

TEST_CASE("ParseMix reads op=weight lists and names a bad part", "[cli][load]") {
  auto mix = ParseMix("put=20,get=80");
  REQUIRE(mix.ok());
  CHECK(mix.value() == Mix{20, 80, 0, 0, 0, 0, 0, 0});
  CHECK(ParseMix("rmw=1").value() == Mix{0, 0, 0, 1, 0, 0, 0, 0});
  CHECK(ParseMix("scan=5,put=1").value() == Mix{1, 0, 5, 0, 0, 0, 0, 0});
  CHECK(ParseMix("find=2,agg=3").value() == Mix{0, 0, 0, 0, 2, 3, 0, 0});
  CHECK(ParseMix("insert=5,modify=7").value() == Mix{0, 0, 0, 0, 0, 0, 5, 7});
  CHECK_THAT(ParseMix("put").status().message(), Catch::Contains("'put' is not op=weight"));
  CHECK_THAT(ParseMix("visible=5").status().message(),
             Catch::Contains("'visible' is not put, get, scan, rmw, find, agg, insert or modify"));
  CHECK_THAT(ParseMix("put=x").status().message(), Catch::Contains("weight 'x' of put"));
  CHECK_THAT(ParseMix("put=-1").status().message(), Catch::Contains("weight '-1' of put"));
  CHECK_THAT(ParseMix("put=0").status().message(), Catch::Contains("at least one weight"));
}

TEST_CASE("ParseShape reads kv and orders and names anything else", "[cli][load]") {
  LoadOptions o;
  REQUIRE(ParseShape("orders", &o).ok());
  CHECK(o.shape == LoadShape::kOrders);
  REQUIRE(ParseShape("kv", &o).ok());
  CHECK(o.shape == LoadShape::kKv);
  Status bad = ParseShape("nested", &o);
  CHECK(bad.code() == Code::kInvalidArgument);
  CHECK(bad.message() == "--shape 'nested' is not kv or orders");
}

TEST_CASE("ParseDistribution reads uniform, zipf and zipf:THETA", "[cli][load]") {
  LoadOptions o;
  REQUIRE(ParseDistribution("zipf", &o).ok());
  CHECK(o.distribution == KeyDistribution::kZipf);
  CHECK(o.zipf_theta == 0.99);
  REQUIRE(ParseDistribution("zipf:0.5", &o).ok());
  CHECK(o.zipf_theta == 0.5);
  REQUIRE(ParseDistribution("uniform", &o).ok());
  CHECK(o.distribution == KeyDistribution::kUniform);
  REQUIRE(ParseDistribution("sequential", &o).ok());
  CHECK(o.distribution == KeyDistribution::kSequential);
  REQUIRE(ParseDistribution("latest", &o).ok());
  CHECK(o.distribution == KeyDistribution::kLatest);
  CHECK_THAT(ParseDistribution("zipf:1.5", &o).message(), Catch::Contains("'1.5'"));
  CHECK_THAT(ParseDistribution("zipf:", &o).message(), Catch::Contains("theta"));
  CHECK_THAT(ParseDistribution("zipfian", &o).message(), Catch::Contains("'zipfian'"));
  CHECK_THAT(ParseDistribution("normal", &o).message(), Catch::Contains("uniform, zipf"));
}

TEST_CASE("KeyChooser's uniform keys cover the space evenly", "[cli][load]") {
  KeyChooser keys(KeyDistribution::kUniform, 10, 0);
  std::mt19937_64 rng(7);
  std::array<int, 10> seen{};
  for (int i = 0; i < 100000; ++i) {
    std::uint64_t k = keys.Next(rng);
    REQUIRE(k < 10);
    ++seen[k];
  }
  for (int n : seen) CHECK(n == Approx(10000).margin(500));  // > 5 sigma
}

TEST_CASE("KeyChooser's sequential keys visit each key in turn", "[cli][load]") {
  KeyChooser keys(KeyDistribution::kSequential, 3, 0);
  std::mt19937_64 rng(1);
  std::vector<std::uint64_t> got;
  for (int i = 0; i < 7; ++i) got.push_back(keys.Next(rng));
  CHECK(got == std::vector<std::uint64_t>{0, 1, 2, 0, 1, 2, 0});
}

TEST_CASE("KeyChooser's zipf keys follow 1/rank^theta, scattered over the space", "[cli][load]") {
  constexpr std::uint64_t kKeys = 100000;
  KeyChooser keys(KeyDistribution::kZipf, kKeys, 0.99);
  // The scattering is a bijection of [0, keys).
  std::vector<bool> hit(kKeys);
  for (std::uint64_t r = 0; r < kKeys; ++r) hit[keys.KeyOfRank(r)] = true;
  CHECK(std::count(hit.begin(), hit.end(), true) == static_cast<long>(kKeys));
  CHECK(keys.KeyOfRank(1) - keys.KeyOfRank(0) > 1);  // neighbours in rank are not in key
  std::mt19937_64 rng(11);
  std::vector<int> seen(kKeys);
  constexpr int kDraws = 400000;
  for (int i = 0; i < kDraws; ++i) {
    std::uint64_t k = keys.Next(rng);
    REQUIRE(k < kKeys);
    ++seen[k];
  }
  // The hottest ranks get their share within 5 standard deviations.
  for (std::uint64_t r : {0u, 1u, 2u, 9u, 99u, 1000u}) {
    double p = keys.RankProbability(r);
    double expected = p * kDraws, sigma = std::sqrt(kDraws * p * (1 - p));
    CHECK(seen[keys.KeyOfRank(r)] == Approx(expected).margin(5 * sigma));
  }
  double zeta = 0;
  for (std::uint64_t i = 1; i <= kKeys; ++i) zeta += std::pow(static_cast<double>(i), -0.99);
  CHECK(keys.RankProbability(0) == Approx(1 / zeta));
  // The tail: ranks from 1024 on, about as often as their probabilities say (within 2 %).
  double tail_p = 0;
  for (std::uint64_t r = 1024; r < kKeys; ++r) tail_p += keys.RankProbability(r);
  long tail_seen = 0;
  for (std::uint64_t r = 1024; r < kKeys; ++r) tail_seen += seen[keys.KeyOfRank(r)];
  CHECK(static_cast<double>(tail_seen) == Approx(tail_p * kDraws).epsilon(0.02));
}

TEST_CASE("KeyChooser's latest keys favour the newest inserted key", "[cli][load]") {
  constexpr std::uint64_t kKeys = 10000;
  std::atomic<std::uint64_t> inserted{0};
  KeyChooser keys(KeyDistribution::kLatest, kKeys, 0.99, &inserted);
  std::mt19937_64 rng(5);
  auto draw = [&](std::uint64_t newest) {
    std::map<std::uint64_t, int> seen;
    for (int i = 0; i < 100000; ++i) {
      std::uint64_t k = keys.Next(rng);
      REQUIRE(k <= newest);
      ++seen[k];
    }
    return seen;
  };
  auto before = draw(kKeys - 1);
  // Rank r is key newest - r: the newest key is drawn as often as rank 0 should be.
  const double p0 = keys.RankProbability(0), p1 = keys.RankProbability(1);
  CHECK(before[kKeys - 1] == Approx(p0 * 100000).margin(5 * std::sqrt(100000 * p0 * (1 - p0))));
  CHECK(before[kKeys - 2] == Approx(p1 * 100000).margin(5 * std::sqrt(100000 * p1 * (1 - p1))));
  // After 500 inserts the hot spot moves with them: the newest is now key 10499.
  inserted = 500;
  auto after = draw(kKeys + 499);
  CHECK(after[kKeys + 499] == Approx(p0 * 100000).margin(5 * std::sqrt(100000 * p0 * (1 - p0))));
  CHECK(after[kKeys - 1] < before[kKeys - 1] / 10);
}

TEST_CASE("YcsbWorkload: the six core workloads as mixes and distributions", "[cli][load]") {
  const std::map<std::string, std::pair<Mix, KeyDistribution>> want = {
      {"a", {Mix{50, 50, 0, 0, 0, 0, 0, 0}, KeyDistribution::kZipf}},
      {"b", {Mix{5, 95, 0, 0, 0, 0, 0, 0}, KeyDistribution::kZipf}},
      {"c", {Mix{0, 100, 0, 0, 0, 0, 0, 0}, KeyDistribution::kZipf}},
      {"d", {Mix{0, 95, 0, 0, 0, 0, 5, 0}, KeyDistribution::kLatest}},
      {"e", {Mix{0, 0, 95, 0, 0, 0, 5, 0}, KeyDistribution::kZipf}},
      {"f", {Mix{0, 50, 0, 0, 0, 0, 0, 50}, KeyDistribution::kZipf}},
  };
  for (const auto& [name, expected] : want) {
    INFO("workload " << name);
    auto preset = YcsbWorkload(name);
    REQUIRE(preset.ok());
    CHECK(ParseMix(preset->mix).value() == expected.first);
    LoadOptions o;
    REQUIRE(ParseDistribution(preset->distribution, &o).ok());
    CHECK(o.distribution == expected.second);
    CHECK(preset->value_size == 1000);
    CHECK(preset->scan_length_uniform == (name == "e"));
  }
  CHECK_THAT(YcsbWorkload("g").status().message(),
             Catch::Contains("'g' is not one of YCSB's a, b, c, d, e, f"));
}

}  // namespace cqrs::cli
