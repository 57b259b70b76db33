// Store micro benchmarks. What each measures and why it matters:
//   BM_Keys_EntityKey         encoding an entity key (every lookup and write builds one)
//   BM_Record_Merge           merging an update into a stored record (every Update/Upsert)
//   BM_Record_Read            walking a record's fields (every event built from a record)
// Args: fields in the stored record.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "store/key_format.h"
#include "store/record_format.h"

namespace cqrs::store {
namespace {

std::string Record(std::int64_t fields) {
  RecordBuilder b;
  b.Begin(1, 1, false);
  std::vector<std::string> names;
  for (std::int64_t i = 0; i < fields; ++i) names.push_back("field_" + std::to_string(1000 + i));
  for (const auto& n : names) b.Add({n, ValueView::String("value of some length")});
  return std::string(b.Finish());
}

void BM_Keys_EntityKey(benchmark::State& state) {
  std::string key(static_cast<std::size_t>(state.range(0)), 'k');
  for (auto _ : state) {
    auto k = EntityKey(42, key);
    benchmark::DoNotOptimize(k.view().data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Keys_EntityKey)->Arg(16)->Arg(500);

void BM_Record_Merge(benchmark::State& state) {
  std::string old = Record(state.range(0));
  std::vector<FieldView> changes = {{"field_1000", ValueView::Int(5)},
                                    {"zz_new", ValueView::Double(1.5)}};
  RecordBuilder b;
  for (auto _ : state) {
    b.Begin(2, 0, false);
    MergeFields(old, changes, &b);
    benchmark::DoNotOptimize(b.Finish().data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Record_Merge)->Arg(4)->Arg(64);

void BM_Record_Read(benchmark::State& state) {
  std::string record = Record(state.range(0));
  for (auto _ : state) {
    RecordFieldReader r(record);
    FieldView f;
    std::size_t n = 0;
    while (r.Next(&f)) n += f.value.bytes.size();
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Record_Read)->Arg(4)->Arg(64);

}  // namespace
}  // namespace cqrs::store
