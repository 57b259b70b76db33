// The writer's core over a real LMDB store: ops, versions, atomicity, idempotency, order,
// group commit and map growth.
#include "writer/batch_committer.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <random>

#include "base/clock.h"
#include "base/status.h"
#include "store/key_format.h"
#include "store/write_store_format.h"
#include "tests/support/replies.h"
#include "tests/support/state_dump.h"
#include "tests/support/test_support.h"
#include "wire/aligned_buffer.h"
#include "wire/command_codec.h"
#include "wire/protocol.h"
#include "writer/client_expiry.h"
#include "writer/state_recovery.h"

namespace cqrs::writer {
namespace {

struct EventData {
  std::uint64_t seq, collection_seq, version, request_id;
  fb::Op op;
  std::string collection, key, client_id, tenant;
  std::vector<std::pair<std::string, Value>> fields;
};

// Security without CURVE: the identity's user id is the principal's name; every principal is
// of tenant "acme" and may write everything except the collection "locked".
class NamedAuthorizer final : public Authorizer {
 public:
  Status Authorize(const Identity& identity, const fb::CommandRequest& request,
                   std::string_view* tenant, std::string_view* principal) override {
    *tenant = "acme";
    *principal = identity.user_id;
    for (const fb::Command* c : *request.commands())
      if (c->collection()->string_view() == "locked")
        return Error(Code::kPermissionDenied, "principal may not write \"locked\"");
    return OkStatus();
  }
};

class Harness {
 public:
  explicit Harness(std::uint64_t map_size = 1 << 20, std::uint64_t max_map_size = 64 << 20,
                   Limits limits = Limits()) {
    Open(map_size, max_map_size, limits);
  }

  // Closes and reopens the store (as a restarted writer would) with new map bounds.
  void Open(std::uint64_t map_size, std::uint64_t max_map_size, Limits limits = Limits()) {
    committer_.reset();
    state_.reset();
    store_.reset();
    store::WriteStoreOptions o;
    o.dir = dir_ / "write";
    o.map_size = map_size;
    o.max_map_size = max_map_size;
    o.durability = Durability::kNoSync;  // tests need not wait for fsync
    auto opened = store::WriteStore::Open(o);
    REQUIRE(opened.ok());
    store_ = std::move(opened).value();
    store::StateStoreOptions so;
    so.dir = o.dir + "/state";
    so.map_size = map_size;
    so.max_map_size = max_map_size;
    auto state = store::StateStore::Open(so, store_->store_id());
    REQUIRE(state.ok());
    state_ = std::move(state).value();
    REQUIRE(CatchUpState(*store_, *state_, 10000, false).ok());
    committer_ = std::make_unique<BatchCommitter>(
        *store_, *state_, limits,
        named_ ? static_cast<Authorizer&>(named_authorizer_) : open_authorizer_);
  }

  std::vector<std::uint8_t> Encode(const std::vector<CommandSpec>& commands,
                                   const std::string& client_id, std::uint64_t request_id) {
    auto bytes = encoder_.Encode(client_id, request_id, "", commands);
    return {bytes.begin(), bytes.end()};
  }

  // From now on requests are judged by NamedAuthorizer.
  void UseNamedPrincipals() {
    named_ = true;
    committer_ = std::make_unique<BatchCommitter>(*store_, *state_, Limits(), named_authorizer_);
  }

  // Commits the frames as one batch (sent by `user_id`); returns the raw replies.
  std::vector<std::vector<std::uint8_t>> CommitRaw(
      const std::vector<std::vector<std::uint8_t>>& frames, std::string_view user_id = {}) {
    std::vector<wire::AlignedBuffer> buffers(frames.size());
    std::vector<BatchItem> items(frames.size());
    std::vector<BatchItem*> batch;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      buffers[i].Assign(frames[i].data(), frames[i].size());
      items[i].frame = buffers[i].span();
      items[i].identity = Identity{user_id};
      batch.push_back(&items[i]);
    }
    committer_->Commit(batch);
    committer_->CommitState();  // as the writer does after its replies
    std::vector<std::vector<std::uint8_t>> replies;
    for (auto& item : items) replies.push_back(item.reply);
    return replies;
  }

