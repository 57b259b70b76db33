// Executing Get and Scan against a read-store snapshot.
#include "reader/query_executor.h"

#include "base/status.h"
#include "store/aggregate_group.h"
#include "store/key_format.h"
#include "store/ordered_value.h"
#include "store/read_store_format.h"
#include "store/record_format.h"
#include "wire/query_codec.h"
#include "wire/validate.h"
#include "wire/value_codec.h"

namespace cqrs::reader {
namespace {

using wire::AsView;

// Value kinds for Find bounds: a bound matches values of its own kind (ints and doubles are one).
int KindOf(const ValueView& v) {
  if (v.type == ValueType::kBool) return 1;
  if (store::IsNumber(v)) return 2;
  return v.type == ValueType::kString ? 3 : 4;
}

// Find's cursor: the last entry returned, as lowercase hex of u16 BE length of the ordered value,
// the ordered value, the entity key.
std::string EncodeFindCursor(std::string_view ordered, std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(4 + 2 * (ordered.size() + key.size()));
  auto put = [&](unsigned char c) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  };
  put(static_cast<unsigned char>(ordered.size() >> 8));
  put(static_cast<unsigned char>(ordered.size() & 0xff));
  for (char c : ordered) put(static_cast<unsigned char>(c));
  for (char c : key) put(static_cast<unsigned char>(c));
  return out;
}

bool DecodeFindCursor(std::string_view hex, std::string* bytes, std::string_view* ordered,
                      std::string_view* key) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  bytes->clear();
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes->push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  if (bytes->size() < 2) return false;
  const std::size_t n = std::size_t{static_cast<unsigned char>((*bytes)[0])} << 8 |
                        std::size_t{static_cast<unsigned char>((*bytes)[1])};
  if (n == 0 || 2 + n > bytes->size()) return false;
  *ordered = std::string_view(*bytes).substr(2, n);
  *key = std::string_view(*bytes).substr(2 + n);
  return true;
}

}  // namespace

std::span<const std::uint8_t> QueryExecutor::Refuse(std::uint64_t request_id, const Status& status,
                                                    std::uint64_t seq) {
  builder_.Begin();
  return builder_.Finish(request_id, status.code(), status.message(), seq, {});
}

