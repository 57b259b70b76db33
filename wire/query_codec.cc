// QueryRequest checks, QueryReply building and parsing.
#include "wire/query_codec.h"

#include <fmt/format.h>

#include <cmath>

#include "wire/command_codec.h"
#include "wire/protocol.h"
#include "wire/validate.h"
#include "wire/value_codec.h"

namespace cqrs::wire {
namespace {

Status Invalid(std::string message) { return Status(Code::kInvalidArgument, std::move(message)); }

Status CheckCollection(const flatbuffers::String* s, std::string_view where) {
  if (!IsValidCollectionName(AsView(s)))
    return Invalid(
        fmt::format("{}.collection {} must match [a-z0-9_]{{1,64}}", where, Quoted(AsView(s))));
  return OkStatus();
}

// Keys and key bounds: UTF-8 without NUL, at most max_key_bytes; `required` forbids empty.
Status CheckKeyText(const flatbuffers::String* s, std::string_view name, bool required,
                    const QueryLimits& limits) {
  std::string_view v = AsView(s);
  if (required && v.empty())
    return Invalid(fmt::format("{} is empty (1..{} bytes)", name, limits.max_key_bytes));
  if (v.size() > limits.max_key_bytes)
    return Invalid(
        fmt::format("{} is {} bytes, over max_key_bytes {}", name, v.size(), limits.max_key_bytes));
  if (!IsValidIdentifierText(v)) return Invalid(fmt::format("{} must be UTF-8 without NUL", name));
  return OkStatus();
}

Status CheckLimit(std::uint32_t limit, std::string_view where, const QueryLimits& limits) {
  if (limit > limits.max_scan_limit)
    return Invalid(
        fmt::format("{}.limit {} is over max_scan_limit {}", where, limit, limits.max_scan_limit));
  return OkStatus();
}

Status CheckValue(fb::Value type, const void* table, std::string_view name) {
  if (type == fb::Value::NONE) return OkStatus();
  if (static_cast<std::uint8_t>(type) > static_cast<std::uint8_t>(fb::Value::MAX))
    return Invalid(fmt::format("{} has unknown value type {}", name, static_cast<int>(type)));
  if (table == nullptr) return Invalid(fmt::format("{} names a value type but has no value", name));
  if (type == fb::Value::DoubleValue &&
      !std::isfinite(static_cast<const fb::DoubleValue*>(table)->value()))
    return Invalid(fmt::format("{} is not a finite double", name));
  if (type == fb::Value::StringValue &&
      !IsValidUtf8(AsView(static_cast<const fb::StringValue*>(table)->value())))
    return Invalid(fmt::format("{} is not valid UTF-8", name));
  return OkStatus();
}

Status CheckQuery(const fb::QueryRequest& r, const QueryLimits& limits) {
  switch (r.query_type()) {
    case fb::Query::Get: {
      const auto* q = r.query_as_Get();
      CQRS_RETURN_IF_ERROR(CheckCollection(q->collection(), "get"));
      return CheckKeyText(q->key(), "get.key", true, limits);
    }
    case fb::Query::Scan: {
      const auto* q = r.query_as_Scan();
      CQRS_RETURN_IF_ERROR(CheckCollection(q->collection(), "scan"));
      CQRS_RETURN_IF_ERROR(CheckKeyText(q->prefix(), "scan.prefix", false, limits));
      CQRS_RETURN_IF_ERROR(CheckKeyText(q->start(), "scan.start", false, limits));
      CQRS_RETURN_IF_ERROR(CheckKeyText(q->end(), "scan.end", false, limits));
      CQRS_RETURN_IF_ERROR(CheckKeyText(q->after(), "scan.after", false, limits));
      return CheckLimit(q->limit(), "scan", limits);
    }
    case fb::Query::Find: {
      const auto* q = r.query_as_Find();
      CQRS_RETURN_IF_ERROR(CheckCollection(q->collection(), "find"));
      if (!IsValidFieldName(AsView(q->field())))
        return Invalid(fmt::format("find.field {} must match [A-Za-z_][A-Za-z0-9_]{{0,63}}",
                                   Quoted(AsView(q->field()))));
      CQRS_RETURN_IF_ERROR(CheckValue(q->eq_type(), q->eq(), "find.eq"));
      CQRS_RETURN_IF_ERROR(CheckValue(q->lo_type(), q->lo(), "find.lo"));
      CQRS_RETURN_IF_ERROR(CheckValue(q->hi_type(), q->hi(), "find.hi"));
      if (q->eq_type() != fb::Value::NONE &&
          (q->lo_type() != fb::Value::NONE || q->hi_type() != fb::Value::NONE))
        return Invalid("find takes eq, or lo and/or hi, not both");
      if (q->eq_type() == fb::Value::NONE && q->lo_type() == fb::Value::NONE &&
          q->hi_type() == fb::Value::NONE)
        return Invalid("find needs eq, or lo and/or hi");
      std::string_view after = AsView(q->after());
      if (after.size() > kMaxFindCursorChars || after.size() % 2 != 0 ||
          after.find_first_not_of("0123456789abcdef") != std::string_view::npos)
        return Invalid(fmt::format(
            "find.after must be the `next` of a previous Find (even-length lowercase hex, at most "
            "{} characters)",
            kMaxFindCursorChars));
      return CheckLimit(q->limit(), "find", limits);
    }
    case fb::Query::Aggregate: {
      const auto* q = r.query_as_Aggregate();
      CQRS_RETURN_IF_ERROR(CheckCollection(q->collection(), "aggregate"));
      if (!IsValidFieldName(AsView(q->name())))
        return Invalid(fmt::format("aggregate.name {} must match [A-Za-z_][A-Za-z0-9_]{{0,63}}",
                                   Quoted(AsView(q->name()))));
      return OkStatus();
    }
    default:
      return OkStatus();  // NONE and unknown types are refused by the caller
  }
}

}  // namespace

std::string_view QueryCollection(const fb::QueryRequest& r) {
  switch (r.query_type()) {
    case fb::Query::Get:
      return AsView(r.query_as_Get()->collection());
    case fb::Query::Scan:
      return AsView(r.query_as_Scan()->collection());
    case fb::Query::Find:
      return AsView(r.query_as_Find()->collection());
    case fb::Query::Aggregate:
      return AsView(r.query_as_Aggregate()->collection());
    default:
      return {};
  }
}

DecodedQueryRequest DecodeQueryRequest(std::span<const std::uint8_t> frame,
                                       const QueryLimits& limits) {
  DecodedQueryRequest out;
  const fb::QueryRequest* r = nullptr;
  out.status = VerifyFrame(frame, limits.max_request_bytes, kQueryRequestId, "QueryRequest", &r);
  if (!out.status.ok()) return out;
  out.request_id = r->request_id();
  auto type = static_cast<std::uint8_t>(r->query_type());
  if (r->query_type() == fb::Query::NONE) {
    out.status = Invalid("query is missing: send a Get, Scan, Find or Aggregate");
  } else if (type > static_cast<std::uint8_t>(fb::Query::MAX)) {
    out.status = Invalid(fmt::format("query has unknown type {}", type));
  } else if (r->query() == nullptr) {
    out.status = Invalid("query names a type but has no table");
  } else if (AsView(r->token()).size() > limits.max_token_bytes) {
    out.status = Invalid(fmt::format("token is {} bytes, over max_token_bytes {}",
                                     AsView(r->token()).size(), limits.max_token_bytes));
  } else if (r->timeout_ms() > limits.max_timeout_ms) {
    out.status = Invalid(fmt::format("timeout_ms {} is over max_timeout_ms {}", r->timeout_ms(),
                                     limits.max_timeout_ms));
  } else {
    out.status = CheckQuery(*r, limits);
  }
  if (out.status.ok()) out.request = r;
  return out;
}

std::span<const std::uint8_t> QueryRequestEncoder::Encode(std::uint64_t request_id,
                                                          std::string_view token,
                                                          std::uint64_t min_seq,
                                                          std::uint32_t timeout_ms,
                                                          const QuerySpec& query) {
  fbb_.Clear();
  auto str = [this](const std::string& s) { return s.empty() ? 0 : fbb_.CreateString(s); };
  fb::Query type;
  flatbuffers::Offset<void> q;
  if (const auto* get = std::get_if<GetQuery>(&query)) {
    auto c = fbb_.CreateString(get->collection);
    auto k = fbb_.CreateString(get->key);
    type = fb::Query::Get;
    q = fb::CreateGet(fbb_, c, k).Union();
  } else if (const auto* scan = std::get_if<ScanQuery>(&query)) {
    auto c = fbb_.CreateString(scan->collection);
    auto prefix = str(scan->prefix);
    auto start = str(scan->start);
    auto end = str(scan->end);
    auto after = str(scan->after);
    type = fb::Query::Scan;
    q = fb::CreateScan(fbb_, c, prefix, start, end, after, scan->limit).Union();
  } else if (const auto* find = std::get_if<FindQuery>(&query)) {
    auto c = fbb_.CreateString(find->collection);
    auto field = fbb_.CreateString(find->field);
    auto [eq_type, eq] = CreateValue(fbb_, ToView(find->eq));
    auto [lo_type, lo] = CreateValue(fbb_, ToView(find->lo));
    auto [hi_type, hi] = CreateValue(fbb_, ToView(find->hi));
    auto after = str(find->after);
    type = fb::Query::Find;
    q = fb::CreateFind(fbb_, c, field, eq_type, eq, lo_type, lo, hi_type, hi, after, find->limit)
            .Union();
  } else {
    const auto& aggregate = std::get<AggregateQuery>(query);
    auto c = fbb_.CreateString(aggregate.collection);
    auto name = fbb_.CreateString(aggregate.name);
    type = fb::Query::Aggregate;
    q = fb::CreateAggregate(fbb_, c, name).Union();
  }
  auto tok = token.empty() ? 0 : fbb_.CreateString(token);
  fbb_.Finish(fb::CreateQueryRequest(fbb_, request_id, tok, min_seq, timeout_ms, type, q),
              kQueryRequestId);
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

Status ParseQueryReply(std::span<const std::uint8_t> aligned, QueryReplyData* out) {
  const fb::QueryReply* r = nullptr;
  CQRS_RETURN_IF_ERROR(
      VerifyFrame(aligned, kMaxTrustedFrameBytes, kQueryReplyId, "QueryReply", &r));
  out->request_id = r->request_id();
  out->status = FromWire(r->status());
  out->message.assign(AsView(r->message()));
  out->seq = r->seq();
  out->next.assign(AsView(r->next()));
  out->entities.clear();
  if (r->entities()) {
    for (const fb::Entity* e : *r->entities()) {
      EntityData d;
      d.collection.assign(AsView(e->collection()));
      d.key.assign(AsView(e->key()));
      d.version = e->version();
      d.seq = e->seq();
      if (e->fields())
        for (const fb::Field* f : *e->fields())
          d.fields.push_back({std::string(AsView(f->name())), ToValue(ValueOf(*f))});
      out->entities.push_back(std::move(d));
    }
  }
  out->groups.clear();
  if (r->groups()) {
    for (const fb::Group* g : *r->groups())
      out->groups.push_back({ToValue(ValueOf(g->key_type(), g->key())), g->count(), g->sum()});
  }
  return OkStatus();
}

}  // namespace cqrs::wire
