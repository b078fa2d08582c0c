#include "admission/limits.h"

#include <array>

namespace sluice {

namespace {
constexpr std::array<std::string_view, kMeasureCount> kMeasureNames = {
    "concurrency", "requests", "input_tokens", "output_tokens", "total_tokens", "spend_micro_usd"};
}

std::string_view measureName(Measure m) noexcept
{
    return kMeasureNames[static_cast<std::size_t>(m)];
}

std::string_view windowName(Window w) noexcept
{
    return w == Window::Rolling ? "rolling" : "fixed";
}

bool parseMeasure(std::string_view text, Measure& out) noexcept
{
    for (std::size_t i = 0; i < kMeasureNames.size(); ++i) {
        if (kMeasureNames[i] == text) {
            out = static_cast<Measure>(i);
            return true;
        }
    }
    return false;
}

std::string LimitSpec::validate() const
{
    if (limit < 0) {
        return "limit: must not be negative (got " + std::to_string(limit) + ")";
    }
    if (measure == Measure::Concurrency) {
        return {};
    }
    if (period <= Duration::zero()) {
        return "period: must be positive";
    }
    if (burst < 0) {
        return "burst: must not be negative (got " + std::to_string(burst) + ")";
    }
    if (window == Window::Fixed && burst != 0) {
        return "burst: applies to rolling windows only";
    }
    // Scaled GCRA arithmetic multiplies limit by nanosecond times in 128 bits;
    // these bounds keep every product far from overflow.
    if (limit > (std::int64_t{1} << 50) || burst > (std::int64_t{1} << 50)) {
        return "limit: too large (at most 2^50)";
    }
    if (period > std::chrono::hours(24 * 366)) {
        return "period: too long (at most 366 days)";
    }
    return {};
}

LimitSpec perMinute(Measure m, std::int64_t limit, std::int64_t burst)
{
    LimitSpec s;
    s.measure = m;
    s.limit = limit;
    s.period = std::chrono::minutes(1);
    s.burst = burst;
    return s;
}

LimitSpec perDay(Measure m, std::int64_t limit, Duration utcOffset)
{
    LimitSpec s;
    s.measure = m;
    s.limit = limit;
    s.period = std::chrono::hours(24);
    s.window = Window::Fixed;
    s.utcOffset = utcOffset;
    return s;
}

LimitSpec concurrency(std::int64_t maxInFlight)
{
    LimitSpec s;
    s.measure = Measure::Concurrency;
    s.limit = maxInFlight;
    return s;
}

}  // namespace sluice