std::span<const std::uint8_t> QueryExecutor::Execute(const store::Txn& snapshot, std::uint64_t seq,
                                                     const fb::QueryRequest& request,
                                                     std::string_view tenant, Code* status) {
  builder_.Begin();
  seq_ = seq;
  tenant_ = tenant;
  Status s;
  std::string next;
  switch (request.query_type()) {
    case fb::Query::Get:
      s = Get(snapshot, *request.query_as_Get());
      break;
    case fb::Query::Scan:
      s = Scan(snapshot, *request.query_as_Scan(), &next);
      break;
    case fb::Query::Find:
    case fb::Query::Aggregate:
      if (!models_current_) {
        s = Status(Code::kUnavailable,
                   "the read store is being rebuilt for the declared read models: retry");
      } else if (request.query_type() == fb::Query::Find) {
        s = Find(snapshot, *request.query_as_Find(), &next);
      } else {
        s = Aggregate(snapshot, *request.query_as_Aggregate());
      }
      break;
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
  if (cache_ != nullptr && cache_usable_) {
    cache_key_.Set(tenant_, collection, key);
    std::uint64_t as_of = 0;
    const std::uint64_t applied = applied_->load(std::memory_order_acquire);
    const shm::CacheLookup lookup = cache_->Get(cache_key_, &cached_record_, &as_of);
    if (lookup == shm::CacheLookup::kHit && shm::CacheHitSpan::Of(applied, as_of).Covers(seq_) &&
        builder_.AddEntity(collection, key, cached_record_)) {
      hits_->fetch_add(1, std::memory_order_relaxed);
      if (reporter_) reporter_->Hit(cache_key_);
      return OkStatus();
    }
    misses_->fetch_add(1, std::memory_order_relaxed);
    // Only a key with no slot is worth filling; one cached but too new for this snapshot (or
    // mid-write) is read all the same, which is what keeps it cached.
    if (reporter_) {
      if (lookup == shm::CacheLookup::kMiss)
        reporter_->Miss(cache_key_);
      else
        reporter_->Hit(cache_key_);
    }
  }
  std::uint32_t ns = 0;
  Status s = store_.namespaces().Lookup(snapshot, tenant_, collection, &ns);
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
  Status s = store_.namespaces().Lookup(snapshot, tenant_, collection, &ns);
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

Status QueryExecutor::Find(const store::Txn& snapshot, const fb::Find& find, std::string* next) {
  std::string_view collection = AsView(find.collection()), field = AsView(find.field());
  const CollectionSpec* spec = FindCollectionSpec(models_, collection);
  if (spec == nullptr || !spec->HasIndex(field))
    return Error(Code::kInvalidArgument,
                 "collection {} has no index on field {} (declare it in the config's "
                 "[[collections]] indexes)",
                 collection, field);
  ValueView lo = wire::ValueOf(find.lo_type(), find.lo());
  ValueView hi = wire::ValueOf(find.hi_type(), find.hi());
  if (ValueView eq = wire::ValueOf(find.eq_type(), find.eq()); eq.type != ValueType::kNone)
    lo = hi = eq;
  const bool has_lo = lo.type != ValueType::kNone, has_hi = hi.type != ValueType::kNone;
  if (has_lo && has_hi && KindOf(lo) != KindOf(hi))
    return Status(Code::kInvalidArgument,
                  "find.lo and find.hi must be of one kind (ints and doubles mix)");
  const int kind = KindOf(has_lo ? lo : hi);
  const std::uint32_t limit = find.limit() == 0 ? config_.default_scan_limit : find.limit();

  std::string cursor_bytes;
  std::string_view after_value, after_key;
  const std::string_view after = AsView(find.after());
  if (!after.empty() && (!DecodeFindCursor(after, &cursor_bytes, &after_value, &after_key) ||
                         after_value.size() + 4 > store::kMaxLmdbKeyBytes))
    return Status(Code::kInvalidArgument, "find.after is not a `next` of this Find");

  std::uint32_t ns = 0, id = 0;
  Status s = store_.namespaces().Lookup(snapshot, tenant_, collection, &ns);
  store::ReadModelName(collection, store::kIndexModel, field, &name_);
  if (s.ok()) s = store_.namespaces().Lookup(snapshot, tenant_, name_, &id);
  if (s.code() == Code::kNotFound) return OkStatus();  // no entity ever had the field
  CQRS_RETURN_IF_ERROR(s);

  auto cursor = store::Cursor::Open(snapshot, store_.dbs().indexes);
  if (!cursor.ok()) return cursor.status();
  store::KeyBuffer probe;
  probe.U32(id);
  std::string_view k, v;
  if (!after.empty()) {
    probe.Bytes(after_value);
    k = probe.view();
    v = after_key;
    s = cursor->Get(MDB_GET_BOTH_RANGE, &k, &v);
    if (s.ok() && v == after_key) s = cursor->Get(MDB_NEXT, &k, &v);
    if (s.code() == Code::kNotFound) {  // no duplicate at or after the key: the next value on
      k = probe.view();
      s = cursor->Get(MDB_SET_RANGE, &k, &v);
      if (s.ok() && k == probe.view()) s = cursor->Get(MDB_NEXT_NODUP, &k, &v);
    }
  } else {
    if (has_lo) {
      store::KeyBuffer encoded;
      store::AppendOrderedValue(lo, &encoded);
      // A number's prefix (tag and double) is the least encoding of its value: an int lo must
      // not skip a double of the same value, whose suffix sorts first.
      probe.Bytes(store::IsNumber(lo) ? encoded.view().substr(0, 9) : encoded.view());
    } else {
      probe.U8(static_cast<std::uint8_t>(kind * 0x10));  // the first value of the bound's kind
    }
    k = probe.view();
    s = cursor->Get(MDB_SET_RANGE, &k, &v);
  }
  std::string_view last_value, last_key;
  bool more = false;
  for (; s.ok(); s = cursor->Get(MDB_NEXT, &k, &v)) {
    if (k.size() < 4 || store::GetU32BE(reinterpret_cast<const std::uint8_t*>(k.data())) != id)
      break;  // past this index
    ValueView indexed;
    if (!store::DecodeOrderedValue(k.substr(4), &indexed))
      return Error(Code::kInternal, "index {} holds a malformed value", name_);
    if (KindOf(indexed) != kind) {
      if (KindOf(indexed) > kind) break;
      continue;
    }
    if (has_hi && store::CompareOrdered(indexed, hi) > 0) break;
    // Exact check against the entity (indexed strings are cut at kMaxOrderedBytes).
    std::string_view record;
    CQRS_RETURN_IF_ERROR(
        snapshot.Get(store_.dbs().entities, store::EntityKey(ns, v).view(), &record));
    ValueView actual;
    store::RecordFieldReader reader(record);
    for (FieldView f; reader.Next(&f);)
      if (f.name == field) {
        actual = f.value;
        break;
      }
    if (actual.type == ValueType::kNone || KindOf(actual) != kind ||
        (has_lo && store::CompareOrdered(actual, lo) < 0) ||
        (has_hi && store::CompareOrdered(actual, hi) > 0))
      continue;
    if (builder_.entity_count() >= limit || builder_.bytes() >= config_.max_reply_bytes) {
      more = true;
      break;
    }
    if (!builder_.AddEntity(collection, v, record))
      return Error(Code::kInternal, "stored record of {} key {} is corrupt", collection,
                   wire::Quoted(v));
    last_value = k.substr(4);
    last_key = v;
  }
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  if (more) *next = EncodeFindCursor(last_value, last_key);
  return OkStatus();
}

Status QueryExecutor::Aggregate(const store::Txn& snapshot, const fb::Aggregate& aggregate) {
  std::string_view collection = AsView(aggregate.collection()), name = AsView(aggregate.name());
  const CollectionSpec* spec = FindCollectionSpec(models_, collection);
  const AggregateSpec* declared = spec ? spec->FindAggregate(name) : nullptr;
  if (declared == nullptr)
    return Error(Code::kInvalidArgument,
                 "collection {} declares no aggregate named {} (declare it in the config's "
                 "[[collections]] aggregates)",
                 collection, name);
  std::uint32_t id = 0;
  store::ReadModelName(collection, store::kAggregateModel, name, &name_);
  Status s = store_.namespaces().Lookup(snapshot, tenant_, name_, &id);
  if (s.code() == Code::kNotFound) return OkStatus();  // no group yet
  CQRS_RETURN_IF_ERROR(s);
  auto cursor = store::Cursor::Open(snapshot, store_.dbs().aggregates);
  if (!cursor.ok()) return cursor.status();
  store::KeyBuffer probe;
  probe.U32(id);
  std::string_view k = probe.view(), v;
  for (s = cursor->Get(MDB_SET_RANGE, &k, &v); s.ok(); s = cursor->Get(MDB_NEXT, &k, &v)) {
    if (k.size() < 4 || store::GetU32BE(reinterpret_cast<const std::uint8_t*>(k.data())) != id)
      break;
    ValueView group;
    store::AggregateCell cell;
    if (!store::DecodeAggregateGroup(k.substr(4), v, &group, &cell))
      return Error(Code::kInternal, "aggregate {} holds a malformed group", name_);
    if (builder_.bytes() >= config_.max_reply_bytes)
      return Error(Code::kResourceExhausted,
                   "aggregate {} of {} has more groups than fit in reader.max_reply_bytes {}", name,
                   collection, config_.max_reply_bytes);
    builder_.AddGroup(group, cell.count, declared->sum.empty() ? 0 : cell.sum());
  }
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  return OkStatus();
}

}  // namespace cqrs::reader
