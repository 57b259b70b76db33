// The entity record: how an entity's version, seq, tombstone flag and fields are stored as an
// LMDB value (write store `entities`; the read store uses the same format). Little-endian,
// unaligned (read through memcpy), fields sorted by name bytes so that a merge is one pass.
//
//   offset  size  field
//   0       1     format version (kRecordFormatVersion)
//   1       1     flags: bit 0 = tombstone (deleted; no fields)
//   2       2     field count
//   4       4     reserved, 0
//   8       8     version (1 on create, +1 per change, a delete included)
//   16      8     seq: global position of the entity's last change
//   24      ...   fields, ascending by name:
//                   u8 name length, name bytes, u8 type (ValueType), payload:
//                   int, double: 8 bytes; bool: 1 byte; string, bytes: u32 length + bytes
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/value.h"

namespace cqrs::store {

inline constexpr std::uint8_t kRecordFormatVersion = 1;
inline constexpr std::size_t kRecordHeaderBytes = 24;
inline constexpr std::size_t kRecordSeqOffset = 16;

struct RecordHeader {
  bool tombstone = false;
  std::uint16_t field_count = 0;
  std::uint64_t version = 0;
  std::uint64_t seq = 0;
};

// Parses the header; false if `record` is not a record of this format.
bool ParseRecordHeader(std::string_view record, RecordHeader* header);

// Walks a record's fields in order. Views point into the record.
class RecordFieldReader {
 public:
  explicit RecordFieldReader(std::string_view record);
  // Next field into `field`; false at the end or on a malformed record (then ok() is false).
  bool Next(FieldView* field);
  bool ok() const { return ok_; }

 private:
  std::string_view rest_;
  std::uint16_t remaining_ = 0;
  bool ok_ = true;
};

// The value of `name` among fields sorted by name (a record's order); kNone if absent.
ValueView FieldByName(std::span<const FieldView> sorted_fields, std::string_view name);

// Bytes one field takes in a record.
std::size_t EncodedFieldBytes(const FieldView& field);

// Builds records into a reused buffer: allocates only when the buffer must grow.
class RecordBuilder {
 public:
  void Begin(std::uint64_t version, std::uint64_t seq, bool tombstone);
  // Fields must be added in ascending name order; kNone values are skipped.
  void Add(const FieldView& field);
  std::string_view Finish();
  std::size_t size() const { return buf_.size(); }
  std::uint16_t field_count() const { return count_; }

 private:
  std::vector<std::uint8_t> buf_;
  std::uint16_t count_ = 0;
};

// Merges `changes` (ascending by name, unique; kNone removes a field) into the fields of
// `old_record` (may be empty: no old fields) and appends the result to `builder`, which must
// have been begun. Returns the number of fields in the result.
std::size_t MergeFields(std::string_view old_record, std::span<const FieldView> changes,
                        RecordBuilder* builder);

// Overwrites the seq of an encoded record in place.
void PatchRecordSeq(char* record, std::uint64_t seq);

}  // namespace cqrs::store
