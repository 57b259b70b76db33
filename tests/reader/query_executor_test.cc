#include "reader/query_executor.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "projector/event_applier.h"
#include "tests/support/events.h"
#include "tests/support/test_support.h"
#include "wire/query_codec.h"

namespace cqrs::reader {
namespace {

class Harness {
 public:
  explicit Harness(int n, ReaderConfig config = ReaderConfig()) : config_(config) {
    store::ReadStoreOptions o;
    o.dir = dir_ / "read";
    store_ = std::move(store::ReadStore::Open(o)).value();
    projector::EventApplier applier(*store_);
    auto txn = store::Txn::BeginWrite(store_->env());
    REQUIRE(applier.Begin(txn.value()).ok());
    for (int i = 0; i < n; ++i) {
      auto e = testing::MakeEvent(static_cast<std::uint64_t>(i + 1), fb::Op::Create, "orders",
                                  fmt::format("k{:03d}", i), 1,
                                  {{"i", std::int64_t{i}}, {"pad", std::string(200, 'p')}});
      REQUIRE(applier.Apply(txn.value(), testing::AsEvent(e)).ok());
    }
    REQUIRE(applier.End(txn.value()).ok());
    REQUIRE(txn->Commit().ok());
    executor_ = std::make_unique<QueryExecutor>(*store_, config_);
  }

  wire::QueryReplyData Run(const wire::QuerySpec& q) {
    auto bytes = encoder_.Encode(3, "", 0, 0, q);
    wire::AlignedBuffer in;
    in.Assign(bytes.data(), bytes.size());
    auto decoded = wire::DecodeQueryRequest(in.span(), wire::QueryLimits());
    REQUIRE(decoded.status.ok());
    auto txn = store::Txn::BeginRead(store_->env());
    Code code;
    auto reply = executor_->Execute(txn.value(), 77, *decoded.request, kDefaultTenant, &code);
    wire::AlignedBuffer out;
    out.Assign(reply.data(), reply.size());
    wire::QueryReplyData r;
    REQUIRE(wire::ParseQueryReply(out.span(), &r).ok());
    CHECK(r.status == code);
    CHECK(r.seq == 77);
    CHECK(r.request_id == 3);
    return r;
  }

  static std::vector<std::string> Keys(const wire::QueryReplyData& r) {
    std::vector<std::string> keys;
    for (const auto& e : r.entities) keys.push_back(e.key);
    return keys;
  }

 private:
  testing::TempDir dir_;
  ReaderConfig config_;
  std::unique_ptr<store::ReadStore> store_;
  std::unique_ptr<QueryExecutor> executor_;
  wire::QueryRequestEncoder encoder_;
};

}  // namespace

TEST_CASE("Get answers the stored entity or NotFound", "[reader][query]") {
  Harness h(5);
  auto r = h.Run(wire::GetQuery{"orders", "k003"});
  REQUIRE(r.status == Code::kOk);
  REQUIRE(r.entities.size() == 1);
  CHECK(r.entities[0].collection == "orders");
  CHECK(r.entities[0].version == 1);
  CHECK(r.entities[0].seq == 4);
  CHECK(r.entities[0].fields[0] == FieldSpec{"i", std::int64_t{3}});
  auto missing = h.Run(wire::GetQuery{"orders", "k999"});
  CHECK(missing.status == Code::kNotFound);
  CHECK_THAT(missing.message, Catch::Contains("orders key 'k999' not found"));
  CHECK(h.Run(wire::GetQuery{"never_written", "k"}).status == Code::kNotFound);
}

TEST_CASE("Scan walks keys in order within prefix and [start, end), after the cursor",
          "[reader][query]") {
  Harness h(30);
  using V = std::vector<std::string>;
  CHECK(Harness::Keys(h.Run(wire::ScanQuery{"orders", "k00", "", "", "", 0})) ==
        V{"k000", "k001", "k002", "k003", "k004", "k005", "k006", "k007", "k008", "k009"});
  CHECK(Harness::Keys(h.Run(wire::ScanQuery{"orders", "", "k010", "k013", "", 0})) ==
        V{"k010", "k011", "k012"});
  CHECK(Harness::Keys(h.Run(wire::ScanQuery{"orders", "", "", "k003", "k000", 0})) ==
        V{"k001", "k002"});
  CHECK(Harness::Keys(h.Run(wire::ScanQuery{"orders", "k02", "k025", "", "k027", 0})) ==
        V{"k028", "k029"});
  CHECK(h.Run(wire::ScanQuery{"orders", "k1", "k2", "", "", 0}).entities.empty());  // disjoint
  CHECK(h.Run(wire::ScanQuery{"nothing", "", "", "", "", 0}).entities.empty());
}

TEST_CASE("Scan pages: next names the last key only while more remain", "[reader][query]") {
  Harness h(25);
  auto first = h.Run(wire::ScanQuery{"orders", "", "", "", "", 10});
  CHECK(first.entities.size() == 10);
  CHECK(first.next == "k009");
  auto last = h.Run(wire::ScanQuery{"orders", "", "", "", "k019", 10});
  CHECK(Harness::Keys(last) == std::vector<std::string>{"k020", "k021", "k022", "k023", "k024"});
  CHECK(last.next.empty());
  auto exact = h.Run(wire::ScanQuery{"orders", "", "", "", "k014", 10});  // exactly 10 left
  CHECK(exact.entities.size() == 10);
  CHECK(exact.next.empty());
  auto bounded = h.Run(wire::ScanQuery{"orders", "", "", "k005", "", 5});  // end right after
  CHECK(bounded.entities.size() == 5);
  CHECK(bounded.next.empty());
}

TEST_CASE("Scan stops a page at max_reply_bytes and continues with next", "[reader][query]") {
  ReaderConfig small;
  small.max_reply_bytes = 2000;  // about 7 entities of ~250 bytes
  Harness h(30, small);
  std::vector<std::string> all;
  std::string after;
  int pages = 0;
  do {
    auto page = h.Run(wire::ScanQuery{"orders", "", "", "", after, 1000});
    REQUIRE(page.status == Code::kOk);
    REQUIRE_FALSE(page.entities.empty());
    for (auto& k : Harness::Keys(page)) all.push_back(k);
    after = page.next;
    ++pages;
  } while (!after.empty());
  CHECK(pages > 3);
  CHECK(all.size() == 30);
  CHECK(std::is_sorted(all.begin(), all.end()));
}

TEST_CASE("Find and Aggregate without declared read models are InvalidArgument naming them",
          "[reader][query]") {
  Harness h(3);
  auto find = h.Run(wire::FindQuery{"orders", "status", std::string("open"), {}, {}, "", 0});
  CHECK(find.status == Code::kInvalidArgument);
  CHECK_THAT(find.message, Catch::Contains("collection orders has no index on field status"));
  auto agg = h.Run(wire::AggregateQuery{"orders", "by_status"});
  CHECK(agg.status == Code::kInvalidArgument);
  CHECK_THAT(agg.message,
             Catch::Contains("collection orders declares no aggregate named by_status"));
}

}  // namespace cqrs::reader
