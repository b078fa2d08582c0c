#include "dashboard_data.h"

#include "host/capacity.h"
#include "host/limit_history.h"

#include <map>

#include <set>

namespace sluice::ui {

using namespace std::chrono_literals;

const std::array<TimeRange, 5>& timeRanges()
{
    static const std::array<TimeRange, 5> ranges = {{
        {"5 min", 5min, 1s, 10, 500ms},
        {"15 min", 15min, 10s, 3, 2000ms},
        {"1 hour", 1h, 10s, 6, 5000ms},
        {"6 hours", 6h, 1min, 2, 15000ms},
        {"24 hours", 24h, 1min, 5, 30000ms},
    }};
    return ranges;
}

FailureGroup failureGroupOf(FailureClass cls) noexcept
{
    switch (cls) {
    case FailureClass::RateLimited: return FailureGroup::RateLimited;
    case FailureClass::QuotaExhausted: return FailureGroup::Quota;
    case FailureClass::Overloaded:
    case FailureClass::ServerError:
    case FailureClass::Timeout:
    case FailureClass::ConnectionError:
    case FailureClass::StreamCut:
    case FailureClass::StreamError: return FailureGroup::Server;
    default: return FailureGroup::Other;
    }
}

DashboardData computeDashboard(const std::vector<metrics::SeriesPoint>& points, const TimeRange& range,
                               const Clock& clock)
{
    DashboardData d;
    if (points.size() < 2) {
        return d;
    }
    // The newest bucket is still filling: a rate over it would dip.
    const std::size_t complete = points.size() - 1;
    const double widthSeconds = std::chrono::duration<double>(range.width).count();
    double cumulative = 0;
    for (std::size_t i = 0; i < complete; ++i) {
        const metrics::SeriesPoint& p = points[i];
        const WallTime at = clock.toWall(p.start + range.width);
        const std::size_t first = i + 1 >= static_cast<std::size_t>(range.window) ? i + 1 - static_cast<std::size_t>(range.window) : 0;
        const double seconds = widthSeconds * static_cast<double>(i - first + 1);
        const double perMinute = 60.0 / seconds;
        metrics::Totals window;
        for (std::size_t j = first; j <= i; ++j) {
            window.merge(points[j].tally);
        }
        d.sent.push_back({at, static_cast<double>(window.sent) * perMinute});
        d.completed.push_back({at, static_cast<double>(window.completed) * perMinute});
        d.tokens.push_back({at, static_cast<double>(window.inputTokens + window.outputTokens) * perMinute});
        d.reserved.push_back(
            {at, static_cast<double>(window.estimatedInputTokens + window.estimatedOutputTokens) * perMinute});
        std::array<std::uint64_t, kFailureGroupCount> groups{};
        for (int c = 1; c < kFailureClassCount; ++c) {
            const auto cls = static_cast<FailureClass>(c);
            groups[static_cast<std::size_t>(failureGroupOf(cls))] += window.failuresOf(cls);
            d.failuresInRange[static_cast<std::size_t>(failureGroupOf(cls))] += p.tally.failuresOf(cls);
        }
        for (int g = 0; g < kFailureGroupCount; ++g) {
            d.failures[static_cast<std::size_t>(g)].push_back(
                {at, static_cast<double>(groups[static_cast<std::size_t>(g)]) * perMinute});
        }
        d.sentInRange += p.tally.sent;
        if (const auto q = window.latency.quantile(0.5)) {
            d.p50.push_back({at, std::chrono::duration<double>(*q).count()});
        }
        if (const auto q = window.latency.quantile(0.95)) {
            d.p95.push_back({at, std::chrono::duration<double>(*q).count()});
        }
        if (p.gauges.sampled) {
            d.queued.push_back({at, static_cast<double>(p.gauges.queued)});
            d.inFlight.push_back({at, static_cast<double>(p.gauges.inFlight)});
        }
        d.spendPerMinute.push_back({at, static_cast<double>(window.spendMicroUsd) / 1e6 * perMinute});
        cumulative += static_cast<double>(p.tally.spendMicroUsd) / 1e6;
        d.spendCumulative.push_back({at, cumulative});
    }
    return d;
}

std::optional<RecentRates> recentRates(const std::vector<metrics::SeriesPoint>& points, const TimeRange& range)
{
    if (points.size() < 2) {
        return std::nullopt;
    }
    // As computeDashboard's newest point: the still-filling bucket is left out.
    const std::size_t complete = points.size() - 1;
    const std::size_t window = std::min(complete, static_cast<std::size_t>(range.window));
    metrics::Totals sum;
    for (std::size_t j = complete - window; j < complete; ++j) {
        sum.merge(points[j].tally);
    }
    const double perMinute = 60.0 / (std::chrono::duration<double>(range.width).count() * static_cast<double>(window));
    RecentRates r;
    r.requests = static_cast<double>(sum.sent) * perMinute;
    r.inputTokens = static_cast<double>(sum.inputTokens) * perMinute;
    r.outputTokens = static_cast<double>(sum.outputTokens) * perMinute;
    return r;
}

DashboardLimits limitsOf(const host::HostStatus& status)
{
    const host::CapacityLines c = host::capacityLinesOf(status.dispatch.keys, status.scopes);
    const auto toDouble = [](std::optional<std::int64_t> v) {
        return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
    };
    DashboardLimits l;
    l.requestsPerMinute = toDouble(c.requestsPerMinute);
    l.tokensPerMinute = toDouble(c.tokensPerMinute);
    l.inFlight = toDouble(c.inFlight);
    if (c.spendPerDayMicroUsd) {
        l.spendPerDayUsd = static_cast<double>(*c.spendPerDayMicroUsd) / 1e6;
    }
    std::map<ScopeId, const ScopeState*> byId;
    for (const ScopeState& s : status.scopes) {
        byId[s.id] = &s;
    }
    // The day's spend as the global budget has counted it.
    if (const auto root = byId.find(Admission::root()); root != byId.end()) {
        for (const DimensionState& dim : root->second->dimensions) {
            if (dim.spec.measure == Measure::SpendMicroUsd) {
                l.spentTodayUsd = static_cast<double>(dim.used) / 1e6;
            }
        }
    }
    return l;
}

}  // namespace sluice::ui
