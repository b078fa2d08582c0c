// Compacting a batch's state once its output is written, and telling a run
// that its state was compacted before it sends or writes anything. The
// output file is then where the compacted jobs' results are: the state keeps
// what makes rerunning the same input a no-op (JobStore::compact).
//
// Thread-safety: free functions; the store serialises its own calls. They
// read and write the disk: never call them from a GUI thread.
#pragma once

#include "batchfile/batch_ids.h"
#include "store/job_store.h"

#include <functional>
#include <string>

namespace sluice {

// Compacts the done jobs of one run (`wanted`; every job when null), noting
// that their results are in `outputPath`. Call it only after that output is
// written (writeBatchOutput renames and fsyncs it before it returns).
// Throws store::StoreError.
store::CompactReport compactAfterOutput(store::JobStore& store, const BatchIds* wanted, const std::string& outputPath,
                                        const std::function<void(std::int64_t jobsSoFar)>& progress = {});

// Empty, or why an output of `wanted` (every job when null) cannot be written
// from this state: how many of its results were compacted, when, and which
// output holds them. Throws store::StoreError.
std::string compactedOutputProblem(const store::JobStore& store, const BatchIds* wanted);

}  // namespace sluice
