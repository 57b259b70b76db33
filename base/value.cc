// Names of the data model's operations.
#include "base/value.h"

namespace cqrs {

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kCreate:
      return "Create";
    case Op::kUpdate:
      return "Update";
    case Op::kUpsert:
      return "Upsert";
    case Op::kDelete:
      return "Delete";
  }
  return "Unknown";
}

}  // namespace cqrs
