// The query half of the protocol: QueryRequest ("CQQ1") decoded and checked by readers, built by
// clients; QueryReply ("CQA1") built by readers from stored records, parsed by clients.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/status.h"
#include "schemas/cqrs_generated.h"
#include "wire/value.h"

namespace cqrs::wire {

struct QueryLimits {
  std::uint32_t max_request_bytes = 1u << 20;
  std::uint32_t max_key_bytes = 507;
  std::uint32_t max_token_bytes = 4096;
  std::uint32_t max_scan_limit = 1000;
  std::uint32_t max_timeout_ms = 60000;
};

struct DecodedQuery {
  Status status;  // OK or InvalidArgument naming the field or limit
  std::uint64_t request_id = 0;
  const fb::QueryRequest* request = nullptr;  // set when OK; points into the buffer
};

// Verifies and checks one aligned QueryRequest frame (see docs/PROTOCOL.md for the rules).
DecodedQuery DecodeQueryRequest(std::span<const std::uint8_t> aligned, const QueryLimits& limits);

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
using QuerySpec = std::variant<GetQuery, ScanQuery>;

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

// A QueryReply, owned.
struct QueryReplyData {
  std::uint64_t request_id = 0;
  Code status = Code::kOk;
  std::string message;
  std::uint64_t seq = 0;
  std::vector<EntityData> entities;
  std::string next;
};

Status ParseQueryReply(std::span<const std::uint8_t> aligned, QueryReplyData* out);

}  // namespace cqrs::wire
