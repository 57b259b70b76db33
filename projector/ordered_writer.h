// OrderedWriter: puts in ascending key order through one cursor, for the rebuild's bulk writes.
#pragma once

#include <utility>

#include "base/status.h"
#include "store/lmdb.h"

namespace cqrs::projector {

// Puts in ascending order through one cursor (a put next to the previous one skips the descent
// from the root): MDB_APPEND (MDB_APPENDDUP for a key's further duplicates) while the database's
// last entry is below, which fills pages instead of splitting them in half; ordinary puts once
// it is not (a namespace whose entries sort before earlier ones').
class OrderedWriter {
 public:
  // `dupsort`: the database has MDB_DUPSORT (a repeated pair is then skipped; otherwise a
  // repeated key is overwritten).
  static Result<OrderedWriter> Open(store::Txn& txn, store::Dbi dbi, bool dupsort) {
    auto cursor = store::Cursor::Open(txn, dbi);
    if (!cursor.ok()) return cursor.status();
    return OrderedWriter(std::move(cursor).value(), dupsort ? MDB_NODUPDATA : 0u);
  }
  Status Put(std::string_view key, std::string_view value, bool same_key_as_last) {
    if (append_) {
      Status s = cursor_.Put(key, value, same_key_as_last ? MDB_APPENDDUP : MDB_APPEND);
      if (s.code() != Code::kAlreadyExists) return s;
      append_ = false;
    }
    Status s = cursor_.Put(key, value, fallback_flags_);
    return s.code() == Code::kAlreadyExists ? OkStatus() : s;
  }

 private:
  OrderedWriter(store::Cursor cursor, unsigned fallback_flags)
      : cursor_(std::move(cursor)), fallback_flags_(fallback_flags) {}
  store::Cursor cursor_;
  unsigned fallback_flags_;
  bool append_ = true;
};

}  // namespace cqrs::projector
