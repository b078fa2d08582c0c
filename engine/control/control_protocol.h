// The control protocol's values and their JSON: what a headless instance's
// control endpoint (ControlServer) answers and what the console's remote
// backend (ControlClient) reads back. The same snapshots the console takes
// from its embedded engine: dispatch stats, admission scopes with their
// limits and usage, queue counts, events, live series points, the
// configuration (names and limits, never a key or the variable holding it),
// dead letters and job timelines. docs/control.md lists the endpoints.
//
// Times cross the wire as wall-clock milliseconds: each side's monotonic
// clock is its own, so the sender maps its TimePoints onto the calendar with
// its Clock and the reader maps them back with its own.
//
// Thread-safety: pure functions over plain values.
#pragma once

#include "admission/ledger.h"
#include "config/config.h"
#include "core/clock.h"
#include "dispatch/dispatch_types.h"
#include "metrics/metrics_recorder.h"
#include "store/job_store.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::control {

struct ControlEvent {
    WallTime at{};
    std::string text;
};

// GET /v1/status
struct ControlStatus {
    std::string kind;  // "serve", "batch", "worker"
    DispatcherStats dispatch;
    std::vector<ScopeState> scopes;  // every admission scope, id order
    std::optional<store::Counts> queue;  // the durable queue, when the instance has one
    std::vector<ControlEvent> events;    // the latest, oldest first
    std::int64_t spendTodayMicroUsd = 0;
    // When the live series start (the recorder's start); unset without series.
    std::optional<TimePoint> seriesSince;
    bool deadLetters = false;  // the instance lists dead letters
    // Why they cannot be requeued here (serve: the clients had their
    // answer); empty when they can.
    std::string requeueRefusal;
    bool canDrain = false;     // POST /v1/drain closes its intake
    bool draining = false;     // it has been drained: takes in no new work
};

// GET /v1/series: consecutive buckets of one width from `since` on; the
// last may still be filling and comes again on the next call.
struct SeriesPage {
    std::vector<metrics::SeriesPoint> points;
    // Pass as `since` next time: the start of the newest (unfinished) bucket.
    std::optional<TimePoint> cursor;
};

// GET /v1/rollups: the per-minute rows a usage report is built from
// (metrics/report.h), by provider, key and model.
struct RollupPage {
    std::vector<metrics::RollupRow> rows;
    std::string source;  // where they are kept: the state file, or "memory (this run)"
};

struct JobDetail {
    std::optional<store::Job> job;
    std::vector<store::TimelineEntry> timeline;
    std::vector<store::Attempt> attempts;
    std::optional<store::Result> result;
};

// Each *FromJson throws ProtocolError naming the field that is missing or
// malformed.
class ProtocolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::int64_t wallMs(const Clock& clock, TimePoint t);
TimePoint fromWallMs(const Clock& clock, std::int64_t ms);
std::int64_t wallMs(WallTime t);
WallTime wallFromMs(std::int64_t ms);

nlohmann::json limitToJson(const LimitSpec& spec);
LimitSpec limitFromJson(const nlohmann::json& j);
nlohmann::json limitsToJson(const std::vector<LimitSpec>& specs);
std::vector<LimitSpec> limitsFromJson(const nlohmann::json& j);

nlohmann::json statusToJson(const ControlStatus& status, const Clock& clock);
ControlStatus statusFromJson(const nlohmann::json& j, const Clock& clock);

nlohmann::json seriesToJson(const SeriesPage& page, const Clock& clock);
SeriesPage seriesFromJson(const nlohmann::json& j, const Clock& clock);

nlohmann::json rollupsToJson(const RollupPage& page);
RollupPage rollupsFromJson(const nlohmann::json& j);

// Names and limits only: no key value, no environment variable name.
nlohmann::json configToJson(const Config& config);
Config configFromJson(const nlohmann::json& j);

nlohmann::json deadLetterFilterToJson(const store::DeadLetterFilter& filter);
store::DeadLetterFilter deadLetterFilterFromJson(const nlohmann::json& j);
nlohmann::json deadLettersToJson(const std::vector<store::DeadLetter>& items);
std::vector<store::DeadLetter> deadLettersFromJson(const nlohmann::json& j);
nlohmann::json jobDetailToJson(const JobDetail& detail);
JobDetail jobDetailFromJson(const nlohmann::json& j);

}  // namespace sluice::control