  wire::CommandReplyData Send(const std::vector<CommandSpec>& commands,
                              const std::string& client_id = "", std::uint64_t request_id = 0) {
    return testing::ParseCommandReply(CommitRaw({Encode(commands, client_id, request_id)})[0]);
  }

  wire::CommandReplyData SendAs(std::string_view principal,
                                const std::vector<CommandSpec>& commands,
                                const std::string& client_id, std::uint64_t request_id) {
    return testing::ParseCommandReply(
        CommitRaw({Encode(commands, client_id, request_id)}, principal)[0]);
  }

  std::vector<EventData> Events() {
    auto txn = store::Txn::BeginRead(store_->env());
    REQUIRE(txn.ok());
    auto cursor = store::Cursor::Open(txn.value(), store_->dbs().events);
    REQUIRE(cursor.ok());
    std::vector<EventData> out;
    std::string_view k, v;
    for (Status s = cursor->Get(MDB_FIRST, &k, &v); s.ok(); s = cursor->Get(MDB_NEXT, &k, &v)) {
      wire::AlignedBuffer b;
      b.Assign(v.data(), v.size());
      flatbuffers::Verifier verifier(b.data(), b.size());
      REQUIRE(verifier.VerifyBuffer<fb::Event>(wire::kEventId));
      const auto* e = flatbuffers::GetRoot<fb::Event>(b.data());
      EventData d{e->seq(),
                  e->collection_seq(),
                  e->version(),
                  e->request_id(),
                  e->op(),
                  e->collection()->str(),
                  e->key()->str(),
                  e->client_id() ? e->client_id()->str() : "",
                  e->tenant()->str(),
                  {}};
      REQUIRE(store::DecodeSeqKey(k) == d.seq);
      if (e->fields())
        for (const auto* f : *e->fields())
          d.fields.emplace_back(f->name()->str(), wire::ToValue(wire::ValueOf(*f)));
      out.push_back(std::move(d));
    }
    return out;
  }

  std::uint64_t LastTxnId() {
    MDB_envinfo info;
    mdb_env_info(store_->env().get(), &info);
    return info.me_last_txnid;
  }

  // Entries of a database of the log.
  std::size_t Count(store::Dbi dbi) { return CountIn(store_->env(), dbi); }
  // Entities of the state.
  std::size_t Entities() { return CountIn(state_->env(), state_->dbs().entities); }

  store::WriteStore& store() { return *store_; }
  store::StateStore& state() { return *state_; }
  BatchCommitter& committer() { return *committer_; }

 private:
  static std::size_t CountIn(store::LmdbEnv& env, store::Dbi dbi) {
    auto txn = store::Txn::BeginRead(env);
    MDB_stat st;
    mdb_stat(txn->get(), dbi.handle, &st);
    return st.ms_entries;
  }

  testing::TempDir dir_;
  std::unique_ptr<store::WriteStore> store_;
  std::unique_ptr<store::StateStore> state_;
  OpenAuthorizer open_authorizer_;
  NamedAuthorizer named_authorizer_;
  bool named_ = false;
  std::unique_ptr<BatchCommitter> committer_;
  wire::CommandRequestEncoder encoder_;
};

}  // namespace

TEST_CASE("Create writes version 1 and an event with the full after-image", "[writer][apply]") {
  Harness h;
  auto r = h.Send({Create("orders", "o1", {{"status", std::string("open")}, {"amount", 12.5}})},
                  "c1", 1);
  REQUIRE(r.status == Code::kOk);
  CHECK(r.request_id == 1);
  CHECK(r.seq == 1);
  CHECK(r.versions == std::vector<std::uint64_t>{1});
  auto events = h.Events();
  REQUIRE(events.size() == 1);
  const EventData& e = events[0];
  CHECK(e.seq == 1);
  CHECK(e.collection_seq == 1);
  CHECK(e.op == fb::Op::Create);
  CHECK(e.version == 1);
  CHECK(e.collection == "orders");
  CHECK(e.key == "o1");
  CHECK(e.tenant == "default");
  CHECK(e.client_id == "c1");
  CHECK(e.request_id == 1);
  REQUIRE(e.fields.size() == 2);
  CHECK(e.fields[0] == std::make_pair(std::string("amount"), Value{12.5}));
  CHECK(e.fields[1] == std::make_pair(std::string("status"), Value{std::string("open")}));
}

