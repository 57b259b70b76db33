// Building QueryReply messages from records.
#include "reader/query_reply_builder.h"

#include "store/record_format.h"
#include "wire/protocol.h"
#include "wire/value_codec.h"

namespace cqrs::reader {

void QueryReplyBuilder::Begin() {
  fbb_.Clear();
  entities_.clear();
  groups_.clear();
}

void QueryReplyBuilder::AddGroup(const ValueView& key, std::uint64_t count, double sum) {
  auto [type, value] = wire::CreateValue(fbb_, key);
  groups_.push_back(fb::CreateGroup(fbb_, type, value, count, sum));
}

bool QueryReplyBuilder::AddEntity(std::string_view collection, std::string_view key,
                                  std::string_view record) {
  store::RecordHeader header;
  if (!store::ParseRecordHeader(record, &header)) return false;
  fields_.clear();
  store::RecordFieldReader reader(record);
  wire::CreateFields(
      fbb_, [&reader](FieldView* f) { return reader.Next(f); }, &fields_);
  if (!reader.ok()) return false;
  auto fields = fbb_.CreateVector(fields_);
  auto c = fbb_.CreateString(collection.data(), collection.size());
  auto k = fbb_.CreateString(key.data(), key.size());
  entities_.push_back(fb::CreateEntity(fbb_, c, k, header.version, header.seq, fields));
  return true;
}

std::span<const std::uint8_t> QueryReplyBuilder::Finish(std::uint64_t request_id, Code status,
                                                        std::string_view message, std::uint64_t seq,
                                                        std::string_view next) {
  auto msg = message.empty() ? 0 : fbb_.CreateString(message.data(), message.size());
  auto entities = entities_.empty() ? 0 : fbb_.CreateVector(entities_);
  auto nxt = next.empty() ? 0 : fbb_.CreateString(next.data(), next.size());
  auto groups = groups_.empty() ? 0 : fbb_.CreateVector(groups_);
  fbb_.Finish(
      fb::CreateQueryReply(fbb_, request_id, wire::ToWire(status), msg, seq, entities, nxt, groups),
      wire::kQueryReplyId);
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

}  // namespace cqrs::reader
