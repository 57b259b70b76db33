// Entity record encoding, decoding and merge.
#include "store/record_format.h"

#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "store/key_format.h"

namespace cqrs::store {
namespace {

std::uint32_t GetU32LE(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

const std::uint8_t* U8(std::string_view s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

}  // namespace

bool ParseRecordHeader(std::string_view record, RecordHeader* header) {
  if (record.size() < kRecordHeaderBytes) return false;
  const std::uint8_t* p = U8(record);
  if (p[0] != kRecordFormatVersion) return false;
  header->tombstone = (p[1] & 1) != 0;
  header->field_count = static_cast<std::uint16_t>(p[2] | p[3] << 8);
  header->version = GetU64LE(p + 8);
  header->seq = GetU64LE(p + 16);
  return true;
}

RecordFieldReader::RecordFieldReader(std::string_view record) {
  RecordHeader h;
  if (record.empty()) return;  // no record: no fields
  if (!ParseRecordHeader(record, &h)) {
    ok_ = false;
    return;
  }
  rest_ = record.substr(kRecordHeaderBytes);
  remaining_ = h.field_count;
}

bool RecordFieldReader::Next(FieldView* field) {
  if (!ok_ || remaining_ == 0) return false;
  auto fail = [this] {
    ok_ = false;
    return false;
  };
  if (rest_.size() < 2) return fail();
  std::size_t name_len = U8(rest_)[0];
  if (rest_.size() < 2 + name_len) return fail();
  field->name = rest_.substr(1, name_len);
  auto type = static_cast<ValueType>(U8(rest_)[1 + name_len]);
  rest_.remove_prefix(2 + name_len);
  ValueView& v = field->value;
  v = ValueView();
  v.type = type;
  switch (type) {
    case ValueType::kInt:
    case ValueType::kDouble: {
      if (rest_.size() < 8) return fail();
      std::uint64_t bits = GetU64LE(U8(rest_));
      if (type == ValueType::kInt) {
        v.i = static_cast<std::int64_t>(bits);
      } else {
        std::memcpy(&v.d, &bits, 8);
      }
      rest_.remove_prefix(8);
      break;
    }
    case ValueType::kBool:
      if (rest_.empty()) return fail();
      v.b = U8(rest_)[0] != 0;
      rest_.remove_prefix(1);
      break;
    case ValueType::kString:
    case ValueType::kBytes: {
      if (rest_.size() < 4) return fail();
      std::uint32_t len = GetU32LE(U8(rest_));
      if (rest_.size() - 4 < len) return fail();
      v.bytes = rest_.substr(4, len);
      rest_.remove_prefix(4 + std::size_t{len});
      break;
    }
    default:
      return fail();
  }
  --remaining_;
  return true;
}

std::size_t EncodedFieldBytes(const FieldView& f) {
  std::size_t n = 2 + f.name.size();
  switch (f.value.type) {
    case ValueType::kInt:
    case ValueType::kDouble:
      return n + 8;
    case ValueType::kBool:
      return n + 1;
    case ValueType::kString:
    case ValueType::kBytes:
      return n + 4 + f.value.bytes.size();
    case ValueType::kNone:
      return 0;
  }
  return 0;
}

void RecordBuilder::Begin(std::uint64_t version, std::uint64_t seq, bool tombstone) {
  buf_.assign(kRecordHeaderBytes, 0);
  buf_[0] = kRecordFormatVersion;
  buf_[1] = tombstone ? 1 : 0;
  PutU64LE(buf_.data() + 8, version);
  PutU64LE(buf_.data() + 16, seq);
  count_ = 0;
}

void RecordBuilder::Add(const FieldView& f) {
  if (f.value.type == ValueType::kNone) return;
  CQRS_CHECK(f.name.size() <= 255);
  CQRS_CHECK(count_ < 0xFFFF);
  std::size_t at = buf_.size();
  buf_.resize(at + EncodedFieldBytes(f));
  std::uint8_t* p = buf_.data() + at;
  *p++ = static_cast<std::uint8_t>(f.name.size());
  std::memcpy(p, f.name.data(), f.name.size());
  p += f.name.size();
  *p++ = static_cast<std::uint8_t>(f.value.type);
  switch (f.value.type) {
    case ValueType::kInt:
      PutU64LE(p, static_cast<std::uint64_t>(f.value.i));
      break;
    case ValueType::kDouble: {
      std::uint64_t bits;
      std::memcpy(&bits, &f.value.d, 8);
      PutU64LE(p, bits);
      break;
    }
    case ValueType::kBool:
      *p = f.value.b ? 1 : 0;
      break;
    case ValueType::kString:
    case ValueType::kBytes: {
      auto len = static_cast<std::uint32_t>(f.value.bytes.size());
      for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(len >> (8 * i));
      if (len > 0) std::memcpy(p + 4, f.value.bytes.data(), len);
      break;
    }
    case ValueType::kNone:
      break;
  }
  ++count_;
}

std::string_view RecordBuilder::Finish() {
  buf_[2] = static_cast<std::uint8_t>(count_);
  buf_[3] = static_cast<std::uint8_t>(count_ >> 8);
  return {reinterpret_cast<const char*>(buf_.data()), buf_.size()};
}

std::size_t MergeFields(std::string_view old_record, std::span<const FieldView> changes,
                        RecordBuilder* builder) {
  RecordFieldReader old(old_record);
  FieldView current;
  bool have_old = old.Next(&current);
  std::size_t count = 0;
  auto emit = [&](const FieldView& f) {
    if (f.value.type == ValueType::kNone) return;
    builder->Add(f);
    ++count;
  };
  std::size_t i = 0;
  while (have_old || i < changes.size()) {
    if (i == changes.size() || (have_old && current.name < changes[i].name)) {
      emit(current);
      have_old = old.Next(&current);
    } else if (!have_old || changes[i].name < current.name) {
      emit(changes[i++]);
    } else {  // same name: the change replaces (or removes) the old value
      emit(changes[i++]);
      have_old = old.Next(&current);
    }
  }
  return count;
}

void PatchRecordSeq(char* record, std::uint64_t seq) {
  PutU64LE(reinterpret_cast<std::uint8_t*>(record) + kRecordSeqOffset, seq);
}

ValueView FieldByName(std::span<const FieldView> sorted_fields, std::string_view name) {
  auto it = std::lower_bound(sorted_fields.begin(), sorted_fields.end(), name,
                             [](const FieldView& f, std::string_view n) { return f.name < n; });
  return it != sorted_fields.end() && it->name == name ? it->value : ValueView();
}

}  // namespace cqrs::store
