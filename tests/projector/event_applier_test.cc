#include "projector/event_applier.h"

#include <catch2/catch.hpp>

#include "store/key_format.h"
#include "store/read_store_format.h"
#include "tests/support/events.h"
#include "tests/support/test_support.h"

namespace cqrs::projector {
namespace {

using testing::AsEvent;
using testing::MakeEvent;

struct Harness {
  Harness() {
    store::ReadStoreOptions o;
    o.dir = dir / "read";
    store = std::move(store::ReadStore::Open(o)).value();
    applier = std::make_unique<EventApplier>(*store);
  }
  Status Apply(const std::vector<wire::AlignedBuffer>& events) {
    auto txn = store::Txn::BeginWrite(store->env());
    CQRS_RETURN_IF_ERROR(applier->Begin(txn.value()));
    for (const auto& e : events) CQRS_RETURN_IF_ERROR(applier->Apply(txn.value(), AsEvent(e)));
    CQRS_RETURN_IF_ERROR(applier->End(txn.value()));
    return txn->Commit();
  }
  // The stored record of (orders, key): version and seq, or NotFound.
  Status Record(const std::string& key, store::RecordHeader* h, std::string* fields = nullptr) {
    auto txn = store::Txn::BeginRead(store->env());
    std::uint32_t ns = 0;
    CQRS_RETURN_IF_ERROR(store->namespaces().Lookup(txn.value(), "default", "orders", &ns));
    std::string_view v;
    CQRS_RETURN_IF_ERROR(txn->Get(store->dbs().entities, store::EntityKey(ns, key).view(), &v));
    REQUIRE(store::ParseRecordHeader(v, h));
    if (fields) {
      store::RecordFieldReader r(v);
      FieldView f;
      while (r.Next(&f)) *fields += std::string(f.name) + ";";
    }
    return OkStatus();
  }
  std::size_t LogEntries() {
    auto txn = store::Txn::BeginRead(store->env());
    MDB_stat st;
    mdb_stat(txn->get(), store->dbs().collection_log.handle, &st);
    return st.ms_entries;
  }
  testing::TempDir dir;
  std::unique_ptr<store::ReadStore> store;
  std::unique_ptr<EventApplier> applier;
};

}  // namespace

TEST_CASE("EventApplier stores each after-image, removes deleted keys, advances the checkpoint",
          "[projector][apply]") {
  Harness h;
  std::vector<wire::AlignedBuffer> events;
  events.push_back(
      MakeEvent(1, fb::Op::Create, "orders", "a", 1, {{"z", std::int64_t{1}}, {"b", true}}));
  events.push_back(MakeEvent(2, fb::Op::Create, "orders", "b", 1));
  events.push_back(MakeEvent(3, fb::Op::Update, "orders", "a", 2, {{"z", std::int64_t{2}}}));
  events.push_back(MakeEvent(4, fb::Op::Delete, "orders", "b", 2));
  REQUIRE(h.Apply(events).ok());
  store::RecordHeader rec;
  std::string fields;
  REQUIRE(h.Record("a", &rec, &fields).ok());
  CHECK(rec.version == 2);
  CHECK(rec.seq == 3);
  CHECK(fields == "z;");  // the event is the full state: b is gone
  CHECK(h.Record("b", &rec).code() == Code::kNotFound);
  CHECK(h.applier->checkpoint().applied_seq == 4);
  CHECK(h.applier->checkpoint().applied_events == 4);
  CHECK(h.LogEntries() == 4);

  auto txn = store::Txn::BeginRead(h.store->env());
  auto c = h.store->ReadCheckpoint(txn.value());
  CHECK(c->applied_seq == 4);
}

TEST_CASE("EventApplier refuses an event that does not follow the checkpoint",
          "[projector][apply]") {
  Harness h;
  REQUIRE(h.Apply({}).ok());
  std::vector<wire::AlignedBuffer> skip;
  skip.push_back(MakeEvent(2, fb::Op::Create, "orders", "a", 1));
  Status gap = h.Apply(skip);
  CHECK(gap.code() == Code::kInternal);
  CHECK_THAT(gap.message(), Catch::Contains("event seq 2 does not follow the checkpoint 0"));
  std::vector<wire::AlignedBuffer> first;
  first.push_back(MakeEvent(1, fb::Op::Create, "orders", "a", 1));
  REQUIRE(h.Apply(first).ok());
  Status again = h.Apply(first);  // applying twice is refused, not silently repeated
  CHECK(again.code() == Code::kInternal);
  store::RecordHeader rec;
  CHECK(h.Record("a", &rec).ok());
}

}  // namespace cqrs::projector
