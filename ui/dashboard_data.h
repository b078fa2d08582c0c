// DashboardData: what the dashboard draws, computed from the metrics
// recorder's series (one bucket width per time range) and a HostStatus
// (the limit lines): rates per minute over a sliding window, failures by
// class, latency percentiles from merged histograms, queue depth and in
// flight, spend per minute and cumulative. Plain values, no widgets, so the
// arithmetic is tested without a window.
//
// Thread-safety: pure functions.
#pragma once

#include "host/engine_host.h"
#include "metrics/metrics_recorder.h"

#include <array>
#include <optional>
#include <vector>

namespace sluice::ui {

struct TimeRange {
    const char* label;  // "5 min"
    Duration span;
    Duration width;     // one of the recorder's resolutions
    int window;         // buckets a rate is averaged over
    std::chrono::milliseconds refresh;
};

// 5 min … 24 h, each backed by the recorder's finest resolution that holds
// it (1 s for 10 min, 10 s for 2 h, 1 min for 48 h).
const std::array<TimeRange, 5>& timeRanges();

struct Point {
    WallTime at{};
    double value = 0;
};
using Line = std::vector<Point>;

enum class FailureGroup : std::uint8_t { RateLimited, Quota, Server, Other };
inline constexpr int kFailureGroupCount = 4;

struct DashboardLimits {
    std::optional<double> requestsPerMinute;
    std::optional<double> tokensPerMinute;
    std::optional<double> inFlight;
    std::optional<double> spendPerDayUsd;
    std::optional<double> spentTodayUsd;  // what the day's budget has counted
};

struct DashboardData {
    Line sent;                 // requests/min
    Line completed;
    Line tokens;               // reported input + output tokens/min
    Line reserved;             // what those requests reserved, tokens/min
    std::array<Line, kFailureGroupCount> failures;  // per minute
    Line p50;                  // seconds
    Line p95;
    Line queued;
    Line inFlight;
    Line spendPerMinute;       // USD
    Line spendCumulative;      // USD since the start of the range
    DashboardLimits limits;
    // Over the whole range.
    std::array<std::uint64_t, kFailureGroupCount> failuresInRange{};
    std::uint64_t sentInRange = 0;
};

FailureGroup failureGroupOf(FailureClass cls) noexcept;

// Per-minute rates over the window the dashboard's newest point averages
// (the last `range.window` complete buckets), so a table beside the charts
// says the same figure they do.
struct RecentRates {
    double requests = 0;  // sent
    double inputTokens = 0;
    double outputTokens = 0;
};
std::optional<RecentRates> recentRates(const std::vector<metrics::SeriesPoint>& points, const TimeRange& range);

// `points` are consecutive buckets of `range.width`, oldest first; the last,
// still filling, is left out of rates. `toWall` maps bucket times onto the
// calendar.
DashboardData computeDashboard(const std::vector<metrics::SeriesPoint>& points, const TimeRange& range,
                               const Clock& clock);

// Limit lines for the whole engine: what every usable key can carry
// together (disabled and quarantined keys carry nothing).
DashboardLimits limitsOf(const host::HostStatus& status);

}  // namespace sluice::ui
