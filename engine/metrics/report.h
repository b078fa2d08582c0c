// Usage reports from the per-minute rollups: requests, failures and the 429
// rate by triage class, tokens (reported and estimated), latency and time
// to first token percentiles, and spend, grouped by key, model, provider,
// hour or day, written as CSV (RFC 4180), JSON or one self-contained HTML
// file with inline SVG charts that opens offline. `sluice-cli report` and
// the desktop app's export both use these.
//
// Spend is what was priced when the requests ran. Responses whose spend is
// unknown (a model without a price, or no usage reported) are counted
// separately and their models listed, never counted as free.
//
// Thread-safety: pure functions over plain values.
#pragma once

#include "core/clock.h"
#include "metrics/rollup.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::metrics {

enum class ReportGrouping : std::uint8_t { Key, Model, Provider, Hour, Day };
std::string_view groupingName(ReportGrouping g) noexcept;  // "key", "model", ...
bool parseGrouping(std::string_view text, ReportGrouping& out) noexcept;

struct ReportRow {
    // Set as the grouping needs: key → provider and key; model → provider
    // and model; provider → provider; hour and day → period.
    std::string provider;
    std::string key;
    std::string model;
    std::optional<WallTime> period;
    Totals totals;
    std::vector<std::string> unpricedModels;  // "provider/model" with responses of unknown spend
};

struct TimelinePoint {
    WallTime start{};
    Totals totals;
};

struct Report {
    std::string source;  // where the rows came from (the state file)
    WallTime generatedAt{};
    WallTime from{};  // inclusive
    WallTime to{};    // exclusive
    ReportGrouping by = ReportGrouping::Model;
    std::vector<ReportRow> rows;
    ReportRow total;
    std::vector<std::string> unpricedModels;
    // Evenly spaced points over [from, to) for the charts: the smallest of
    // 1 min, 5 min, 15 min, 1 h, 6 h, 1 day, 7 days (or whole days beyond)
    // giving at most 240.
    Duration timelineStep{};
    std::vector<TimelinePoint> timeline;
};

// Rows outside [from, to) are ignored. Hours and days are UTC.
Report buildReport(std::span<const RollupRow> rows, WallTime from, WallTime to, ReportGrouping by);

enum class ReportFormat : std::uint8_t { Csv, Json, Html };
bool parseReportFormat(std::string_view text, ReportFormat& out) noexcept;

std::string reportCsv(const Report& report);
std::string reportJson(const Report& report);
std::string reportHtml(const Report& report);
std::string renderReport(const Report& report, ReportFormat format);

// RFC 4180 field: quoted when it holds a comma, a quote, CR or LF, with
// quotes doubled.
std::string csvField(std::string_view text);

}  // namespace sluice::metrics
