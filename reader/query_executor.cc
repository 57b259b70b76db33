// Executing Get and Scan against a read-store snapshot.
#include "reader/query_executor.h"

#include "store/key_format.h"
#include "wire/validate.h"

namespace cqrs::reader {
namespace {

constexpr std::string_view kTenant = "default";  // TODO(#8): the tenant of the caller

std::string_view AsView(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}

}  // namespace

std::span<const std::uint8_t> QueryExecutor::Refuse(std::uint64_t request_id, const Status& status,
                                                    std::uint64_t seq) {
  builder_.Begin();
  return builder_.Finish(request_id, status.code(), status.message(), seq, {});
}

std::span<const std::uint8_t> QueryExecutor::Execute(const store::Txn& snapshot, std::uint64_t seq,
                                                     const fb::QueryRequest& request,
                                                     Code* status) {
  builder_.Begin();
  Status s;
  std::string next;
  switch (request.query_type()) {
    case fb::Query::Get:
      s = Get(snapshot, *request.query_as_Get());
      break;
    case fb::Query::Scan:
      s = Scan(snapshot, *request.query_as_Scan(), &next);
      break;
    case fb::Query::Find: {
      const auto* f = request.query_as_Find();
      // TODO(#5): indexes declared in config.
      s = Error(Code::kInvalidArgument, "collection {} has no index on field {}",
                AsView(f->collection()), AsView(f->field()));
      break;
    }
    case fb::Query::Aggregate: {
      const auto* a = request.query_as_Aggregate();
      // TODO(#5): aggregates declared in config.
      s = Error(Code::kInvalidArgument, "collection {} declares no aggregate named {}",
                AsView(a->collection()), AsView(a->name()));
      break;
    }
    default:
      s = Status(Code::kInvalidArgument, "unknown query type");
      break;
  }
  *status = s.code();
  if (!s.ok()) return Refuse(request.request_id(), s, seq);
  return builder_.Finish(request.request_id(), Code::kOk, {}, seq, next);
}

Status QueryExecutor::Get(const store::Txn& snapshot, const fb::Get& get) {
  std::string_view collection = AsView(get.collection()), key = AsView(get.key());
  std::uint32_t ns = 0;
  Status s = store_.namespaces().Lookup(snapshot, kTenant, collection, &ns);
  std::string_view record;
  if (s.ok()) s = snapshot.Get(store_.dbs().entities, store::EntityKey(ns, key).view(), &record);
  if (s.code() == Code::kNotFound)
    return Error(Code::kNotFound, "{} key {} not found", collection, wire::Quoted(key));
  CQRS_RETURN_IF_ERROR(s);
  if (!builder_.AddEntity(collection, key, record))
    return Error(Code::kInternal, "stored record of {} key {} is corrupt", collection,
                 wire::Quoted(key));
  return OkStatus();
}

Status QueryExecutor::Scan(const store::Txn& snapshot, const fb::Scan& scan, std::string* next) {
  std::string_view collection = AsView(scan.collection());
  std::string_view prefix = AsView(scan.prefix()), start = AsView(scan.start());
  std::string_view end = AsView(scan.end()), after = AsView(scan.after());
  const std::uint32_t limit = scan.limit() == 0 ? config_.default_scan_limit : scan.limit();
  std::uint32_t ns = 0;
  Status s = store_.namespaces().Lookup(snapshot, kTenant, collection, &ns);
  if (s.code() == Code::kNotFound) return OkStatus();  // nothing was ever written there
  CQRS_RETURN_IF_ERROR(s);

  // The first candidate: at or after start and prefix, strictly after `after`.
  std::string_view low = std::max(start, prefix);
  bool skip_after = false;
  if (!after.empty() && after >= low) {
    low = after;
    skip_after = true;
  }
  auto cursor = store::Cursor::Open(snapshot, store_.dbs().entities);
  if (!cursor.ok()) return cursor.status();
  store::KeyBuffer probe = store::EntityKey(ns, low);
  std::string_view key = probe.view(), record;
  std::string_view ns_prefix = probe.view().substr(0, 4);
  bool more = false;      // the walk stopped at a further qualifying key
  std::string_view last;  // the last key returned (valid for the snapshot's lifetime)
  for (s = cursor->Get(MDB_SET_RANGE, &key, &record); s.ok();
       s = cursor->Get(MDB_NEXT, &key, &record)) {
    if (key.substr(0, 4) != ns_prefix) break;  // past the collection
    std::string_view k = key.substr(4);
    if (!prefix.empty() && !k.starts_with(prefix)) break;  // past the prefix range
    if (!end.empty() && k >= end) break;
    if (skip_after && k == after) continue;
    if (builder_.entity_count() >= limit || builder_.bytes() >= config_.max_reply_bytes) {
      more = true;
      break;
    }
    if (!builder_.AddEntity(collection, k, record))
      return Error(Code::kInternal, "stored record of {} key {} is corrupt", collection,
                   wire::Quoted(k));
    last = k;
  }
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  next->assign(more ? last : std::string_view());  // the cursor of the next page
  return OkStatus();
}

}  // namespace cqrs::reader
