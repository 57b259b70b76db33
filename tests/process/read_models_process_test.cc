// Read models through real processes against an in-memory model: random requests of one to three
// commands (upserts that move indexed values, updates with right and wrong expected versions,
// creates of existing keys, deletes of missing ones) go through `cqrs up`; a request applies
// all its commands or none. After every round, each Find and Aggregate answer, read at the last
// acknowledged seq, equals what the model computes.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "client/client.h"
#include "tests/support/pipeline.h"
#include "tests/support/read_model.h"

namespace cqrs {
namespace {

using testing::Model;
using testing::ModelFields;

Value RandomAmount(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return std::string("n/a");
    case 1:
      return static_cast<double>(static_cast<int>(rng() % 41) - 20) / 2;
    default:
      return static_cast<std::int64_t>(rng() % 21) - 10;
  }
}

// Random fields; with `removals` (Update, Upsert) std::monostate sometimes removes a field.
std::vector<FieldSpec> RandomFields(std::mt19937_64& rng, bool removals) {
  static const char* kStatus[] = {"open", "paid", "void"};
  std::vector<FieldSpec> f;
  const bool remove_amount = removals && rng() % 8 == 0, remove_status = removals && rng() % 8 == 0;
  if (rng() % 4) f.push_back({"amount", remove_amount ? Value() : RandomAmount(rng)});
  if (rng() % 4) f.push_back({"customer", fmt::format("c{}", rng() % 5)});
  if (rng() % 4)
    f.push_back({"status", remove_status ? Value() : Value(std::string(kStatus[rng() % 3]))});
  if (f.empty()) f.push_back({"note", std::string("x")});
  return f;
}

void Merge(ModelFields* entity, const std::vector<FieldSpec>& fields) {
  for (const auto& f : fields) {
    if (std::holds_alternative<std::monostate>(f.value))
      entity->erase(f.name);
    else
      (*entity)[f.name] = f.value;
  }
}

}  // namespace

TEST_CASE("Find and Aggregate through the pipeline equal an in-memory model, round after round",
          "[process][read_models]") {
  testing::TempDir dir;
  testing::PipelineConfig config;
  config.durability = "nosync";
  config.extra_toml = testing::ReadFile(std::string(CQRS_SOURCE_DIR) + "/examples/orders.toml");
  testing::Pipeline p(dir, config);
  p.StartUp();
  auto connected = Client::Connect(p.client_options());
  REQUIRE(connected.ok());
  Client& client = *connected.value();

  Model model;
  std::map<std::string, std::uint64_t> versions;  // live entities' versions
  std::mt19937_64 rng(4242);
  int applied = 0, refused = 0;
  for (int round = 0; round < 25; ++round) {
    for (int r = 0; r < 60; ++r) {
      std::set<std::string> keys;
      const int n = 1 + static_cast<int>(rng() % 3);
      while (static_cast<int>(keys.size()) < n) keys.insert(fmt::format("o{:02d}", rng() % 30));
      std::vector<CommandSpec> commands;
      for (const auto& key : keys) {
        const bool live = model.count(key) > 0;
        switch (rng() % 6) {
          case 0:  // may conflict: the key exists
            commands.push_back(Create("orders", key, RandomFields(rng, false)));
            break;
          case 1:  // may be NotFound
            commands.push_back(Delete("orders", key));
            break;
          case 2: {  // right or wrong expected version (NotFound when absent)
            std::uint64_t v = live ? versions[key] : 1;
            commands.push_back(
                Update("orders", key, RandomFields(rng, true), rng() % 3 ? v : v + 7));
            break;
          }
          default:
            commands.push_back(Upsert("orders", key, RandomFields(rng, true)));
        }
      }
      CommandResult result = client.Execute(commands);
      INFO("request " << round << "." << r << ": " << result.ToJson());
      REQUIRE_FALSE(result.indeterminate);
      if (!result.ok()) {
        CHECK((result.status == Code::kAlreadyExists || result.status == Code::kNotFound ||
               result.status == Code::kVersionConflict));
        ++refused;
        continue;  // all or nothing: the model is unchanged
      }
      ++applied;
      REQUIRE(result.versions.size() == commands.size());
      for (std::size_t i = 0; i < commands.size(); ++i) {
        const CommandSpec& c = commands[i];
        if (c.op == Op::kDelete) {
          model.erase(c.key);
          versions.erase(c.key);
          continue;
        }
        if (c.op == Op::kCreate) model[c.key].clear();
        Merge(&model[c.key], c.fields);
        versions[c.key] = result.versions[i];
      }
    }
    // Read at the last acknowledged seq (the client's default): every answer, every page.
    auto find_all = [&](wire::FindQuery q) {
      std::vector<std::string> keys;
      for (int pages = 0; pages < 100; ++pages) {
        QueryResult page = client.Find(q);
        INFO(page.message);
        REQUIRE(page.ok());
        for (const auto& e : page.entities) keys.push_back(e.key);
        if (page.next.empty()) break;
        q.after = page.next;
      }
      return keys;
    };
    INFO("after round " << round);
    for (const char* s : {"open", "paid", "void"}) {
      Value eq = std::string(s);
      CHECK(find_all({"orders", "status", eq, {}, {}, "", 4}) ==
            testing::ExpectedFind(model, "status", eq, eq));
    }
    Value lo = std::int64_t{-5}, hi = 5.5;
    CHECK(find_all({"orders", "amount", {}, lo, hi, "", 3}) ==
          testing::ExpectedFind(model, "amount", lo, hi));
    Value c1 = std::string("c1");
    CHECK(find_all({"orders", "customer", c1, {}, {}, "", 0}) ==
          testing::ExpectedFind(model, "customer", c1, c1));
    for (const auto& [name, group_by, sum] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"by_customer", "customer", "amount"}, {"by_status", "status", ""}}) {
      QueryResult agg = client.Aggregate("orders", name);
      REQUIRE(agg.ok());
      auto expected = testing::ExpectedGroups(model, group_by, sum);
      REQUIRE(agg.groups.size() == expected.size());
      for (const auto& g : agg.groups) {
        auto it = expected.find(testing::Ordered(g.key));
        REQUIRE(it != expected.end());
        CHECK(g.count == it->second.count);
        CHECK(g.sum == Approx(it->second.sum).margin(1e-9));
      }
    }
  }
  INFO(applied << " requests applied, " << refused << " refused");
  CHECK(applied > 300);
  CHECK(refused > 100);
}

}  // namespace cqrs
