// A batch file queued into a JobStore as it is read, a chunk at a time, so
// the memory a run holds does not grow with its input: the lines of one
// chunk (their request bodies) until they are in the store, and then only
// the run-length set of their ids (BatchIds) and the rejected lines.
// A repeated custom_id is told by the store itself: the chunk that holds
// the repeat gets back an id this run already holds (same request:
// Duplicate; another request: Conflict), so no custom_id is kept in memory.
//
// Each chunk is its own transaction: a store error leaves the earlier chunks
// queued (nothing is sent while queueing; rerunning the same input finds
// them and queues the rest).
//
// Thread-safety: none; one thread feeds it. The store serialises its own calls.
#pragma once

#include "batchfile/batch_ids.h"
#include "queue/batch_input.h"
#include "store/job_store.h"

#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

namespace sluice {

class BatchStreamQueue {
public:
    struct Options {
        int defaultPriority = 0;
        WallTime start{};              // deadline_s counts from here
        std::string storeName;         // names the store in a conflict's message
        std::size_t chunkLines = 2000;
        std::size_t chunkBytes = 8u << 20;  // request bodies held before a flush
    };

    // What became of one line, heard at its chunk's flush.
    enum class Fate : std::uint8_t {
        Added,     // a new job
        Resumed,   // the store held it already from an earlier run, same request
        Rejected,  // a repeat within the file, or the store holds it with another request
    };
    struct Queued {
        std::size_t index = 0;  // its place in the chunk (0-based, in add order)
        std::size_t line = 0;
        store::JobId id = 0;
        Fate fate = Fate::Added;
    };
    using Listener = std::function<void(const Queued&)>;

    BatchStreamQueue(store::JobStore& store, Options options, Listener listener = {});

    // Queues `line` with the next flush (when the chunk is full, now).
    // Throws store::StoreError from a flush.
    void add(const BatchLine& line);
    // Lines added since the last flush.
    std::size_t pending() const noexcept { return m_chunk.size(); }
    bool full() const noexcept;
    // Writes the chunk in one transaction and tells the listener each line's
    // fate in order. Throws store::StoreError (the chunk is then dropped and
    // not queued; earlier chunks are).
    void flush();

    const BatchIds& ids() const noexcept { return m_ids; }
    std::size_t resumed() const noexcept { return m_resumed; }
    // Lines rejected by the store (repeats, conflicts), in flush order.
    std::vector<RejectedLine>& rejects() noexcept { return m_rejects; }

private:
    store::JobStore& m_store;
    Options m_options;
    Listener m_listener;
    std::vector<store::NewJob> m_chunk;
    std::vector<std::size_t> m_lines;  // input line of each chunk entry
    std::size_t m_chunkBytes = 0;
    BatchIds m_ids;
    std::size_t m_resumed = 0;
    std::vector<RejectedLine> m_rejects;
};

// A batch file read and queued in one pass (the console's Run batch file):
// `accept` is asked about each well-formed line, as readBatchInput asks it.
struct QueuedBatch {
    BatchIds ids;                       // the batch's jobs, with the line of each
    std::vector<RejectedLine> rejects;  // by line: unreadable, refused, repeated, conflicting
    std::size_t resumed = 0;            // lines the store already held, same request (not queued twice)
};
// Throws store::StoreError: the chunks before the failing one stay queued,
// and queueing the same file again adds the rest.
QueuedBatch queueBatchFile(store::JobStore& store, std::istream& in,
                           const std::function<std::string(const BatchLine&)>& accept,
                           BatchStreamQueue::Options options, BatchStreamQueue::Listener listener = {});

}  // namespace sluice
