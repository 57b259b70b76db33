// Fuzz targets: libFuzzer entry points over the decoders that take bytes from the network or the
// log. Each copies the input into an aligned buffer first, as the servers do (FlatBuffers
// alignment, docs/DEPENDENCY_FACTS.md fact 5), so the fuzzer explores the decoders, not the copy.
#pragma once

#include <cstddef>
#include <cstdint>

#include "wire/aligned_buffer.h"

namespace cqrs::fuzz {

inline const wire::AlignedBuffer& Aligned(const std::uint8_t* data, std::size_t size) {
  static wire::AlignedBuffer buffer;
  buffer.Assign(data, size);
  return buffer;
}

}  // namespace cqrs::fuzz
