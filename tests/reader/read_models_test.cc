// Indexes and aggregates against a plain in-memory model: random upserts (moving indexed values
// between types and groups, removing fields) and deletes are applied by the EventApplier to a
// real read store; after each batch every Find (equality and ranges, paged) and Aggregate
// answer of the QueryExecutor must equal what the model computes.
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <random>

#include "projector/event_applier.h"
#include "reader/query_executor.h"
#include "store/ordered_value.h"
#include "tests/support/events.h"
#include "tests/support/read_model.h"
#include "tests/support/test_support.h"
#include "wire/query_codec.h"

namespace cqrs::reader {
namespace {

using Fields = testing::ModelFields;
using testing::Ordered;

class ModelHarness {
 public:
  ModelHarness() {
    CollectionSpec orders{"orders", {"status", "customer", "amount"}, {}};
    orders.aggregates = {{"by_customer", "customer", "amount"}, {"by_status", "status", ""}};
    models_ = {orders};
    store::ReadStoreOptions o;
    o.dir = dir_ / "read";
    store_ = std::move(store::ReadStore::Open(o)).value();
    applier_ = std::make_unique<projector::EventApplier>(*store_, models_);
    config_.default_scan_limit = 7;  // small pages: paging is exercised
    executor_ = std::make_unique<QueryExecutor>(*store_, config_, models_);
  }

  void ApplyBatch(std::mt19937_64& rng, int events) {
    auto txn = store::Txn::BeginWrite(store_->env());
    REQUIRE(applier_->Begin(txn.value()).ok());
    for (int i = 0; i < events; ++i) {
      std::string key = "o" + std::to_string(rng() % 60);
      ++seq_;
      if (rng() % 6 == 0 && model_.count(key)) {
        auto e = testing::MakeEvent(seq_, fb::Op::Delete, "orders", key, 0);
        REQUIRE(applier_->Apply(txn.value(), testing::AsEvent(e)).ok());
        model_.erase(key);
        continue;
      }
      Fields f;  // the after-image: each field present or not, of varying types
      if (rng() % 5)
        f["status"] = std::string(std::vector<const char*>{"open", "paid", "void"}[rng() % 3]);
      if (rng() % 5) f["customer"] = static_cast<std::int64_t>(rng() % 5);
      switch (rng() % 4) {
        case 0:
          break;  // no amount
        case 1:
          f["amount"] = static_cast<double>(static_cast<int>(rng() % 41) - 20) / 2;
          break;
        case 2:
          f["amount"] = std::string("n/a");  // not a number: not summed
          break;
        default:
          f["amount"] = static_cast<std::int64_t>(rng() % 21) - 10;
      }
      f["note"] = std::string("x");
      std::vector<FieldSpec> specs;
      for (const auto& [name, value] : f) specs.push_back({name, value});
      auto e = testing::MakeEvent(seq_, fb::Op::Upsert, "orders", key, 1, specs);
      REQUIRE(applier_->Apply(txn.value(), testing::AsEvent(e)).ok());
      model_[key] = f;
    }
    REQUIRE(applier_->End(txn.value()).ok());
    REQUIRE(txn->Commit().ok());
  }

  wire::QueryReplyData Run(const wire::QuerySpec& q) {
    auto bytes = encoder_.Encode(3, "", 0, 0, q);
    wire::AlignedBuffer in;
    in.Assign(bytes.data(), bytes.size());
    auto decoded = wire::DecodeQueryRequest(in.span(), wire::QueryLimits());
    INFO(decoded.status.message());
    REQUIRE(decoded.status.ok());
    auto txn = store::Txn::BeginRead(store_->env());
    Code code;
    auto reply = executor_->Execute(txn.value(), seq_, *decoded.request, kDefaultTenant, &code);
    wire::AlignedBuffer out;
    out.Assign(reply.data(), reply.size());
    wire::QueryReplyData r;
    REQUIRE(wire::ParseQueryReply(out.span(), &r).ok());
    return r;
  }

  // Every page of a Find, following `next`: the keys in order.
  std::vector<std::string> FindAll(wire::FindQuery q) {
    std::vector<std::string> keys;
    for (int pages = 0;; ++pages) {
      REQUIRE(pages < 100);
      auto r = Run(q);
      INFO(r.message);
      REQUIRE(r.status == Code::kOk);
      for (const auto& e : r.entities) keys.push_back(e.key);
      if (r.next.empty()) break;
      q.after = r.next;
    }
    return keys;
  }