TEST_CASE("Create of a present key is AlreadyExists and writes nothing", "[writer][apply]") {
  Harness h;
  REQUIRE(h.Send({Create("orders", "o1", {{"n", std::int64_t{1}}})}).status == Code::kOk);
  auto r = h.Send({Create("orders", "o1", {{"n", std::int64_t{2}}})});
  CHECK(r.status == Code::kAlreadyExists);
  CHECK(r.failed_index == 0);
  CHECK_THAT(r.message, Catch::Contains("orders key 'o1' already exists at version 1"));
  CHECK(h.Events().size() == 1);
}

TEST_CASE("Update merges fields, removes a field sent without value, and needs the entity",
          "[writer][apply]") {
  Harness h;
  REQUIRE(
      h.Send({Create("orders", "o1", {{"a", std::int64_t{1}}, {"b", std::int64_t{2}}})}).status ==
      Code::kOk);
  auto r = h.Send({Update("orders", "o1", {{"b", {}}, {"c", true}})});
  REQUIRE(r.status == Code::kOk);
  CHECK(r.versions == std::vector<std::uint64_t>{2});
  auto events = h.Events();
  REQUIRE(events.size() == 2);
  CHECK(events[1].op == fb::Op::Update);
  CHECK(events[1].fields ==
        std::vector<std::pair<std::string, Value>>{{"a", std::int64_t{1}}, {"c", true}});
  auto missing = h.Send({Update("orders", "nope", {{"a", std::int64_t{1}}})});
  CHECK(missing.status == Code::kNotFound);
  CHECK_THAT(missing.message, Catch::Contains("orders key 'nope' not found"));
  CHECK(h.Events().size() == 2);
}

TEST_CASE("Upsert creates an absent entity and merges into a present one", "[writer][apply]") {
  Harness h;
  REQUIRE(h.Send({Upsert("users", "u", {{"a", std::int64_t{1}}})}).status == Code::kOk);
  REQUIRE(h.Send({Upsert("users", "u", {{"b", std::int64_t{2}}})}).status == Code::kOk);
  auto events = h.Events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].op == fb::Op::Create);  // events carry the effective op
  CHECK(events[1].op == fb::Op::Update);
  CHECK(events[1].version == 2);
  CHECK(events[1].fields.size() == 2);
}

TEST_CASE("Delete leaves a tombstone: a later Create continues its version", "[writer][apply]") {
  Harness h;
  REQUIRE(h.Send({Create("orders", "o1", {{"n", std::int64_t{1}}})}).status == Code::kOk);
  auto del = h.Send({Delete("orders", "o1")});
  REQUIRE(del.status == Code::kOk);
  CHECK(del.versions == std::vector<std::uint64_t>{0});
  CHECK(h.Send({Update("orders", "o1", {{"n", std::int64_t{2}}})}).status == Code::kNotFound);
  CHECK(h.Send({Delete("orders", "o1")}).status == Code::kNotFound);
  // An old expected_version can never match a new incarnation.
  CHECK(h.Send({Delete("orders", "o1", 1)}).status == Code::kNotFound);
  auto again = h.Send({Create("orders", "o1", {{"n", std::int64_t{3}}})});
  REQUIRE(again.status == Code::kOk);
  CHECK(again.versions == std::vector<std::uint64_t>{3});
  auto events = h.Events();
  REQUIRE(events.size() == 3);  // version == number of events of the key
  CHECK(events[1].op == fb::Op::Delete);
  CHECK(events[1].version == 2);
  CHECK(events[1].fields.empty());
  CHECK(events[2].op == fb::Op::Create);
}

