#include "store/record_format.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace cqrs::store {
namespace {

std::vector<std::pair<std::string, std::string>> Fields(std::string_view record) {
  std::vector<std::pair<std::string, std::string>> out;
  RecordFieldReader r(record);
  FieldView f;
  while (r.Next(&f)) {
    std::string v;
    switch (f.value.type) {
      case ValueType::kInt:
        v = "i" + std::to_string(f.value.i);
        break;
      case ValueType::kDouble:
        v = "d" + std::to_string(f.value.d);
        break;
      case ValueType::kBool:
        v = f.value.b ? "true" : "false";
        break;
      case ValueType::kString:
        v = "s" + std::string(f.value.bytes);
        break;
      case ValueType::kBytes:
        v = "b" + std::string(f.value.bytes);
        break;
      case ValueType::kNone:
        v = "none";
        break;
    }
    out.emplace_back(std::string(f.name), v);
  }
  REQUIRE(r.ok());
  return out;
}

}  // namespace

TEST_CASE("RecordBuilder writes a header and typed fields RecordFieldReader reads back",
          "[store][record]") {
  RecordBuilder b;
  b.Begin(7, 99, false);
  b.Add({"a", ValueView::Int(-1)});
  b.Add({"b", ValueView::Double(2.5)});
  b.Add({"c", ValueView::String("hi")});
  b.Add({"d", ValueView::Bytes(std::string_view("\0\1", 2))});
  b.Add({"e", ValueView::Bool(true)});
  b.Add({"f", ValueView()});  // kNone is skipped
  std::string record(b.Finish());
  RecordHeader h;
  REQUIRE(ParseRecordHeader(record, &h));
  CHECK(h.version == 7);
  CHECK(h.seq == 99);
  CHECK_FALSE(h.tombstone);
  CHECK(h.field_count == 5);
  auto f = Fields(record);
  REQUIRE(f.size() == 5);
  CHECK(f[0] == std::make_pair(std::string("a"), std::string("i-1")));
  CHECK(f[2].second == "shi");
  CHECK(f[3].second == std::string("b\0\1", 3));
  CHECK(f[4].second == "true");

  PatchRecordSeq(record.data(), 12345);
  REQUIRE(ParseRecordHeader(record, &h));
  CHECK(h.seq == 12345);
}

TEST_CASE("A tombstone record has no fields", "[store][record]") {
  RecordBuilder b;
  b.Begin(4, 10, true);
  std::string record(b.Finish());
  RecordHeader h;
  REQUIRE(ParseRecordHeader(record, &h));
  CHECK(h.tombstone);
  CHECK(h.version == 4);
  CHECK(Fields(record).empty());
}

TEST_CASE("RecordFieldReader rejects malformed records", "[store][record]") {
  RecordBuilder b;
  b.Begin(1, 1, false);
  b.Add({"name", ValueView::String("value")});
  std::string record(b.Finish());
  RecordHeader h;
  CHECK_FALSE(ParseRecordHeader(record.substr(0, 10), &h));
  std::string wrong_format = record;
  wrong_format[0] = 9;
  CHECK_FALSE(ParseRecordHeader(wrong_format, &h));
  for (std::size_t cut = kRecordHeaderBytes; cut < record.size(); ++cut) {
    RecordFieldReader r(std::string_view(record).substr(0, cut));
    FieldView f;
    while (r.Next(&f)) {
    }
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("MergeFields replaces, adds and removes fields in name order", "[store][record]") {
  RecordBuilder old_builder;
  old_builder.Begin(1, 1, false);
  old_builder.Add({"a", ValueView::Int(1)});
  old_builder.Add({"c", ValueView::Int(3)});
  old_builder.Add({"e", ValueView::Int(5)});
  std::string old(old_builder.Finish());

  std::vector<FieldView> changes = {{"b", ValueView::Int(20)},
                                    {"c", ValueView()},  // remove
                                    {"e", ValueView::String("five")},
                                    {"z", ValueView()}};  // removing an absent field is a no-op
  RecordBuilder b;
  b.Begin(2, 0, false);
  CHECK(MergeFields(old, changes, &b) == 3);
  auto f = Fields(b.Finish());
  REQUIRE(f.size() == 3);
  CHECK(f[0].first == "a");
  CHECK(f[1] == std::make_pair(std::string("b"), std::string("i20")));
  CHECK(f[2] == std::make_pair(std::string("e"), std::string("sfive")));
}

TEST_CASE("MergeFields agrees with a map model on random merges", "[store][record]") {
  std::mt19937 rng(7);
  for (int round = 0; round < 500; ++round) {
    std::map<std::string, std::int64_t> model;
    RecordBuilder b;
    b.Begin(1, 1, false);
    std::string record(b.Finish());
    for (int step = 0; step < 5; ++step) {
      std::map<std::string, std::optional<std::int64_t>> change;
      int n = static_cast<int>(rng() % 6);
      for (int i = 0; i < n; ++i) {
        std::string name(1, static_cast<char>('a' + rng() % 8));
        if (rng() % 3 == 0) {
          change[name] = std::nullopt;
        } else {
          change[name] = static_cast<std::int64_t>(rng() % 100);
        }
      }
      std::vector<FieldView> changes;
      for (auto& [name, v] : change) {
        changes.push_back({name, v ? ValueView::Int(*v) : ValueView()});
        if (v) {
          model[name] = *v;
        } else {
          model.erase(name);
        }
      }
      RecordBuilder next;
      next.Begin(1, 1, false);
      MergeFields(record, changes, &next);
      record = std::string(next.Finish());
    }
    std::vector<std::pair<std::string, std::string>> expected;
    for (auto& [k, v] : model) expected.emplace_back(k, "i" + std::to_string(v));
    REQUIRE(Fields(record) == expected);
  }
}

}  // namespace cqrs::store
