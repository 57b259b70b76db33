// One-line JSON for what the CLI prints: typed values, entities, events.
//   values: int and double as numbers (a double always shows a '.' or an exponent), strings
//   as strings, bools as booleans, bytes as {"bytes":"<hex>"}
#pragma once

#include <string>

#include "base/value.h"
#include "schemas/cqrs_generated.h"
#include "wire/query_codec.h"
#include "wire/value_codec.h"

namespace cqrs::cli {

void AppendJsonValue(std::string* out, const ValueView& value);
// {"collection":..,"key":..,"version":..,"seq":..,"fields":{..}}
std::string EntityJson(const wire::EntityData& entity);
// {"seq":..,"collection_seq":..,"op":"Update","collection":..,"key":..,"version":..,
//  "fields":{..},"timestamp_ns":..,"client_id":..,"request_id":..}
std::string EventJson(const fb::Event& event);

}  // namespace cqrs::cli
