// The OpenAI Batch API output format, written from a JobStore: one line per
// finished job ({id, custom_id, response, error}, the Batch API's field
// order), in input order, replacing the file atomically. The output streams
// from the store a page at a time into the file: memory holds one page of
// results, whatever the size of the batch. `sluice-cli batch`
// and the console's batch runs both write their output through here.
//
// Thread-safety: free functions; the store serialises its own calls. They
// read the disk: never call them from a GUI thread.
#pragma once

#include "batchfile/batch_ids.h"
#include "store/job_store.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct RejectedLine;

// The Batch API's request id for a custom_id: stable across runs.
std::string batchRequestId(const std::string& customId);

// Text from outside (an input line, a provider's body) may hold invalid
// UTF-8; it is written with U+FFFD in place of the bad bytes rather than
// aborting the run.
template <typename Json>
std::string dumpJsonLine(const Json& j)
{
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

nlohmann::ordered_json batchOutputLine(const store::Outcome& outcome);

struct BatchOutputCounts {
    std::uint64_t completed = 0;
    std::uint64_t dead = 0;
};

// Writes every finished job of the store to `path`, atomically. Throws
// FileError (the file is then untouched) or store::StoreError.
BatchOutputCounts writeBatchOutput(const store::JobStore& store, const std::string& path);
// The same for the jobs of one run or batch, by id (BatchStreamQueue::ids()).
BatchOutputCounts writeBatchOutput(const store::JobStore& store, const std::string& path, const BatchIds& wanted);

// Writes the rejected lines ({line, custom_id, error, input} each) to
// `path`, atomically. Throws FileError.
void writeBatchRejects(const std::string& path, const std::vector<RejectedLine>& rejects);

}  // namespace sluice
