// CommandRequest and CommandReply encoding and decoding.
#include "wire/command_codec.h"

#include <cstdint>

#include "wire/command_decoder.h"
#include "wire/protocol.h"

namespace cqrs::wire {

std::span<const std::uint8_t> CommandRequestEncoder::Encode(std::string_view client_id,
                                                            std::uint64_t request_id,
                                                            std::string_view token,
                                                            std::span<const CommandSpec> commands) {
  auto& fbb = fbb_;
  auto& command_offsets = commands_;
  auto& field_offsets = fields_;
  fbb.Clear();
  command_offsets.clear();
  for (const CommandSpec& c : commands) {
    field_offsets.clear();
    for (const FieldSpec& f : c.fields) {
      auto name = fbb.CreateString(f.name);
      auto [type, value] = CreateValue(fbb, ToView(f.value));
      field_offsets.push_back(fb::CreateField(fbb, name, type, value));
    }
    auto fields = c.fields.empty() ? 0 : fbb.CreateVector(field_offsets);
    auto collection = fbb.CreateString(c.collection);
    auto key = fbb.CreateString(c.key);
    command_offsets.push_back(fb::CreateCommand(fbb, collection, key, static_cast<fb::Op>(c.op),
                                                c.expected_version, fields));
  }
  auto commands_vec = fbb.CreateVector(command_offsets);
  auto cid = client_id.empty() ? 0 : fbb.CreateString(client_id);
  auto tok = token.empty() ? 0 : fbb.CreateString(token);
  fbb.Finish(fb::CreateCommandRequest(fbb, cid, request_id, tok, commands_vec), kCommandRequestId);
  return {fbb.GetBufferPointer(), fbb.GetSize()};
}

void BuildCommandReply(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t request_id, Code status,
                       std::string_view message, int failed_index, std::uint64_t seq,
                       std::span<const std::uint64_t> versions, std::uint64_t expected_request_id) {
  fbb.Clear();
  auto msg = message.empty() ? 0 : fbb.CreateString(message);
  auto vers = versions.empty() ? 0 : fbb.CreateVector(versions.data(), versions.size());
  fbb.Finish(fb::CreateCommandReply(fbb, request_id, ToWire(status), msg, failed_index, seq, vers,
                                    expected_request_id),
             kCommandReplyId);
}

Status ParseCommandReply(std::span<const std::uint8_t> aligned, CommandReplyData* out) {
  const fb::CommandReply* r = nullptr;
  CQRS_RETURN_IF_ERROR(
      VerifyFrame(aligned, kMaxTrustedFrameBytes, kCommandReplyId, "CommandReply", &r));
  // The Verifier (FlatBuffers 2.0.8) checks a vector's 4-byte length prefix, not its elements'
  // 8-byte alignment: reading a misaligned [ulong] would be undefined (found by fuzz_command).
  if (r->versions() &&
      reinterpret_cast<std::uintptr_t>(r->versions()->data()) % alignof(std::uint64_t) != 0)
    return Status(Code::kInvalidArgument, "CommandReply.versions is not 8-byte aligned");
  out->request_id = r->request_id();
  out->status = FromWire(r->status());
  out->message = r->message() ? r->message()->str() : std::string();
  out->failed_index = r->failed_index();
  out->seq = r->seq();
  out->expected_request_id = r->expected_request_id();
  out->versions.clear();
  if (r->versions()) out->versions.assign(r->versions()->begin(), r->versions()->end());
  return OkStatus();
}

}  // namespace cqrs::wire
