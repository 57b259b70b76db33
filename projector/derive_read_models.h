// Read models (secondary indexes, aggregates) built in bulk from the entities of a read store:
// the second half of a rebuild (projector/rebuild.h).
#pragma once

#include <cstddef>
#include <vector>

#include "base/config.h"
#include "base/status.h"
#include "store/read_store.h"

namespace cqrs::projector {

// Memory DeriveReadModels gathers entries in before writing them out.
inline constexpr std::size_t kDeriveBudgetBytes = 256u << 20;

// Builds the indexes and aggregates `models` declares from the entities of `store`, which must
// have none yet (its events were applied by an EventApplier without models), in one transaction:
// per (tenant, collection) with declarations, one scan of its entities gathers each index's keys
// by value (entity keys come in order, so only the distinct values are sorted) and each
// aggregate's cells, and writes them in order with MDB_APPEND. Past `budget_bytes` of gathered
// entries it writes what it has and goes on (aggregate cells then add up).
Status DeriveReadModels(store::ReadStore& store, const std::vector<CollectionSpec>& models,
                        std::size_t budget_bytes);

}  // namespace cqrs::projector
