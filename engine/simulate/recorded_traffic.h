// RecordedTraffic: a window of what a workspace really sent, as the what-if
// replay reads it: one arrival per request (when it came, for which
// provider and model, its tokens) and the figures of what really happened
// to it. Three sources: a workspace database's job store (one request per
// job, with its own timing), its per-minute rollups (each minute's
// requests spread evenly over the minute, with the minute's mean tokens),
// or a JSONL file of recorded requests, one object a line:
//   {"at_ms": 1767225600000, "model": "gpt-4o-mini", "input_tokens": 800,
//    "output_tokens": 120, "provider": "openai", "max_tokens": 256,
//    "deadline_s": 60, "wait_ms": 12, "status": 200, "latency_ms": 900}
// where only at_ms (or "at" as RFC 3339), model, input_tokens and
// output_tokens are required.
//
// Thread-safety: plain values; the readers are pure apart from reading.
#pragma once

#include "core/clock.h"
#include "simulate/figures.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sluice::simulate {

struct RecordedRequest {
    Duration offset{};  // from the window's start
    std::string provider;  // empty: routed by model
    std::string model;
    std::int64_t inputTokens = 0;
    std::int64_t outputTokens = 0;
    std::int64_t maxTokens = 0;  // what it reserved for output; 0: its output tokens
    std::optional<Duration> deadline;  // from its arrival
};

struct RecordedTraffic {
    WallTime start{};   // the window's start
    Duration length{};  // the window's length
    std::vector<RecordedRequest> requests;  // by offset
    RunFigures recorded;  // what really happened; unknown figures stay empty
    // Mean latency of answered requests, when recorded: the simulated
    // provider is calibrated to it.
    std::optional<Duration> meanLatency;
    // Rollups record spend; a JSONL file does not, and the replay prices
    // its tokens instead.
    bool spendRecorded = true;
    std::string source;  // "workspace.db, 2026-01-01T00:00Z + 1h", for reports
};

class RecordedTrafficError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The last `window` of the rollups in a workspace database, ending at its
// last recorded minute. Throws RecordedTrafficError when the file is not a
// workspace database or holds no rollups.
RecordedTraffic readRollupTraffic(const std::filesystem::path& database, Duration window);

// The last `window` of a workspace database's job store (the durable
// queue a batch or the console fills): each job arrives when it was
// enqueued, with the tokens its result reports, and what happened to it
// (its wait until first sent, its 429s, its deadline, its latency) is read
// from its timeline. Spend is not stored per job: it is priced. Empty
// traffic when the store holds no jobs; throws RecordedTrafficError when
// the file is not a workspace database.
RecordedTraffic readJobStoreTraffic(const std::filesystem::path& database, Duration window);

// A workspace database's record: its jobs when it has any (per request,
// with waits), else its per-minute rollups.
RecordedTraffic readWorkspaceTraffic(const std::filesystem::path& database, Duration window);

// The last `window` of a recorded-requests JSONL file (all of it when the
// file spans less). Throws RecordedTrafficError naming file:line and field.
RecordedTraffic readRecordedJsonl(const std::filesystem::path& file, Duration window);

}  // namespace sluice::simulate
