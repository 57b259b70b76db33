// Batch frames: verifying them, walking their nested frames, building them.
#include "wire/batch_codec.h"

#include "base/status.h"
#include "wire/protocol.h"

namespace cqrs::wire {
namespace {

using NestedFrames = flatbuffers::Vector<flatbuffers::Offset<fb::NestedFrame>>;

const char* Identifier(BatchKind kind) {
  switch (kind) {
    case BatchKind::kQueries:
      return kQueryBatchId;
    case BatchKind::kQueryReplies:
      return kQueryBatchReplyId;
    case BatchKind::kCommands:
      return kCommandBatchId;
    case BatchKind::kCommandReplies:
      return kCommandBatchReplyId;
  }
  return "";
}

template <typename Root>
Status Frames(std::span<const std::uint8_t> aligned, std::uint32_t max_bytes, BatchKind kind,
              std::string_view what, const NestedFrames** frames) {
  const Root* root = nullptr;
  CQRS_RETURN_IF_ERROR(VerifyFrame(aligned, max_bytes, Identifier(kind), what, &root));
  if constexpr (std::is_same_v<Root, fb::QueryBatch>) {
    *frames = root->queries();
  } else if constexpr (std::is_same_v<Root, fb::CommandBatch>) {
    *frames = root->requests();
  } else {
    *frames = root->replies();
  }
  return OkStatus();
}

}  // namespace

bool IsBatch(BatchKind kind, std::span<const std::uint8_t> frame) {
  return frame.size() >= kMinMessageBytes &&
         flatbuffers::BufferHasIdentifier(frame.data(), Identifier(kind));
}

Status ForEachNestedFrame(std::span<const std::uint8_t> aligned, BatchKind kind,
                          std::uint32_t max_bytes, std::uint32_t max_frames,
                          const std::function<void(std::span<const std::uint8_t>)>& each) {
  const NestedFrames* frames = nullptr;
  std::string_view name;
  switch (kind) {
    case BatchKind::kQueries:
      CQRS_RETURN_IF_ERROR(Frames<fb::QueryBatch>(aligned, max_bytes, kind, "QueryBatch", &frames));
      name = "queries";
      break;
    case BatchKind::kQueryReplies:
      CQRS_RETURN_IF_ERROR(
          Frames<fb::QueryBatchReply>(aligned, max_bytes, kind, "QueryBatchReply", &frames));
      name = "replies";
      break;
    case BatchKind::kCommands:
      CQRS_RETURN_IF_ERROR(
          Frames<fb::CommandBatch>(aligned, max_bytes, kind, "CommandBatch", &frames));
      name = "requests";
      break;
    case BatchKind::kCommandReplies:
      CQRS_RETURN_IF_ERROR(
          Frames<fb::CommandBatchReply>(aligned, max_bytes, kind, "CommandBatchReply", &frames));
      name = "replies";
      break;
  }
  if (frames == nullptr || frames->size() == 0)
    return Error(Code::kInvalidArgument, "{} is empty: a batch holds 1..{} frames", name,
                 max_frames);
  if (frames->size() > max_frames)
    return Error(Code::kInvalidArgument, "{} holds {} frames, over the batch bound {}", name,
                 frames->size(), max_frames);
  for (const fb::NestedFrame* nested : *frames) {
    const auto* bytes = nested->frame();
    each(bytes == nullptr ? std::span<const std::uint8_t>()
                          : std::span<const std::uint8_t>(bytes->data(), bytes->size()));
  }
  return OkStatus();
}

void ForEachReply(std::span<const std::uint8_t> aligned, BatchKind kind, AlignedBuffer& scratch,
                  const std::function<void(std::span<const std::uint8_t>)>& each) {
  if (!IsBatch(kind, aligned)) {
    each(aligned);
    return;
  }
  (void)ForEachNestedFrame(
      aligned, kind, kMaxTrustedFrameBytes, kMaxTrustedFrameBytes,
      [&](std::span<const std::uint8_t> nested) { each(scratch.AlignedView(nested)); });
}

void NestedFrameBuilder::Begin() {
  fbb_.Clear();
  frames_.clear();
}

void NestedFrameBuilder::Add(std::span<const std::uint8_t> frame) {
  fbb_.ForceVectorAlignment(frame.size(), sizeof(std::uint8_t), 8);
  auto bytes = fbb_.CreateVector(frame.data(), frame.size());
  frames_.push_back(fb::CreateNestedFrame(fbb_, bytes));
}

std::span<const std::uint8_t> NestedFrameBuilder::Finish(BatchKind kind) {
  auto frames = fbb_.CreateVector(frames_);
  switch (kind) {
    case BatchKind::kQueries:
      fbb_.Finish(fb::CreateQueryBatch(fbb_, frames), kQueryBatchId);
      break;
    case BatchKind::kQueryReplies:
      fbb_.Finish(fb::CreateQueryBatchReply(fbb_, frames), kQueryBatchReplyId);
      break;
    case BatchKind::kCommands:
      fbb_.Finish(fb::CreateCommandBatch(fbb_, frames), kCommandBatchId);
      break;
    case BatchKind::kCommandReplies:
      fbb_.Finish(fb::CreateCommandBatchReply(fbb_, frames), kCommandBatchReplyId);
      break;
  }
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

}  // namespace cqrs::wire
