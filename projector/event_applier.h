// EventApplier: applies events from the log to the read store inside the projector's write
// transaction: entities (a delete removes the key), the per-collection log index, and the
// checkpoint. The same code serves the live projector and a rebuild from the log.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "base/value.h"
#include "schemas/cqrs_generated.h"
#include "store/lmdb.h"
#include "store/read_store.h"
#include "store/record_format.h"

namespace cqrs::projector {

// Not thread-safe; reuses its buffers (allocates nothing per event once warm).
class EventApplier {
 public:
  explicit EventApplier(store::ReadStore& store) : store_(store) {}

  // Reads the checkpoint at the start of a batch.
  Status Begin(store::Txn& txn);
  // Applies one verified event. Its seq must be exactly checkpoint + 1: anything else is a bug
  // or a corrupt log, and aborts (Internal) rather than apply out of order or twice.
  Status Apply(store::Txn& txn, const fb::Event& event);
  // Writes the checkpoint; call once before committing.
  Status End(store::Txn& txn);

  const store::Checkpoint& checkpoint() const { return checkpoint_; }

 private:
  store::ReadStore& store_;
  store::Checkpoint checkpoint_;
  store::RecordBuilder record_;
  std::vector<FieldView> fields_;
};

}  // namespace cqrs::projector
