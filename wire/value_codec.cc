// Conversions between owning values, value views and FlatBuffers unions.
#include "wire/value_codec.h"

namespace cqrs::wire {

ValueView ToView(const Value& v) {
  struct Visitor {
    ValueView operator()(std::monostate) const { return {}; }
    ValueView operator()(std::int64_t i) const { return ValueView::Int(i); }
    ValueView operator()(double d) const { return ValueView::Double(d); }
    ValueView operator()(const std::string& s) const { return ValueView::String(s); }
    ValueView operator()(const Bytes& b) const { return ValueView::Bytes(b.data); }
    ValueView operator()(bool b) const { return ValueView::Bool(b); }
  };
  return std::visit(Visitor{}, v);
}

Value ToValue(const ValueView& v) {
  switch (v.type) {
    case ValueType::kNone:
      return std::monostate{};
    case ValueType::kInt:
      return v.i;
    case ValueType::kDouble:
      return v.d;
    case ValueType::kString:
      return std::string(v.bytes);
    case ValueType::kBytes:
      return Bytes{std::string(v.bytes)};
    case ValueType::kBool:
      return v.b;
  }
  return std::monostate{};
}

std::pair<fb::Value, flatbuffers::Offset<void>> CreateValue(flatbuffers::FlatBufferBuilder& fbb,
                                                            const ValueView& v) {
  switch (v.type) {
    case ValueType::kNone:
      return {fb::Value::NONE, 0};
    case ValueType::kInt:
      return {fb::Value::IntValue, fb::CreateIntValue(fbb, v.i).Union()};
    case ValueType::kDouble:
      return {fb::Value::DoubleValue, fb::CreateDoubleValue(fbb, v.d).Union()};
    case ValueType::kString: {
      auto s = fbb.CreateString(v.bytes.data(), v.bytes.size());
      return {fb::Value::StringValue, fb::CreateStringValue(fbb, s).Union()};
    }
    case ValueType::kBytes: {
      auto b =
          fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(v.bytes.data()), v.bytes.size());
      return {fb::Value::BytesValue, fb::CreateBytesValue(fbb, b).Union()};
    }
    case ValueType::kBool:
      return {fb::Value::BoolValue, fb::CreateBoolValue(fbb, v.b).Union()};
  }
  return {fb::Value::NONE, 0};
}

ValueView ValueOf(fb::Value type, const void* value) {
  if (value == nullptr) return {};
  switch (type) {
    case fb::Value::IntValue:
      return ValueView::Int(static_cast<const fb::IntValue*>(value)->value());
    case fb::Value::DoubleValue:
      return ValueView::Double(static_cast<const fb::DoubleValue*>(value)->value());
    case fb::Value::StringValue: {
      const auto* s = static_cast<const fb::StringValue*>(value)->value();
      return ValueView::String(s ? std::string_view(s->data(), s->size()) : std::string_view());
    }
    case fb::Value::BytesValue: {
      const auto* b = static_cast<const fb::BytesValue*>(value)->value();
      return ValueView::Bytes(
          b ? std::string_view(reinterpret_cast<const char*>(b->data()), b->size())
            : std::string_view());
    }
    case fb::Value::BoolValue:
      return ValueView::Bool(static_cast<const fb::BoolValue*>(value)->value());
    default:
      return {};
  }
}

}  // namespace cqrs::wire
