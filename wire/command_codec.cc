// CommandRequest and CommandReply encoding and decoding.
#include "wire/command_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "wire/protocol.h"
#include "wire/validate.h"
#include "wire/value_codec.h"

namespace cqrs::wire {

namespace {

Status Invalid(std::string message) { return Status(Code::kInvalidArgument, std::move(message)); }

}  // namespace

DecodedCommandRequest CommandDecoder::Decode(std::span<const std::uint8_t> frame) {
  DecodedCommandRequest out;
  const fb::CommandRequest* request = nullptr;
  out.status =
      VerifyFrame(frame, limits_.max_request_bytes, kCommandRequestId, "CommandRequest", &request);
  if (!out.status.ok()) return out;
  out.request_id = request->request_id();

  std::string_view client_id = AsView(request->client_id());
  if (client_id.size() > limits_.max_client_id_bytes) {
    out.status = Invalid(fmt::format("client_id is {} bytes, over max_client_id_bytes {}",
                                     client_id.size(), limits_.max_client_id_bytes));
    return out;
  }
  if (!IsValidIdentifierText(client_id)) {
    out.status = Invalid("client_id must be UTF-8 without NUL");
    return out;
  }
  out.root = request;
  std::string_view token = AsView(request->token());
  if (token.size() > limits_.max_token_bytes) {
    out.status = Invalid(fmt::format("token is {} bytes, over max_token_bytes {}", token.size(),
                                     limits_.max_token_bytes));
    return out;
  }
  const auto* commands = request->commands();
  if (commands == nullptr || commands->size() == 0) {
    out.status = Invalid(
        fmt::format("commands is empty: a request holds 1..{} commands", limits_.max_commands));
    return out;
  }
  if (commands->size() > limits_.max_commands) {
    out.status = Invalid(fmt::format("request has {} commands, over max_commands {}",
                                     commands->size(), limits_.max_commands));
    return out;
  }
  for (flatbuffers::uoffset_t i = 0; i < commands->size(); ++i) {
    Status s = CheckCommand(*commands->Get(i), i);
    if (!s.ok()) {
      out.status = std::move(s);
      out.failed_index = static_cast<int>(i);
      return out;
    }
  }
  out.request = request;
  return out;
}

Status CommandDecoder::CheckCommand(const fb::Command& command, std::size_t i) {
  auto op = static_cast<std::uint8_t>(command.op());
  if (op > static_cast<std::uint8_t>(fb::Op::MAX))
    return Invalid(
        fmt::format("commands[{}].op {} is not Create, Update, Upsert or Delete", i, op));
  std::string_view collection = AsView(command.collection());
  if (!IsValidCollectionName(collection))
    return Invalid(fmt::format("commands[{}].collection {} must match [a-z0-9_]{{1,64}}", i,
                               Quoted(collection)));
  std::string_view key = AsView(command.key());
  if (key.empty())
    return Invalid(
        fmt::format("commands[{}].key is empty (1..{} bytes)", i, limits_.max_key_bytes));
  if (key.size() > limits_.max_key_bytes)
    return Invalid(fmt::format("commands[{}].key is {} bytes, over max_key_bytes {}", i, key.size(),
                               limits_.max_key_bytes));
  if (!IsValidIdentifierText(key))
    return Invalid(fmt::format("commands[{}].key must be UTF-8 without NUL", i));

  const auto* fields = command.fields();
  std::size_t n = fields ? fields->size() : 0;
  if (n == 0) return OkStatus();
  if (command.op() == fb::Op::Delete)
    return Invalid(fmt::format("commands[{}] is a Delete and must have no fields", i));
  if (n > limits_.max_fields)
    return Invalid(
        fmt::format("commands[{}] has {} fields, over max_fields {}", i, n, limits_.max_fields));
  names_.clear();
  for (flatbuffers::uoffset_t j = 0; j < n; ++j) {
    const fb::Field& field = *fields->Get(j);
    CQRS_RETURN_IF_ERROR(CheckField(field, command.op(), i, j));
    names_.push_back(AsView(field.name()));
  }
  std::sort(names_.begin(), names_.end());
  auto dup = std::adjacent_find(names_.begin(), names_.end());
  if (dup != names_.end())
    return Invalid(fmt::format("commands[{}].fields name {} appears twice", i, Quoted(*dup)));
  return OkStatus();
}

Status CommandDecoder::CheckField(const fb::Field& field, fb::Op op, std::size_t i, std::size_t j) {
  std::string_view name = AsView(field.name());
  if (!IsValidFieldName(name))
    return Invalid(
        fmt::format("commands[{}].fields[{}].name {} must match "
                    "[A-Za-z_][A-Za-z0-9_]{{0,63}}",
                    i, j, Quoted(name)));
  auto type = static_cast<std::uint8_t>(field.value_type());
  if (type > static_cast<std::uint8_t>(fb::Value::MAX))
    return Invalid(
        fmt::format("commands[{}].fields[{}] ({}) has unknown value type {}", i, j, name, type));
  if (field.value_type() == fb::Value::NONE) {
    if (op == fb::Op::Update || op == fb::Op::Upsert) return OkStatus();  // removes the field
    return Invalid(fmt::format(
        "commands[{}].fields[{}] ({}) has no value; only Update and Upsert remove a field", i, j,
        name));
  }
  if (field.value() == nullptr)
    return Invalid(fmt::format("commands[{}].fields[{}] ({}) names a value type but has no value",
                               i, j, name));
  switch (field.value_type()) {
    case fb::Value::DoubleValue:
      if (!std::isfinite(field.value_as_DoubleValue()->value()))
        return Invalid(
            fmt::format("commands[{}].fields[{}] ({}) is not a finite double", i, j, name));
      break;
    case fb::Value::StringValue:
      if (!IsValidUtf8(AsView(field.value_as_StringValue()->value())))
        return Invalid(fmt::format(
            "commands[{}].fields[{}] ({}) is not valid UTF-8 (send binary as BytesValue)", i, j,
            name));
      break;
    default:
      break;
  }
  return OkStatus();
}

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
