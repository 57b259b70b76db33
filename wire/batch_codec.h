// Batches: many whole frames of one kind in one frame, each a NestedFrame with its identifier,
// each handled on its own as if it had come alone (docs/PROTOCOL.md, "Batched queries" and
// "Batched commands"): QueryBatch ("CQM1") / QueryBatchReply ("CQN1"), CommandBatch ("CQG1") /
// CommandBatchReply ("CQH1").
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.h"
#include "schemas/cqrs_generated.h"
#include "wire/aligned_buffer.h"

namespace cqrs::wire {

enum class BatchKind { kQueries, kQueryReplies, kCommands, kCommandReplies };

// Whether `frame` carries the identifier of a batch of `kind` (checked first: any other frame
// goes the single-frame way, and fails there by name if it is neither).
bool IsBatch(BatchKind kind, std::span<const std::uint8_t> frame);

// Verifies an aligned batch frame of `kind`, of at most `max_bytes` and holding 1..`max_frames`
// nested frames, and calls `each` with every nested frame in order (8-byte aligned when
// `aligned` is and its builder aligned them, as ours do; possibly empty: the nested frame's own
// check says what is wrong with it). InvalidArgument naming the bound or the failed check.
Status ForEachNestedFrame(std::span<const std::uint8_t> aligned, BatchKind kind,
                          std::uint32_t max_bytes, std::uint32_t max_frames,
                          const std::function<void(std::span<const std::uint8_t>)>& each);

// For a client: calls `each` with the reply frame `aligned` itself when it is not a batch of
// `kind`, else with each of its nested frames in order, 8-byte aligned (copied into `scratch`
// when their builder did not align them). A batch that fails its check calls nothing (the
// client's attempt timeout resends what it should have answered).
void ForEachReply(std::span<const std::uint8_t> aligned, BatchKind kind, AlignedBuffer& scratch,
                  const std::function<void(std::span<const std::uint8_t>)>& each);

// Builds batch frames from whole frames, reusing its builder.
class NestedFrameBuilder {
 public:
  void Begin();
  // Copies `frame` in, 8-byte aligned.
  void Add(std::span<const std::uint8_t> frame);
  std::size_t count() const { return frames_.size(); }
  // The batch's size so far, near enough to decide where to split.
  std::size_t size() const { return fbb_.GetSize() + 16 * frames_.size() + 16; }
  // The finished batch of `kind` (valid until the next Begin).
  std::span<const std::uint8_t> Finish(BatchKind kind);

 private:
  flatbuffers::FlatBufferBuilder fbb_{1024};
  std::vector<flatbuffers::Offset<fb::NestedFrame>> frames_;
};

}  // namespace cqrs::wire
