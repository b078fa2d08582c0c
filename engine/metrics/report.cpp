#include "metrics/report.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <tuple>

namespace sluice::metrics {

namespace {

constexpr std::array<std::string_view, 5> kGroupingNames = {"key", "model", "provider", "hour", "day"};

std::int64_t floorDiv(std::int64_t a, std::int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

WallTime floorTo(WallTime t, Duration step)
{
    return WallTime(Duration(floorDiv(t.time_since_epoch().count(), step.count()) * step.count()));
}

Duration timelineStepFor(Duration span)
{
    using namespace std::chrono;
    constexpr std::array<Duration, 7> kSteps = {minutes(1), minutes(5), minutes(15), hours(1),
                                                hours(6),   hours(24),  hours(24 * 7)};
    // 239 steps of span: aligning the first point down to a step boundary
    // adds at most one, so there are at most 240 points.
    for (const Duration step : kSteps) {
        if (span <= step * 239) {
            return step;
        }
    }
    // Years: whole days.
    const Duration day = hours(24);
    return day * ((span / 239 + day) / day);
}

}  // namespace

std::string_view groupingName(ReportGrouping g) noexcept
{
    return kGroupingNames[static_cast<std::size_t>(g)];
}

bool parseGrouping(std::string_view text, ReportGrouping& out) noexcept
{
    for (std::size_t i = 0; i < kGroupingNames.size(); ++i) {
        if (kGroupingNames[i] == text) {
            out = static_cast<ReportGrouping>(i);
            return true;
        }
    }
    return false;
}

bool parseReportFormat(std::string_view text, ReportFormat& out) noexcept
{
    if (text == "csv") {
        out = ReportFormat::Csv;
    } else if (text == "json") {
        out = ReportFormat::Json;
    } else if (text == "html") {
        out = ReportFormat::Html;
    } else {
        return false;
    }
    return true;
}

Report buildReport(std::span<const RollupRow> rows, WallTime from, WallTime to, ReportGrouping by)
{
    Report report;
    report.from = from;
    report.to = to;
    report.by = by;
    report.timelineStep = timelineStepFor(std::max(Duration(std::chrono::minutes(1)), to - from));

    // Group key: (provider, key, model, period) with the unused parts empty.
    using GroupKey = std::tuple<std::string, std::string, std::string, std::int64_t>;
    std::map<GroupKey, ReportRow> groups;
    std::map<std::int64_t, Totals> timeline;
    std::set<std::string> unpricedAll;
    const Duration hour = std::chrono::hours(1);
    const Duration day = std::chrono::hours(24);
    for (const RollupRow& r : rows) {
        if (r.minute < from || r.minute >= to) {
            continue;
        }
        GroupKey gk;
        switch (by) {
        case ReportGrouping::Key: gk = {r.provider, r.key, {}, 0}; break;
        case ReportGrouping::Model: gk = {r.provider, {}, r.model, 0}; break;
        case ReportGrouping::Provider: gk = {r.provider, {}, {}, 0}; break;
        case ReportGrouping::Hour: gk = {{}, {}, {}, floorTo(r.minute, hour).time_since_epoch().count()}; break;
        case ReportGrouping::Day: gk = {{}, {}, {}, floorTo(r.minute, day).time_since_epoch().count()}; break;
        }
        ReportRow& row = groups[gk];
        row.provider = std::get<0>(gk);
        row.key = std::get<1>(gk);
        row.model = std::get<2>(gk);
        if (by == ReportGrouping::Hour || by == ReportGrouping::Day) {
            row.period = WallTime(Duration(std::get<3>(gk)));
        }
        row.totals.merge(r.tally);
        report.total.totals.merge(r.tally);
        if (r.tally.unpriced > 0) {
            const std::string name = r.provider + "/" + r.model;
            if (std::find(row.unpricedModels.begin(), row.unpricedModels.end(), name) == row.unpricedModels.end()) {
                row.unpricedModels.push_back(name);
            }
            unpricedAll.insert(name);
        }
        timeline[floorTo(r.minute, report.timelineStep).time_since_epoch().count()].merge(r.tally);
    }
    for (auto& [key, row] : groups) {
        std::sort(row.unpricedModels.begin(), row.unpricedModels.end());
        report.rows.push_back(std::move(row));
    }
    report.unpricedModels.assign(unpricedAll.begin(), unpricedAll.end());
    report.total.unpricedModels = report.unpricedModels;
    for (WallTime t = floorTo(from, report.timelineStep); t < to; t += report.timelineStep) {
        TimelinePoint p;
        p.start = t;
        if (const auto it = timeline.find(t.time_since_epoch().count()); it != timeline.end()) {
            p.totals = it->second;
        }
        report.timeline.push_back(std::move(p));
    }
    return report;
}

std::string csvField(std::string_view text)
{
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
        return std::string(text);
    }
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

std::string renderReport(const Report& report, ReportFormat format)
{
    switch (format) {
    case ReportFormat::Csv: return reportCsv(report);
    case ReportFormat::Json: return reportJson(report);
    case ReportFormat::Html: return reportHtml(report);
    }
    return {};
}

}  // namespace sluice::metrics
