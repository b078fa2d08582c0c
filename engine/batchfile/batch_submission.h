// A batch file's accepted lines into a JobStore, and that batch followed
// there: its jobs (by store id), how many have finished, cancelling what has
// not. `sluice-cli batch` queues into its own state database; the console
// queues into the workspace's store, beside other work, so a batch is the
// set of ids its lines got.
//
// Thread-safety: free functions; the store serialises its own calls. They
// wait on the disk: never call them from a GUI thread.
#pragma once

#include "queue/batch_input.h"
#include "store/job_store.h"

#include <cstdint>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

namespace sluice {

// The store's form of an accepted line; a deadline_s counts from `start`.
store::NewJob batchLineToJob(const BatchLine& line, int defaultPriority, WallTime start);

struct QueuedBatch {
    std::vector<store::JobId> ids;            // ascending: input order
    std::unordered_set<std::string> customIds;
    // Lines whose custom_id the store holds with a different request;
    // nothing of them was queued.
    std::vector<RejectedLine> conflicts;
    std::size_t resumed = 0;  // lines the store already held, same request (not queued twice)
};

// Queues `lines` in one transaction. `storeName` names the store in a
// conflict's message. Throws store::StoreError (then nothing was queued).
QueuedBatch queueBatch(store::JobStore& store, std::span<const BatchLine> lines, int defaultPriority,
                       WallTime start, const std::string& storeName);

struct BatchTally {
    std::uint64_t total = 0;
    std::uint64_t done = 0;  // a result stored
    std::uint64_t dead = 0;  // dead-lettered (failed or cancelled)
    std::uint64_t finished() const noexcept { return done + dead; }
    bool complete() const noexcept { return finished() >= total; }
};

// Counts the batch's finished jobs (`ids` ascending, as queueBatch gives
// them): one count query per run of consecutive ids.
BatchTally tallyBatch(const store::JobStore& store, std::span<const store::JobId> ids);

// Dead-letters every job of the batch not finished yet (class "cancelled",
// `reason` as its message) and returns their custom_ids, so the caller can
// withdraw them from the dispatcher too. A request already in flight may
// still answer; its result is then kept.
std::vector<std::string> cancelBatch(store::JobStore& store, std::span<const store::JobId> ids,
                                     const std::string& reason);

}  // namespace sluice
