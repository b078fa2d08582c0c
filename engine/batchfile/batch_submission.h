// A batch line in a JobStore's form, and a batch followed there: its jobs
// (by store id, BatchIds), how many have finished, cancelling what has not. `sluice-cli batch` queues into its own state database; the console
// queues into the workspace's store, beside other work, so a batch is the
// set of ids its lines got.
//
// Thread-safety: free functions; the store serialises its own calls. They
// wait on the disk: never call them from a GUI thread.
#pragma once

#include "batchfile/batch_ids.h"
#include "queue/batch_input.h"
#include "store/job_store.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

// The store's form of an accepted line; a deadline_s counts from `start`.
store::NewJob batchLineToJob(const BatchLine& line, int defaultPriority, WallTime start);

struct BatchTally {
    std::uint64_t total = 0;
    std::uint64_t done = 0;  // a result stored
    std::uint64_t dead = 0;  // dead-lettered (failed or cancelled)
    std::uint64_t finished() const noexcept { return done + dead; }
    bool complete() const noexcept { return finished() >= total; }
};

// Counts the batch's finished jobs: one count query per run of consecutive
// ids (a batch queued in one go is a few runs), reading no bodies.
BatchTally tallyBatch(const store::JobStore& store, const BatchIds& ids);

// Dead-letters every job of the batch not finished yet (class "cancelled",
// `reason` as its message) and returns their custom_ids, so the caller can
// withdraw them from the dispatcher too. A request already in flight may
// still answer; its result is then kept.
std::vector<std::string> cancelBatch(store::JobStore& store, const BatchIds& ids,
                                     const std::string& reason);

}  // namespace sluice
