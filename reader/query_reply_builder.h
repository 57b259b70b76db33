// QueryReplyBuilder: a QueryReply ("CQA1") built straight from stored entity records.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/value.h"
#include "schemas/cqrs_generated.h"

namespace cqrs::reader {

// Builds QueryReply messages from stored entity records. Reuses its buffers; not thread-safe.
class QueryReplyBuilder {
 public:
  void Begin();
  // Adds an entity from a record (store/record_format.h). False if the record is malformed.
  bool AddEntity(std::string_view collection, std::string_view key, std::string_view record);
  // Adds an aggregate group.
  void AddGroup(const ValueView& key, std::uint64_t count, double sum);
  std::size_t entity_count() const { return entities_.size(); }
  std::size_t bytes() const { return fbb_.GetSize(); }
  // The finished reply, valid until the next Begin().
  std::span<const std::uint8_t> Finish(std::uint64_t request_id, Code status,
                                       std::string_view message, std::uint64_t seq,
                                       std::string_view next);

 private:
  flatbuffers::FlatBufferBuilder fbb_{1024};
  std::vector<flatbuffers::Offset<fb::Entity>> entities_;
  std::vector<flatbuffers::Offset<fb::Field>> fields_;
  std::vector<flatbuffers::Offset<fb::Group>> groups_;
};

}  // namespace cqrs::reader
