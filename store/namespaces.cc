// Interning (tenant, collection) into namespace ids.
#include "store/namespaces.h"

#include "base/status.h"

namespace cqrs::store {

U32Value::U32Value(std::uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(v >> (8 * i));
}

U64Value::U64Value(std::uint64_t v) { PutU64LE(reinterpret_cast<std::uint8_t*>(bytes), v); }

Status ReadU32(std::string_view value, std::uint32_t* out, std::string_view what) {
  if (value.size() != 4)
    return Error(Code::kInternal, "{} is {} bytes, expected 4", what, value.size());
  const auto* p = reinterpret_cast<const std::uint8_t*>(value.data());
  *out = static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
  return OkStatus();
}

Status ReadU64(std::string_view value, std::uint64_t* out, std::string_view what) {
  if (value.size() != 8)
    return Error(Code::kInternal, "{} is {} bytes, expected 8", what, value.size());
  *out = GetU64LE(reinterpret_cast<const std::uint8_t*>(value.data()));
  return OkStatus();
}

Result<std::uint64_t> GetMetaU64(const Txn& txn, Dbi meta, std::string_view meta_key,
                                 std::string_view what) {
  std::string_view value;
  CQRS_RETURN_IF_ERROR(txn.Get(meta, meta_key, &value));
  std::uint64_t out = 0;
  CQRS_RETURN_IF_ERROR(ReadU64(value, &out, what));
  return out;
}

Status NamespaceTable::Init(Txn& txn) const {
  std::string_view value;
  Status s = txn.Get(meta, kMetaNextNs, &value);
  if (s.code() != Code::kNotFound) return s;
  return txn.Put(meta, kMetaNextNs, U32Value(1).view());
}

Status NamespaceTable::Lookup(const Txn& txn, std::string_view tenant, std::string_view collection,
                              std::uint32_t* ns) const {
  std::string_view value;
  CQRS_RETURN_IF_ERROR(txn.Get(names, NameKey(tenant, collection).view(), &value));
  return ReadU32(value, ns, "names value");
}

Status NamespaceTable::Intern(Txn& txn, std::string_view tenant, std::string_view collection,
                              std::uint32_t* ns) const {
  Status s = Lookup(txn, tenant, collection, ns);
  if (s.code() != Code::kNotFound) return s;
  std::string_view value;
  CQRS_RETURN_IF_ERROR(txn.Get(meta, kMetaNextNs, &value));
  std::uint32_t next = 0;
  CQRS_RETURN_IF_ERROR(ReadU32(value, &next, "meta.next_ns"));
  CQRS_RETURN_IF_ERROR(txn.Put(names, NameKey(tenant, collection).view(), U32Value(next).view()));
  CQRS_RETURN_IF_ERROR(txn.Put(meta, kMetaNextNs, U32Value(next + 1).view()));
  *ns = next;
  return OkStatus();
}

Status NamespaceTable::ReadAll(const Txn& txn,
                               std::unordered_map<std::uint32_t, std::string>* out) const {
  auto cursor = Cursor::Open(txn, names);
  if (!cursor.ok()) return cursor.status();
  std::string_view k, v;
  for (Status got = cursor->Get(MDB_FIRST, &k, &v); got.code() != Code::kNotFound;
       got = cursor->Get(MDB_NEXT, &k, &v)) {
    CQRS_RETURN_IF_ERROR(got);
    std::uint32_t id = 0;
    CQRS_RETURN_IF_ERROR(ReadU32(v, &id, "names value"));
    (*out)[id] = std::string(k);
  }
  return OkStatus();
}

}  // namespace cqrs::store