TEST_CASE("expected_version is checked after existence", "[writer][apply]") {
  Harness h;
  REQUIRE(h.Send({Create("orders", "o1", {{"n", std::int64_t{1}}})}).status == Code::kOk);
  auto conflict = h.Send({Update("orders", "o1", {{"n", std::int64_t{2}}}, 5)});
  CHECK(conflict.status == Code::kVersionConflict);
  CHECK_THAT(conflict.message, Catch::Contains("is at version 1, expected_version is 5"));
  CHECK(h.Send({Update("orders", "o1", {{"n", std::int64_t{2}}}, 1)}).status == Code::kOk);
  // Existence first: a Create of a present key is AlreadyExists whatever the version says.
  CHECK(h.Send({CommandSpec{Op::kCreate, "orders", "o1", 9, {}}}).status == Code::kAlreadyExists);
  // An absent key is at version 0.
  CHECK(h.Send({CommandSpec{Op::kUpsert, "orders", "o2", 3, {}}}).status == Code::kVersionConflict);
  CHECK(h.Send({CommandSpec{Op::kDelete, "orders", "o1", 1, {}}}).status == Code::kVersionConflict);
  CHECK(h.Send({CommandSpec{Op::kDelete, "orders", "o1", 2, {}}}).status == Code::kOk);
}

TEST_CASE("A multi-command request applies atomically: all or none", "[writer][apply]") {
  Harness h;
  auto failed = h.Send({Create("orders", "a", {}), Create("orders", "b", {}),
                        Update("orders", "c", {{"n", std::int64_t{1}}})});
  CHECK(failed.status == Code::kNotFound);
  CHECK(failed.failed_index == 2);
  CHECK(h.Events().empty());
  CHECK(h.Entities() == 0);

  auto ok = h.Send({Create("orders", "a", {{"n", std::int64_t{1}}}),
                    Update("orders", "a", {{"m", std::int64_t{2}}}), Create("users", "u", {}),
                    Delete("orders", "a")});
  REQUIRE(ok.status == Code::kOk);
  CHECK(ok.versions == std::vector<std::uint64_t>{1, 2, 1, 0});
  CHECK(ok.seq == 4);
  auto events = h.Events();
  REQUIRE(events.size() == 4);
  CHECK(events[1].fields.size() == 2);   // the update saw the create of the same request
  CHECK(events[2].collection_seq == 1);  // per collection
  CHECK(events[3].collection_seq == 3);
}

TEST_CASE("A retry with the same id gets the original reply and applies nothing",
          "[writer][idempotency]") {
  Harness h;
  auto frame = h.Encode({Create("orders", "o1", {{"n", std::int64_t{1}}})}, "c1", 10);
  auto first = h.CommitRaw({frame})[0];
  auto retry = h.CommitRaw({frame})[0];
  CHECK(retry == first);
  CHECK(testing::ParseCommandReply(retry).status == Code::kOk);
  CHECK(h.Events().size() == 1);
  // A definite failure is remembered too, and so is its retry in the same batch.
  auto bad = h.Encode({Create("orders", "o1", {})}, "c1", 11);
  auto both = h.CommitRaw({bad, bad});
  CHECK(both[0] == both[1]);
  CHECK(testing::ParseCommandReply(both[0]).status == Code::kAlreadyExists);
  CHECK(h.Events().size() == 1);
  // An empty client_id opts out: the same bytes apply again.
  auto anon = h.Encode({Upsert("orders", "o2", {})}, "", 1);
  h.CommitRaw({anon, anon});
  CHECK(h.Events().size() == 3);
}

