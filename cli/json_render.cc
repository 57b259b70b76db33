// JSON rendering of values, entities and events.
#include "cli/json_render.h"

#include <fmt/format.h>

#include "base/json.h"
#include "wire/value_codec.h"

namespace cqrs::cli {
namespace {

using wire::AsView;

void AppendField(std::string* out, bool* first, std::string_view name, const ValueView& v) {
  if (!*first) out->push_back(',');
  *first = false;
  AppendJsonString(out, name);
  out->push_back(':');
  AppendJsonValue(out, v);
}

}  // namespace

void AppendJsonValue(std::string* out, const ValueView& v) {
  switch (v.type) {
    case ValueType::kNone:
      *out += "null";
      break;
    case ValueType::kInt:
      *out += fmt::format("{}", v.i);
      break;
    case ValueType::kDouble: {
      std::string d = fmt::format("{}", v.d);
      if (d.find_first_of(".eEni") == std::string::npos) d += ".0";  // stays a double
      *out += d;
      break;
    }
    case ValueType::kString:
      AppendJsonString(out, v.bytes);
      break;
    case ValueType::kBytes: {
      *out += "{\"bytes\":\"";
      AppendHex(out, v.bytes);
      *out += "\"}";
      break;
    }
    case ValueType::kBool:
      *out += v.b ? "true" : "false";
      break;
  }
}

std::string EntityJson(const wire::EntityData& e) {
  std::string out = "{\"collection\":";
  AppendJsonString(&out, e.collection);
  out += ",\"key\":";
  AppendJsonString(&out, e.key);
  out += fmt::format(",\"version\":{},\"seq\":{},\"fields\":{{", e.version, e.seq);
  bool first = true;
  for (const FieldSpec& f : e.fields) AppendField(&out, &first, f.name, wire::ToView(f.value));
  out += "}}";
  return out;
}

std::string EventJson(const fb::Event& e) {
  std::string out =
      fmt::format("{{\"seq\":{},\"collection_seq\":{},\"op\":", e.seq(), e.collection_seq());
  AppendJsonString(&out, fb::EnumNameOp(e.op()));
  out += ",\"collection\":";
  AppendJsonString(&out, AsView(e.collection()));
  out += ",\"key\":";
  AppendJsonString(&out, AsView(e.key()));
  out += fmt::format(",\"version\":{},\"fields\":{{", e.version());
  bool first = true;
  if (e.fields())
    for (const fb::Field* f : *e.fields())
      AppendField(&out, &first, AsView(f->name()), wire::ValueOf(*f));
  out += fmt::format("}},\"timestamp_ns\":{}", e.timestamp_ns());
  if (e.client_id()) {
    out += ",\"client_id\":";
    AppendJsonString(&out, AsView(e.client_id()));
    out += fmt::format(",\"request_id\":{}", e.request_id());
  }
  out += "}";
  return out;
}

}  // namespace cqrs::cli
