// The query half of the protocol: QueryRequest ("CQQ1") decoded and checked by readers, built by
// clients; QueryReply ("CQA1") built by readers from stored records, parsed by clients. Batches
// of them are wire/batch_codec.h's.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"
#include "schemas/cqrs_generated.h"
#include "wire/value_codec.h"

namespace cqrs::wire {

struct QueryLimits {
  std::uint32_t max_request_bytes = 1u << 20;
  std::uint32_t max_key_bytes = 507;
  std::uint32_t max_token_bytes = 4096;
  std::uint32_t max_scan_limit = 1000;
  std::uint32_t max_timeout_ms = 60000;
};

struct DecodedQueryRequest {
  Status status;  // OK or InvalidArgument naming the field or limit
  std::uint64_t request_id = 0;
  const fb::QueryRequest* request = nullptr;  // set when OK; points into the buffer
};

// Verifies and checks one aligned QueryRequest frame (see docs/PROTOCOL.md for the rules).
DecodedQueryRequest DecodeQueryRequest(std::span<const std::uint8_t> aligned,
                                       const QueryLimits& limits);

// The collection a checked query names (every query names one).
std::string_view QueryCollection(const fb::QueryRequest& request);

// Queries as C++ callers build them.
struct GetQuery {
  std::string collection;
  std::string key;
};
struct ScanQuery {
  std::string collection;
  std::string prefix;       // keys starting with it
  std::string start;        // keys >= start
  std::string end;          // keys < end (empty: no bound)
  std::string after;        // keys > after: the `next` cursor of the previous page
  std::uint32_t limit = 0;  // 0: the reader's default
};
// Entities whose `field` equals `eq`, or lies in [lo, hi] (either bound may be absent), in
// (value, key) order; numbers compare by value whether int or double. Needs an index on the
// field (config [[collections]]).
struct FindQuery {
  std::string collection;
  std::string field;
  Value eq;  // std::monostate: none
  Value lo;
  Value hi;
  std::string after;        // the `next` cursor of the previous page
  std::uint32_t limit = 0;  // 0: the reader's default
};
// Every group of a declared aggregate, with its count and sum.
struct AggregateQuery {
  std::string collection;
  std::string name;
};
using QuerySpec = std::variant<GetQuery, ScanQuery, FindQuery, AggregateQuery>;

// Find's `next` cursor: lowercase hex of the position, at most this long.
inline constexpr std::size_t kMaxFindCursorChars = 2048;

// Encodes QueryRequests, reusing its builder (the bytes are valid until the next Encode).
class QueryRequestEncoder {
 public:
  std::span<const std::uint8_t> Encode(std::uint64_t request_id, std::string_view token,
                                       std::uint64_t min_seq, std::uint32_t timeout_ms,
                                       const QuerySpec& query);

 private:
  flatbuffers::FlatBufferBuilder fbb_{256};
};

// An entity, owned.
struct EntityData {
  std::string collection;
  std::string key;
  std::uint64_t version = 0;
  std::uint64_t seq = 0;
  std::vector<FieldSpec> fields;
};

// An aggregate group, owned.
struct GroupData {
  Value key;
  std::uint64_t count = 0;
  double sum = 0;
};

// A QueryReply, owned.
struct QueryReplyData {
  std::uint64_t request_id = 0;
  Code status = Code::kOk;
  std::string message;
  std::uint64_t seq = 0;
  std::vector<EntityData> entities;
  std::string next;
  std::vector<GroupData> groups;  // Aggregate
};

Status ParseQueryReply(std::span<const std::uint8_t> aligned, QueryReplyData* out);

}  // namespace cqrs::wire