TEST_CASE("A request id out of order is refused with the expected id and changes nothing",
          "[writer][idempotency]") {
  Harness h;
  REQUIRE(h.Send({Upsert("orders", "a", {})}, "c1", 3).status == Code::kOk);
  auto ahead = h.Send({Upsert("orders", "b", {})}, "c1", 5);
  CHECK(ahead.status == Code::kOutOfOrder);
  CHECK(ahead.failed_index == -1);
  CHECK_THAT(ahead.message,
             Catch::Contains("request_id 5 of client_id 'c1' is out of order: expected 4"));
  CHECK(h.Events().size() == 1);
  CHECK(h.Send({Upsert("orders", "b", {})}, "c1", 4).status == Code::kOk);
  CHECK(h.Send({Upsert("orders", "c", {})}, "c1", 5).status == Code::kOk);
  // Below the first id this client ever sent: never remembered.
  auto before = h.Send({Upsert("orders", "d", {})}, "c1", 1);
  CHECK(before.status == Code::kOutOfOrder);
  CHECK_THAT(before.message, Catch::Contains("is not remembered"));
  // Clients are independent.
  CHECK(h.Send({Upsert("orders", "e", {})}, "c2", 100).status == Code::kOk);
  CHECK(h.Events().size() == 4);
}

TEST_CASE("An invalid request with a client_id is remembered so the next id follows",
          "[writer][idempotency]") {
  Harness h;
  auto bad = h.Encode({Upsert("Bad-Name", "a", {})}, "c1", 1);
  auto first = h.CommitRaw({bad})[0];
  CHECK(testing::ParseCommandReply(first).status == Code::kInvalidArgument);
  CHECK(h.CommitRaw({bad})[0] == first);
  CHECK(h.Send({Upsert("orders", "a", {})}, "c1", 2).status == Code::kOk);
}

TEST_CASE("The remembered window keeps exactly the last remembered_replies ids per client",
          "[writer][idempotency]") {
  Harness h;
  std::vector<std::vector<std::uint8_t>> frames;
  for (std::uint64_t id = 1; id <= 1100; ++id)
    frames.push_back(h.Encode({Upsert("orders", "k" + std::to_string(id % 7), {})}, "c1", id));
  auto replies = h.CommitRaw(frames);
  for (auto& r : replies) REQUIRE(testing::ParseCommandReply(r).status == Code::kOk);
  // 1100 - 1024 = 76: ids 77..1100 are remembered, 76 is not.
  CHECK(h.CommitRaw({frames[76]})[0] == replies[76]);  // id 77
  CHECK(testing::ParseCommandReply(h.CommitRaw({frames[75]})[0]).status ==
        Code::kOutOfOrder);  // id 76
  CHECK(h.Count(h.store().dbs().replies) == 1024);
  CHECK(h.Count(h.store().dbs().clients) == 1);
  CHECK(h.Events().size() == 1100);
}

TEST_CASE("Group commit: a batch is one transaction and every request gets its reply",
          "[writer][group_commit]") {
  Harness h;
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 100; ++i)
    frames.push_back(h.Encode({Create("orders", "k" + std::to_string(i), {})},
                              "c" + std::to_string(i % 3), static_cast<std::uint64_t>(i / 3 + 1)));
  frames.push_back({0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0});  // garbage in the middle of a batch
  std::uint64_t before = h.LastTxnId();
  auto replies = h.CommitRaw(frames);
  CHECK(h.LastTxnId() == before + 1);
  REQUIRE(replies.size() == 101);
  std::uint64_t seq = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = testing::ParseCommandReply(replies[static_cast<std::size_t>(i)]);
    REQUIRE(r.status == Code::kOk);
    CHECK(r.seq == ++seq);  // gap-free, in arrival order
  }
  auto garbage = testing::ParseCommandReply(replies[100]);
  CHECK(garbage.status == Code::kInvalidArgument);
  CHECK(garbage.request_id == 0);
  CHECK(h.committer().committed_seq() == 100);
}