  std::vector<std::string> Expected(const std::string& field, const Value& lo, const Value& hi) {
    return testing::ExpectedFind(model_, field, lo, hi);
  }

  using Group = testing::ModelGroup;
  std::map<std::string, Group> ExpectedGroups(const std::string& group_by, const std::string& sum) {
    return testing::ExpectedGroups(model_, group_by, sum);
  }

  std::map<std::string, Group> Groups(const std::string& name) {
    auto r = Run(wire::AggregateQuery{"orders", name});
    INFO(r.message);
    REQUIRE(r.status == Code::kOk);
    std::map<std::string, Group> groups;
    for (const auto& g : r.groups) groups[Ordered(g.key)] = {g.count, g.sum};
    return groups;
  }

 private:
  testing::TempDir dir_;
  std::vector<CollectionSpec> models_;
  ReaderConfig config_;
  std::unique_ptr<store::ReadStore> store_;
  std::unique_ptr<projector::EventApplier> applier_;
  std::unique_ptr<QueryExecutor> executor_;
  wire::QueryRequestEncoder encoder_;
  testing::Model model_;
  std::uint64_t seq_ = 0;
};

}  // namespace

TEST_CASE("Find and Aggregate answer what an in-memory model computes, batch after batch",
          "[reader][read_models]") {
  ModelHarness h;
  std::mt19937_64 rng(2026);
  auto number = [&]() -> Value {
    if (rng() % 2) return static_cast<std::int64_t>(rng() % 25) - 12;
    return static_cast<double>(static_cast<int>(rng() % 49) - 24) / 2;
  };
  for (int batch = 0; batch < 40; ++batch) {
    h.ApplyBatch(rng, 1 + static_cast<int>(rng() % 40));
    INFO("after batch " << batch);
    for (const char* status : {"open", "paid", "void", "nope"}) {
      Value eq = std::string(status);
      CHECK(h.FindAll({"orders", "status", eq, {}, {}, "", 0}) == h.Expected("status", eq, eq));
    }
    for (std::int64_t c = 0; c < 5; ++c)
      CHECK(h.FindAll({"orders", "customer", c, {}, {}, "", 0}) == h.Expected("customer", c, c));
    for (int q = 0; q < 6; ++q) {
      Value lo = number(), hi = number();
      if (q == 4) lo = std::monostate();  // open below
      if (q == 5) hi = std::monostate();  // open above
      INFO("amount range query " << q);
      CHECK(h.FindAll(
                {"orders", "amount", {}, lo, hi, "", static_cast<std::uint32_t>(1 + rng() % 5)}) ==
            h.Expected("amount", lo, hi));
      Value eq = number();
      CHECK(h.FindAll({"orders", "amount", eq, {}, {}, "", 0}) == h.Expected("amount", eq, eq));
    }
    Value s_lo = std::string("o"), s_hi = std::string("p");  // "open" and "paid" sort in it
    CHECK(h.FindAll({"orders", "status", {}, s_lo, s_hi, "", 2}) ==
          h.Expected("status", s_lo, s_hi));
    for (const auto& [name, group_by, sum] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"by_customer", "customer", "amount"}, {"by_status", "status", ""}}) {
      auto got = h.Groups(name);
      auto expected = h.ExpectedGroups(group_by, sum);
      REQUIRE(got.size() == expected.size());
      for (const auto& [group, g] : expected) {
        REQUIRE(got.count(group));
        CHECK(got[group].count == g.count);
        CHECK(got[group].sum == Approx(g.sum).margin(1e-9));
      }
    }
  }
}

TEST_CASE("Find refuses bounds of two kinds and a cursor it did not make",
          "[reader][read_models]") {
  ModelHarness h;
  auto mixed =
      h.Run(wire::FindQuery{"orders", "amount", {}, std::int64_t{1}, std::string("z"), "", 0});
  CHECK(mixed.status == Code::kInvalidArgument);
  CHECK_THAT(mixed.message, Catch::Contains("must be of one kind"));
  auto bad = h.Run(wire::FindQuery{"orders", "amount", std::int64_t{1}, {}, {}, "00", 0});
  CHECK(bad.status == Code::kInvalidArgument);
  CHECK_THAT(bad.message, Catch::Contains("find.after"));
  auto unindexed = h.Run(wire::FindQuery{"orders", "note", std::string("x"), {}, {}, "", 0});
  CHECK(unindexed.status == Code::kInvalidArgument);
  CHECK_THAT(unindexed.message, Catch::Contains("no index on field note"));
}

}  // namespace cqrs::reader

