// Test support: building Event buffers as the writer stores them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/aligned_buffer.h"
#include "wire/protocol.h"
#include "wire/value_codec.h"

namespace cqrs::testing {

// An aligned, finished Event ("CQE1"); fields in any order.
inline wire::AlignedBuffer MakeEvent(std::uint64_t seq, fb::Op op, const std::string& collection,
                                     const std::string& key, std::uint64_t version,
                                     const std::vector<FieldSpec>& fields = {},
                                     const std::string& tenant = "default",
                                     std::uint64_t timestamp_ns = 0) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<fb::Field>> offsets;
  for (const auto& f : fields) {
    auto name = fbb.CreateString(f.name);
    auto [type, value] = wire::CreateValue(fbb, wire::ToView(f.value));
    offsets.push_back(fb::CreateField(fbb, name, type, value));
  }
  auto vec = offsets.empty() ? 0 : fbb.CreateVector(offsets);
  fbb.Finish(fb::CreateEvent(fbb, seq, seq, timestamp_ns, fbb.CreateString(tenant),
                             fbb.CreateString(collection), fbb.CreateString(key), op, version, vec,
                             /*client_id=*/0, /*request_id=*/0, wire::kEventFormat),
             wire::kEventId);
  wire::AlignedBuffer out;
  out.Assign(fbb.GetBufferPointer(), fbb.GetSize());
  return out;
}

inline const fb::Event& AsEvent(const wire::AlignedBuffer& b) {
  return *flatbuffers::GetRoot<fb::Event>(b.data());
}

}  // namespace cqrs::testing