TEST_CASE("Limits after merge: too many fields or too many bytes writes nothing",
          "[writer][limits]") {
  Limits limits;
  limits.max_fields = 3;
  limits.max_entity_bytes = 200;
  Harness h(1 << 20, 64 << 20, limits);
  REQUIRE(h.Send({Create("orders", "o", {{"a", true}, {"b", true}})}).status == Code::kOk);
  auto fields = h.Send({Update("orders", "o", {{"c", true}, {"d", true}})});
  CHECK(fields.status == Code::kInvalidArgument);
  CHECK_THAT(fields.message, Catch::Contains("would have 4 fields, over max_fields 3"));
  auto bytes = h.Send({Update("orders", "o", {{"s", std::string(300, 'x')}})});
  CHECK(bytes.status == Code::kInvalidArgument);
  CHECK_THAT(bytes.message, Catch::Contains("over max_entity_bytes 200"));
  CHECK(h.Events().size() == 1);
}

TEST_CASE("MDB_MAP_FULL grows the map and replays the batch: nothing is lost",
          "[writer][map_full]") {
  Harness h(1 << 20, 64 << 20);
  std::string value(2000, 'v');
  std::uint64_t id = 1;
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<std::vector<std::uint8_t>> frames;
    for (int i = 0; i < 100; ++i, ++id)
      frames.push_back(
          h.Encode({Create("blobs", "k" + std::to_string(id), {{"v", value}})}, "c", id));
    for (auto& r : h.CommitRaw(frames)) REQUIRE(testing::ParseCommandReply(r).status == Code::kOk);
  }
  CHECK(h.committer().stats().map_grows > 0);
  CHECK(h.store().env().map_size() > (1u << 20));
  CHECK(h.Entities() == 2000);
  CHECK(h.Events().size() == 2000);
}

TEST_CASE("A map that cannot grow gives ResourceExhausted, remembers nothing, and recovers",
          "[writer][map_full]") {
  Harness h(1 << 20, 1 << 20);
  std::string value(3000, 'v');
  std::uint64_t id = 1, acked = 0;
  wire::CommandReplyData last;
  for (; id < 2000; ++id) {
    last = h.Send({Create("blobs", "k" + std::to_string(id), {{"v", value}})}, "c", id);
    if (last.status != Code::kOk) break;
    ++acked;
  }
  REQUIRE(last.status == Code::kResourceExhausted);
  CHECK_THAT(last.message, Catch::Contains("write store is full"));
  CHECK(h.Entities() == acked);
  CHECK(h.Events().size() == acked);
  // Not remembered: the same id is still refused as full, not answered from memory...
  auto again = h.Send({Create("blobs", "k" + std::to_string(id), {{"v", value}})}, "c", id);
  CHECK(again.status == Code::kResourceExhausted);
  // ...and once there is room (a writer restarted with a larger limit), the same id applies.
  h.Open(1 << 20, 8 << 20);
  auto retried = h.Send({Create("blobs", "k" + std::to_string(id), {{"v", value}})}, "c", id);
  CHECK(retried.status == Code::kOk);
  CHECK(h.Send({Create("blobs", "next", {})}, "c", id + 1).status == Code::kOk);
  CHECK(h.Entities() == acked + 2);
}

namespace {

std::unique_ptr<store::StateStore> FreshState(const std::string& dir, const std::string& id) {
  store::StateStoreOptions o;
  o.dir = dir;
  o.map_size = 1 << 20;
  o.max_map_size = 64 << 20;
  auto opened = store::StateStore::Open(o, id);
  REQUIRE(opened.ok());
  return std::move(opened).value();
}

}  // namespace