namespace cqrs::reader {

TEST_CASE("issue #15: aggregate groups whose values share their first 400 bytes stay apart",
          "[reader][read_models]") {
  testing::TempDir dir;
  CollectionSpec orders{"orders", {}, {}};
  orders.aggregates = {{"by_customer", "customer", "amount"}};
  std::vector<CollectionSpec> models{orders};
  store::ReadStoreOptions o;
  o.dir = dir / "read";
  auto store = std::move(store::ReadStore::Open(o)).value();
  projector::EventApplier applier(*store, models);
  ReaderConfig config;
  QueryExecutor executor(*store, config, models);

  const std::string shared(store::kMaxOrderedBytes, 'c');
  const std::string a = shared + "-alpha", b = shared + "-beta";
  std::uint64_t seq = 0;
  auto put = [&](const std::string& key, const Value& customer, std::int64_t amount) {
    auto txn = store::Txn::BeginWrite(store->env());
    REQUIRE(applier.Begin(txn.value()).ok());
    auto e = testing::MakeEvent(++seq, fb::Op::Upsert, "orders", key, 1,
                                {{"customer", customer}, {"amount", amount}});
    REQUIRE(applier.Apply(txn.value(), testing::AsEvent(e)).ok());
    REQUIRE(applier.End(txn.value()).ok());
    REQUIRE(txn->Commit().ok());
  };
  auto groups = [&] {
    wire::QueryRequestEncoder encoder;
    auto bytes = encoder.Encode(1, "", 0, 0, wire::AggregateQuery{"orders", "by_customer"});
    wire::AlignedBuffer in;
    in.Assign(bytes.data(), bytes.size());
    auto decoded = wire::DecodeQueryRequest(in.span(), wire::QueryLimits());
    REQUIRE(decoded.status.ok());
    auto txn = store::Txn::BeginRead(store->env());
    Code code;
    auto reply = executor.Execute(txn.value(), seq, *decoded.request, kDefaultTenant, &code);
    wire::AlignedBuffer out;
    out.Assign(reply.data(), reply.size());
    wire::QueryReplyData r;
    REQUIRE(wire::ParseQueryReply(out.span(), &r).ok());
    INFO(r.message);
    REQUIRE(r.status == Code::kOk);
    std::map<std::string, std::pair<std::uint64_t, double>> by_value;
    for (const auto& g : r.groups) {
      REQUIRE(std::holds_alternative<std::string>(g.key));
      by_value[std::get<std::string>(g.key)] = {g.count, g.sum};
    }
    CHECK(by_value.size() == r.groups.size());
    return by_value;
  };

  put("o1", a, 10);
  put("o2", b, 5);
  put("o3", b, 7);
  put("o4", shared, 1);  // exactly the shared prefix: a short group of its own
  put("o5", std::string(shared + "-alpha"), 100);
  auto g = groups();
  REQUIRE(g.size() == 3);
  CHECK(g[a] == std::make_pair(std::uint64_t{2}, 110.0));
  CHECK(g[b] == std::make_pair(std::uint64_t{2}, 12.0));
  CHECK(g[shared] == std::make_pair(std::uint64_t{1}, 1.0));
  // Moving entities out of a long group and deleting them keeps the others whole.
  put("o2", std::string("short"), 5);
  {
    auto txn = store::Txn::BeginWrite(store->env());
    REQUIRE(applier.Begin(txn.value()).ok());
    auto e = testing::MakeEvent(++seq, fb::Op::Delete, "orders", "o1", 0);
    REQUIRE(applier.Apply(txn.value(), testing::AsEvent(e)).ok());
    REQUIRE(applier.End(txn.value()).ok());
    REQUIRE(txn->Commit().ok());
  }
  g = groups();
  REQUIRE(g.size() == 4);
  CHECK(g[a] == std::make_pair(std::uint64_t{1}, 100.0));
  CHECK(g[b] == std::make_pair(std::uint64_t{1}, 7.0));
  CHECK(g[std::string("short")] == std::make_pair(std::uint64_t{1}, 5.0));
}

}  // namespace cqrs::reader
