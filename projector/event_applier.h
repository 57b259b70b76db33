// EventApplier: applies events from the log to the read store inside the projector's write
// transaction: entities (a delete removes the key), the per-collection log index, the declared
// read models (secondary indexes and aggregates, from the entity's state before and after the
// event), and the checkpoint. The same code serves the live projector and a rebuild.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "base/value.h"
#include "schemas/cqrs_generated.h"
#include "store/aggregate_group.h"
#include "store/event_record.h"
#include "store/lmdb.h"
#include "store/read_store.h"
#include "store/record_format.h"

namespace cqrs::projector {

// Not thread-safe; reuses its buffers (allocates nothing per event once warm).
class EventApplier {
 public:
  // `models` (the config's [[collections]]) must outlive the applier.
  explicit EventApplier(store::ReadStore& store) : EventApplier(store, NoCollectionSpecs()) {}
  EventApplier(store::ReadStore& store, const std::vector<CollectionSpec>& models)
      : store_(store), models_(models) {}

  // Reads the checkpoint at the start of a batch.
  Status Begin(store::Txn& txn);
  // Applies one verified event. Its seq must be exactly checkpoint + 1: anything else is a bug
  // or a corrupt log, and aborts (Internal) rather than apply out of order or twice.
  Status Apply(store::Txn& txn, const fb::Event& event);
  // Writes the checkpoint; call once before committing.
  Status End(store::Txn& txn);

  const store::Checkpoint& checkpoint() const { return checkpoint_; }

 private:
  // Index and aggregate maintenance for one event of a collection with declared read models.
  Status ApplyReadModels(store::Txn& txn, const CollectionSpec& spec, std::string_view tenant,
                         std::string_view key, bool deleted);
  Status AdjustGroup(store::Txn& txn, std::uint32_t id, const ValueView& group, int delta,
                     const ValueView& summed);
  // The id of "<collection>#<kind>.<name>" (cached per batch).
  Status ModelId(store::Txn& txn, std::string_view tenant, std::string_view collection, char kind,
                 std::string_view name, std::uint32_t* id);

  store::ReadStore& store_;
  const std::vector<CollectionSpec>& models_;
  store::Checkpoint checkpoint_;
  store::RecordBuilder record_;
  std::vector<FieldView> fields_;    // the event's after-image, by name
  std::string before_;               // the entity's record before the event ("": none)
  std::string model_name_;           // scratch for ModelId
  store::AggregateGroupSlot group_;  // scratch for AdjustGroup
  std::vector<std::tuple<std::string, std::string, std::uint32_t>> model_ids_;  // tenant, name, id
  std::string last_tenant_, last_collection_;  // the namespace last_ns_ is of (per batch)
  std::uint32_t last_ns_ = 0;
};

}  // namespace cqrs::projector