TEST_CASE(
    "issue #15: idempotency records are per principal: another principal of the tenant "
    "can neither answer nor advance a client_id",
    "[writer][idempotency][security]") {
  Harness h;
  h.UseNamedPrincipals();
  auto a1 = h.SendAs("alice", {Create("orders", "a1", {})}, "shared", 1);
  REQUIRE(a1.status == Code::kOk);
  // bob sends alice's client_id with her next id, and a refused command with the id after.
  CHECK(h.SendAs("bob", {Create("orders", "b2", {})}, "shared", 2).status == Code::kOk);
  CHECK(h.SendAs("bob", {Create("locked", "x", {})}, "shared", 3).status ==
        Code::kPermissionDenied);
  // alice's own id 2 and 3 are hers: applied, not answered with bob's replies.
  auto a2 = h.SendAs("alice", {Create("orders", "a2", {})}, "shared", 2);
  CHECK(a2.status == Code::kOk);
  CHECK(a2.seq == 3);
  auto a3 = h.SendAs("alice", {Create("orders", "a3", {})}, "shared", 3);
  CHECK(a3.status == Code::kOk);
  CHECK(a3.seq == 4);
  // bob cannot read alice's remembered reply to id 1 either.
  auto peek = h.SendAs("bob", {Create("orders", "a1", {})}, "shared", 1);
  CHECK(peek.status == Code::kOutOfOrder);
  CHECK(peek.seq == 0);
  // alice's retry of id 1 is still answered from her own record.
  auto retry = h.SendAs("alice", {Create("orders", "a1", {})}, "shared", 1);
  CHECK(retry.status == Code::kOk);
  CHECK(retry.seq == a1.seq);
  std::vector<std::string> keys;
  for (const auto& e : h.Events()) keys.push_back(e.key);
  CHECK(keys == std::vector<std::string>{"a1", "b2", "a2", "a3"});
}

TEST_CASE(
    "issue #16: entity state replayed from the log is byte-identical to the state built "
    "live",
    "[writer][state]") {
  Harness h;
  std::mt19937 rng(16);
  std::uint64_t id = 0;
  for (int batch = 0; batch < 40; ++batch) {
    std::vector<std::vector<std::uint8_t>> frames;
    for (int r = 0; r < 50; ++r) {
      std::vector<CommandSpec> commands;
      for (int c = 0, n = 1 + static_cast<int>(rng() % 3); c < n; ++c) {
        std::string key = "k" + std::to_string(rng() % 200);
        std::string collection = rng() % 4 == 0 ? "users" : "orders";
        switch (rng() % 5) {
          case 0:
            commands.push_back(Create(collection, key, {{"n", std::int64_t(rng() % 100)}}));
            break;
          case 1:
            commands.push_back(Update(collection, key, {{"s", std::string(rng() % 50, 'u')}}));
            break;
          case 2:
            commands.push_back(Delete(collection, key));
            break;
          default:
            commands.push_back(
                Upsert(collection, key,
                       {{"d", static_cast<double>(rng() % 1000) / 7}, {"b", rng() % 2 == 0}}));
        }
      }
      frames.push_back(h.Encode(commands, "c", ++id));
    }
    h.CommitRaw(frames);
  }
  const auto live = testing::DumpState(h.state());
  REQUIRE(live.size() > 100);
  CHECK(live[0] == "state_seq " + std::to_string(h.committer().committed_seq()));
  testing::TempDir dir;
  // Across transaction boundaries that fall anywhere in a request's events.
  auto replayed = FreshState(dir / "replayed", h.store().store_id());
  auto caught = CatchUpState(h.store(), *replayed, 37, false);
  REQUIRE(caught.ok());
  CHECK(caught->from_seq == 0);
  CHECK(caught->events == h.committer().committed_seq());
  CHECK(testing::DumpState(*replayed) == live);

  // Behind: more live writes, then only the tail is applied.
  for (int i = 0; i < 20; ++i)
    REQUIRE(h.Send({Upsert("orders", "tail" + std::to_string(i), {})}, "c", ++id).status ==
            Code::kOk);
  auto tail = CatchUpState(h.store(), *replayed, 10000, false);
  REQUIRE(tail.ok());
  CHECK(tail->events == 20);
  CHECK(testing::DumpState(*replayed) == testing::DumpState(h.state()));

  // Ahead of the log (its events never reached the log): emptied and replayed from seq 1.
  {
    auto txn = store::Txn::BeginWrite(replayed->env());
    REQUIRE(txn->Put(replayed->dbs().entities, "phantom", "x").ok());
    REQUIRE(replayed->SetStateSeq(txn.value(), h.committer().committed_seq() + 5).ok());
    REQUIRE(txn->Commit().ok());
  }
  auto ahead = CatchUpState(h.store(), *replayed, 10000, false);
  REQUIRE(ahead.ok());
  CHECK(ahead->events == h.committer().committed_seq());
  CHECK(testing::DumpState(*replayed) == testing::DumpState(h.state()));
}

