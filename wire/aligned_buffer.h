// AlignedBuffer: a growable byte buffer aligned to 16 bytes. ZeroMQ frames are often misaligned
// (docs/DEPENDENCY_FACTS.md fact 5), so every incoming frame is copied into one before
// verification.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace cqrs::wire {

// Move-only. Reuse one per connection slot: Assign() reallocates only to grow.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(AlignedBuffer&&) noexcept = default;
  AlignedBuffer& operator=(AlignedBuffer&&) noexcept = default;

  // Copies `size` bytes from `data`; contents before are lost. Allocates only when growing.
  void Assign(const void* data, std::size_t size) {
    Reserve(size);
    if (size > 0) std::memcpy(storage_.get(), data, size);
    size_ = size;
  }

  void Reserve(std::size_t size) {
    if (size <= capacity_) return;
    std::size_t words = (size + sizeof(Word) - 1) / sizeof(Word);
    storage_ = std::make_unique_for_overwrite<Word[]>(words);
    capacity_ = words * sizeof(Word);
  }

  void Clear() { size_ = 0; }
  // Frees the storage when it holds more than `max_capacity` bytes (after a burst of large
  // messages), so an idle buffer keeps at most that much.
  void ShrinkTo(std::size_t max_capacity) {
    if (capacity_ <= max_capacity) return;
    storage_.reset();
    capacity_ = size_ = 0;
  }
  std::size_t capacity() const { return capacity_; }

  const std::uint8_t* data() const { return reinterpret_cast<const std::uint8_t*>(storage_.get()); }
  std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(storage_.get()); }
  std::size_t size() const { return size_; }
  std::span<const std::uint8_t> span() const { return {data(), size_}; }

  // `bytes` itself when 8-byte aligned, else a copy of it in this buffer (a nested frame whose
  // builder did not align it).
  std::span<const std::uint8_t> AlignedView(std::span<const std::uint8_t> bytes) {
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % 8 == 0) return bytes;
    Assign(bytes.data(), bytes.size());
    return span();
  }

 private:
  struct alignas(16) Word {
    std::uint8_t bytes[16];
  };
  std::unique_ptr<Word[]> storage_;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
};

}  // namespace cqrs::wire
