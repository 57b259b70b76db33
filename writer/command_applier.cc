// Applying one CommandRequest inside the writer's transaction.
#include "writer/command_applier.h"

#include <fmt/format.h>

#include <algorithm>

#include "store/key_format.h"
#include "store/write_store_format.h"
#include "wire/command_codec.h"
#include "wire/protocol.h"
#include "wire/validate.h"
#include "wire/value_codec.h"

namespace cqrs::writer {
namespace {

using wire::AsView;

std::string_view AsView(std::span<const std::uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

}  // namespace

CommandApplier::CommandApplier(store::WriteStore& log, store::StateStore& state,
                               const Limits& limits)
    : log_(log), state_(state), dbs_(log.dbs()), limits_(limits) {}

Status CommandApplier::BeginBatch(store::Txn& log) {
#ifdef CQRS_MISTAKE_IDEMPOTENCY_SEPARATE_TXN
  deferred_.clear();
#endif
  auto last = log_.LastSeq(log);
  if (!last.ok()) return last.status();
  last_seq_ = last.value();
  return OkStatus();
}

Status CommandApplier::EndBatch(store::Txn& log, store::Txn& state) {
  CQRS_RETURN_IF_ERROR(log.Put(dbs_.meta, store::kMetaLastSeq, store::U64Value(last_seq_).view()));
  return state_.SetStateSeq(state, last_seq_);
}

Status CommandApplier::Apply(store::Txn& log, store::Txn& state, const fb::CommandRequest& request,
                             std::string_view tenant, std::string_view principal,
                             const Status& prior_refusal, int failed_index,
                             std::uint64_t timestamp_ns, std::vector<std::uint8_t>* reply,
                             Code* reply_status) {
  Status s = ApplyRequest(log, state, request, tenant, principal, prior_refusal, failed_index,
                          timestamp_ns, reply);
  *reply_status = last_code_;
  return s;
}

Status CommandApplier::ApplyRequest(store::Txn& log, store::Txn& state,
                                    const fb::CommandRequest& request, std::string_view tenant,
                                    std::string_view principal, const Status& prior_refusal,
                                    int failed_index, std::uint64_t timestamp_ns,
                                    std::vector<std::uint8_t>* reply) {
  std::string_view client_id = AsView(request.client_id());
  std::uint64_t request_id = request.request_id();
  Refusal refusal;
  if (!client_id.empty()) {
    // Records are per principal: another principal of the tenant can neither see nor advance
    // them, whatever client_id it sends.
    std::uint32_t tenant_ns = 0;
    CQRS_RETURN_IF_ERROR(log_.namespaces().Intern(log, tenant, "", &tenant_ns));
#ifdef CQRS_MISTAKE_IDEMPOTENCY_BY_TENANT  // the injected mistake (scripts/mistakes)
    principal = {};
#endif
    client_key_ = store::ClientKey(tenant_ns, principal, client_id);
    bool duplicate = false;
    CQRS_RETURN_IF_ERROR(CheckOrder(log, client_id, request_id, &duplicate, &refusal, reply));
    if (duplicate) {
      last_code_ = wire::FromWire(
          flatbuffers::GetRoot<fb::CommandReply>(reply->data())->status());  // our own bytes
      return OkStatus();
    }
    if (refusal.code != Code::kOk) {  // out of order: neither applied nor remembered
      BuildReply(request_id, refusal.code, refusal.message, -1, 0, reply,
                 refusal.expected_request_id);
      return OkStatus();
    }
  }
  if (!prior_refusal.ok()) {
    refusal.code = prior_refusal.code();
    refusal.message = prior_refusal.message();
    refusal.failed_index = failed_index;
  } else {
    CQRS_RETURN_IF_ERROR(Plan(log, state, request, tenant, &refusal));
  }
  versions_.clear();
  if (refusal.code != Code::kOk) {
    BuildReply(request_id, refusal.code, refusal.message, refusal.failed_index, 0, reply);
  } else {
    CQRS_RETURN_IF_ERROR(Write(log, state, request, tenant, timestamp_ns));
    BuildReply(request_id, Code::kOk, {}, -1, last_seq_, reply);
  }
  if (!client_id.empty()) CQRS_RETURN_IF_ERROR(Remember(log, request_id, timestamp_ns, *reply));
  return OkStatus();
}

Status CommandApplier::CheckOrder(store::Txn& log, std::string_view client_id,
                                  std::uint64_t request_id, bool* duplicate, Refusal* refusal,
                                  std::vector<std::uint8_t>* reply) {
  std::string_view head;
  Status s = log.Get(dbs_.clients, client_key_.view(), &head);
#ifdef CQRS_MISTAKE_IDEMPOTENCY_SEPARATE_TXN  // the records of this batch are not in `log`
  for (auto it = deferred_.rbegin(); it != deferred_.rend(); ++it) {
    if (it->head && it->key == client_key_.view()) {
      head = it->value;
      s = OkStatus();
      break;
    }
  }
#endif
  if (s.code() == Code::kNotFound) return OkStatus();  // a new (or expired) client: any first id
  CQRS_RETURN_IF_ERROR(s);
  store::ClientRecord record;
  CQRS_RETURN_IF_ERROR(store::ReadClientRecord(head, &record));
  const std::uint64_t last = record.last_request_id;
  if (request_id == last + 1) return OkStatus();
  if (request_id > last) {
    refusal->code = Code::kOutOfOrder;
    refusal->expected_request_id = last + 1;
    refusal->message = fmt::format("request_id {} of client_id {} is out of order: expected {}",
                                   request_id, wire::Quoted(client_id), last + 1);
    return OkStatus();
  }
  std::string_view stored;
  s = log.Get(dbs_.replies, store::ReplyKey(client_key_, request_id).view(), &stored);
  if (s.ok()) {
    reply->assign(stored.begin(), stored.end());
    *duplicate = true;
    return OkStatus();
  }
  if (s.code() != Code::kNotFound) return s;
  refusal->code = Code::kOutOfOrder;
  refusal->expected_request_id = last + 1;
  refusal->message = fmt::format(
      "request_id {} of client_id {} is not remembered (only the last {} are): expected {}",
      request_id, wire::Quoted(client_id), limits_.remembered_replies, last + 1);
  return OkStatus();
}

Status CommandApplier::Plan(store::Txn& log, store::Txn& state, const fb::CommandRequest& request,
                            std::string_view tenant, Refusal* refusal) {
  planned_.clear();
  arena_.clear();
  const auto* commands = request.commands();
  for (flatbuffers::uoffset_t i = 0; i < commands->size(); ++i) {
    CQRS_RETURN_IF_ERROR(
        PlanCommand(log, state, *commands->Get(i), tenant, static_cast<int>(i), refusal));
    if (refusal->code != Code::kOk) return OkStatus();
  }
  return OkStatus();
}

Status CommandApplier::PlanCommand(store::Txn& log, store::Txn& state, const fb::Command& command,
                                   std::string_view tenant, int index, Refusal* refusal) {
  std::string_view collection = AsView(command.collection());
  std::string_view key = AsView(command.key());
  auto refuse = [&](Code code, std::string message) {
    refusal->code = code;
    refusal->message = std::move(message);
    refusal->failed_index = index;
    return OkStatus();
  };

  // The current state: an earlier command of this request, else the store.
  std::string_view current;
  bool found = false;
  for (auto it = planned_.rbegin(); it != planned_.rend(); ++it) {
    if (it->collection == collection && it->key == key) {
      current = std::string_view(arena_.data() + it->record_offset, it->record_size);
      found = true;
      break;
    }
  }
  if (!found) {
    std::uint32_t ns = 0;
    Status s = log_.namespaces().Lookup(log, tenant, collection, &ns);
    if (s.ok()) {
      s = state.Get(state_.dbs().entities, store::EntityKey(ns, key).view(), &current);
      if (s.ok()) {
        found = true;
      } else if (s.code() != Code::kNotFound) {
        return s;
      }
    } else if (s.code() != Code::kNotFound) {
      return s;
    }
  }
  store::RecordHeader header;
  if (found && !store::ParseRecordHeader(current, &header))
    return refuse(Code::kInternal, fmt::format("stored record of {} key {} is corrupt", collection,
                                               wire::Quoted(key)));
  bool exists = found && !header.tombstone;
  std::uint64_t live_version = exists ? header.version : 0;
  std::uint64_t new_version = (found ? header.version : 0) + 1;

  fb::Op op = command.op();
  if (op == fb::Op::Create && exists)
    return refuse(Code::kAlreadyExists, fmt::format("{} key {} already exists at version {}",
                                                    collection, wire::Quoted(key), live_version));
  if ((op == fb::Op::Update || op == fb::Op::Delete) && !exists)
    return refuse(Code::kNotFound,
                  fmt::format("{} key {} not found", collection, wire::Quoted(key)));
  std::uint64_t expected = command.expected_version();
  if (expected != 0 && expected != live_version)
    return refuse(Code::kVersionConflict,
                  fmt::format("{} key {} is at version {}, expected_version is {}", collection,
                              wire::Quoted(key), live_version, expected));

  if (op == fb::Op::Delete) {
    record_.Begin(new_version, 0, /*tombstone=*/true);
  } else {
    changes_.clear();
    if (const auto* fields = command.fields()) {
      for (const fb::Field* f : *fields) changes_.push_back({AsView(f->name()), wire::ValueOf(*f)});
    }
    std::sort(changes_.begin(), changes_.end(),
              [](const FieldView& a, const FieldView& b) { return a.name < b.name; });
    record_.Begin(new_version, 0, /*tombstone=*/false);
    std::size_t count =
        store::MergeFields(exists ? current : std::string_view(), changes_, &record_);
    if (count > limits_.max_fields)
      return refuse(Code::kInvalidArgument,
                    fmt::format("{} key {} would have {} fields, over max_fields {}", collection,
                                wire::Quoted(key), count, limits_.max_fields));
    if (record_.size() > limits_.max_entity_bytes)
      return refuse(Code::kInvalidArgument,
                    fmt::format("{} key {} would be {} bytes, over max_entity_bytes {}", collection,
                                wire::Quoted(key), record_.size(), limits_.max_entity_bytes));
  }
  std::string_view record = record_.Finish();
  std::size_t offset = arena_.size();
  arena_.insert(arena_.end(), record.begin(), record.end());
  fb::Op effective = op == fb::Op::Delete ? fb::Op::Delete
                     : exists             ? fb::Op::Update
                                          : fb::Op::Create;
  planned_.push_back(
      {collection, key, effective, new_version, op == fb::Op::Delete, offset, record.size()});
  return OkStatus();
}

Status CommandApplier::Write(store::Txn& log, store::Txn& state, const fb::CommandRequest& request,
                             std::string_view tenant, std::uint64_t timestamp_ns) {
  for (const Planned& p : planned_) {
    std::uint32_t ns = 0;
    CQRS_RETURN_IF_ERROR(log_.namespaces().Intern(log, tenant, p.collection, &ns));
    std::uint64_t seq = ++last_seq_;

    store::KeyBuffer counter_key = store::NamespaceCounterKey(ns);
    std::string_view counter;
    std::uint64_t collection_seq = 0;
    Status s = log.Get(dbs_.counters, counter_key.view(), &counter);
    if (s.ok()) {
      CQRS_RETURN_IF_ERROR(store::ReadU64(counter, &collection_seq, "counters value"));
    } else if (s.code() != Code::kNotFound) {
      return s;
    }
    ++collection_seq;
    CQRS_RETURN_IF_ERROR(
        log.Put(dbs_.counters, counter_key.view(), store::U64Value(collection_seq).view()));

    char* record = arena_.data() + p.record_offset;
    store::PatchRecordSeq(record, seq);
    std::string_view record_view(record, p.record_size);
    CQRS_RETURN_IF_ERROR(
        state.Put(state_.dbs().entities, store::EntityKey(ns, p.key).view(), record_view));
    CQRS_RETURN_IF_ERROR(
        WriteEvent(log, p, collection_seq, request, tenant, timestamp_ns, record_view));
    versions_.push_back(p.tombstone ? 0 : p.version);
  }
  return OkStatus();
}

Status CommandApplier::WriteEvent(store::Txn& log, const Planned& change,
                                  std::uint64_t collection_seq, const fb::CommandRequest& request,
                                  std::string_view tenant, std::uint64_t timestamp_ns,
                                  std::string_view record) {
  auto& fbb = event_fbb_;
  fbb.Clear();
  event_fields_.clear();
  store::RecordFieldReader reader(record);
  wire::CreateFields(
      fbb, [&reader](FieldView* f) { return reader.Next(f); }, &event_fields_);
  CQRS_CHECK(reader.ok());
  auto fields = event_fields_.empty() ? 0 : fbb.CreateVector(event_fields_);
  auto tenant_off = fbb.CreateString(tenant.data(), tenant.size());
  auto collection = fbb.CreateString(change.collection.data(), change.collection.size());
  auto key = fbb.CreateString(change.key.data(), change.key.size());
  std::string_view client_id = AsView(request.client_id());
  auto client = client_id.empty() ? 0 : fbb.CreateString(client_id.data(), client_id.size());
  fbb.Finish(fb::CreateEvent(fbb, last_seq_, collection_seq, timestamp_ns, tenant_off, collection,
                             key, change.op, change.version, fields, client, request.request_id(),
                             wire::kEventFormat),
             wire::kEventId);
  return log.Put(
      dbs_.events, store::SeqKey(last_seq_).view(),
      std::string_view(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()),
      MDB_APPEND);
}

Status CommandApplier::Remember(store::Txn& log, std::uint64_t request_id,
                                std::uint64_t timestamp_ns, std::span<const std::uint8_t> reply) {
  const store::KeyBuffer reply_key = store::ReplyKey(client_key_, request_id);
  const store::ClientRecordValue head({request_id, timestamp_ns});
#ifdef CQRS_MISTAKE_IDEMPOTENCY_SEPARATE_TXN
  (void)log;
  deferred_.push_back({false, std::string(reply_key.view()), std::string(AsView(reply))});
  deferred_.push_back({true, std::string(client_key_.view()), std::string(head.view())});
  return OkStatus();
#endif
  CQRS_RETURN_IF_ERROR(log.Put(dbs_.replies, reply_key.view(), AsView(reply)));
  CQRS_RETURN_IF_ERROR(log.Put(dbs_.clients, client_key_.view(), head.view()));
  // Ids are contiguous per client, so dropping id - window keeps exactly the last `window`.
  std::uint64_t window = limits_.remembered_replies;
  if (request_id >= window) {
    Status s = log.Del(dbs_.replies, store::ReplyKey(client_key_, request_id - window).view());
    if (!s.ok() && s.code() != Code::kNotFound) return s;
  }
  return OkStatus();
}

#ifdef CQRS_MISTAKE_IDEMPOTENCY_SEPARATE_TXN
Status CommandApplier::CommitDeferred() {
  auto begun = store::Txn::BeginWrite(log_.env());
  if (!begun.ok()) return begun.status();
  store::Txn txn = std::move(begun).value();
  for (const auto& [head, key, value] : deferred_)
    CQRS_RETURN_IF_ERROR(txn.Put(head ? dbs_.clients : dbs_.replies, key, value));
  deferred_.clear();
  return txn.Commit();
}
#endif

void CommandApplier::BuildReply(std::uint64_t request_id, Code code, std::string_view message,
                                int failed_index, std::uint64_t seq,
                                std::vector<std::uint8_t>* reply,
                                std::uint64_t expected_request_id) {
  last_code_ = code;
  wire::BuildCommandReply(reply_fbb_, request_id, code, message, failed_index, seq,
                          code == Code::kOk ? std::span<const std::uint64_t>(versions_)
                                            : std::span<const std::uint64_t>(),
                          expected_request_id);
  reply->assign(reply_fbb_.GetBufferPointer(),
                reply_fbb_.GetBufferPointer() + reply_fbb_.GetSize());
}

}  // namespace cqrs::writer