TEST_CASE(
    "issue #15: records of idle clients expire in small steps and the log stops growing "
    "under one-shot clients",
    "[writer][idempotency][expiry]") {
  Harness h;
  const std::uint64_t expiry_ns = 1'000'000'000;  // 1 s
  ClientSweeper sweeper(h.store(), expiry_ns);
  auto sweep_all = [&](std::uint64_t now_ns) {
    bool done = false;
    int steps = 0;
    while (!done) {
      REQUIRE(sweeper.Step(now_ns, 64, &done).ok());
      ++steps;
    }
    return steps;
  };
  // 300 one-shot clients, 3 requests each.
  std::uint64_t n = 0;
  auto one_shot_clients = [&](int count) {
    std::vector<std::vector<std::uint8_t>> frames;
    for (int c = 0; c < count; ++c, ++n)
      for (std::uint64_t id = 1; id <= 3; ++id)
        frames.push_back(h.Encode({Upsert("orders", "k" + std::to_string(n % 50), {})},
                                  "cli-" + std::to_string(n), id));
    for (const auto& r : h.CommitRaw(frames))
      REQUIRE(testing::ParseCommandReply(r).status == Code::kOk);
  };
  one_shot_clients(300);
  REQUIRE(h.Count(h.store().dbs().clients) == 300);
  REQUIRE(h.Count(h.store().dbs().replies) == 900);
  // Not idle long enough yet: nothing goes, in steps of 64 records (5 steps for 300).
  CHECK(sweep_all(WallNs()) == 5);
  CHECK(h.Count(h.store().dbs().clients) == 300);
  // Idle past the expiry: all records go, replies included.
  sweep_all(WallNs() + 2 * expiry_ns);
  CHECK(h.Count(h.store().dbs().clients) == 0);
  CHECK(h.Count(h.store().dbs().replies) == 0);
  CHECK(sweeper.stats().expired == 300);
  // An expired client_id is a new client: its old id 3 is applied again, as any first id.
  auto again = h.Send({Upsert("orders", "again", {})}, "cli-0", 3);
  CHECK(again.status == Code::kOk);
  CHECK(h.Send({Upsert("orders", "again", {})}, "cli-0", 4).status == Code::kOk);

  // Rounds of one-shot clients whose requests write no event (an Update of an absent key is a
  // definite NotFound, remembered): only their records touch the log. Each round expired before
  // the next, the records stay bounded and the file levels off (LMDB reuses the freed pages).
  std::vector<std::uintmax_t> sizes;
  std::string sizes_text;
  for (int round = 0; round < 12; ++round) {
    std::vector<std::vector<std::uint8_t>> frames;
    for (int c = 0; c < 200; ++c, ++n)
      for (std::uint64_t id = 1; id <= 3; ++id)
        frames.push_back(
            h.Encode({Update("orders", "absent", {{"x", true}})}, "cli-" + std::to_string(n), id));
    for (const auto& r : h.CommitRaw(frames))
      REQUIRE(testing::ParseCommandReply(r).status == Code::kNotFound);
    CHECK(h.Count(h.store().dbs().clients) == (round == 0 ? 201u : 200u));  // cli-0 once
    sweep_all(WallNs() + 2 * expiry_ns);
    sizes.push_back(std::filesystem::file_size(h.store().log_dir() + "/data.mdb"));
    sizes_text += std::to_string(sizes.back()) + " ";
  }
  CHECK(h.Count(h.store().dbs().clients) == 0);
  INFO("log file size after each round: " << sizes_text);
  CHECK(sizes[11] <= sizes[3] + (16u << 10));
}

}  // namespace cqrs::writer
