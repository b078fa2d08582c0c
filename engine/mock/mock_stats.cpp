#include "mock/mock_stats.h"

#include <nlohmann/json.hpp>

namespace sluice::mock {

std::int64_t MockStats::errorCount(int status) const
{
    const auto it = errors.find(status);
    return it == errors.end() ? 0 : it->second;
}

SecondStats& StatsRecorder::at(TimePoint now)
{
    const std::int64_t second = std::chrono::duration_cast<std::chrono::seconds>(now - m_start).count();
    if (m_series.empty() || m_series.back().second < second) {
        m_series.push_back(SecondStats{second, 0, 0, 0, 0, 0});
        while (m_series.front().second <= second - kSeriesSeconds) {
            m_series.pop_front();
        }
    }
    // A late event (a response that ends after a later one started) counts in
    // the newest second rather than reopening an old one.
    return m_series.back();
}

void StatsRecorder::accepted(TimePoint now, std::int64_t inputTokens)
{
    ++m_totals.accepted;
    m_totals.inputTokens += inputTokens;
    SecondStats& s = at(now);
    ++s.accepted;
    s.inputTokens += inputTokens;
}

void StatsRecorder::rateLimited(TimePoint now, LimitKind binding)
{
    ++m_totals.rateLimited[static_cast<std::size_t>(binding)];
    ++at(now).rateLimited;
}

void StatsRecorder::tooLarge(TimePoint now)
{
    ++m_totals.tooLarge;
    ++at(now).rateLimited;
}

void StatsRecorder::quotaExhausted(TimePoint now)
{
    ++m_totals.quotaExhausted;
    ++at(now).rateLimited;
}

void StatsRecorder::error(TimePoint now, int status)
{
    ++m_totals.errors[status];
    ++at(now).errors;
}

void StatsRecorder::output(TimePoint now, std::int64_t tokens)
{
    m_totals.outputTokens += tokens;
    at(now).outputTokens += tokens;
}

MockStats StatsRecorder::snapshot(std::size_t openConnections) const
{
    MockStats s = m_totals;
    s.openConnections = openConnections;
    s.series.assign(m_series.begin(), m_series.end());
    return s;
}

std::string toJson(const MockStats& s)
{
    using StatsJson = nlohmann::ordered_json;
    StatsJson rateLimited = StatsJson::object();
    for (std::size_t i = 0; i < kLimitKinds; ++i) {
        rateLimited[std::string(limitKindName(static_cast<LimitKind>(i)))] = s.rateLimited[i];
    }
    rateLimited["tooLarge"] = s.tooLarge;
    rateLimited["quotaExhausted"] = s.quotaExhausted;
    StatsJson errors = StatsJson::object();
    for (const auto& [status, count] : s.errors) {
        errors[std::to_string(status)] = count;
    }
    StatsJson faults = StatsJson::object();
    for (std::size_t i = 1; i < kFaultCount; ++i) {
        faults[std::string(faultName(static_cast<Fault>(i)))] = s.faults[i];
    }
    StatsJson series = StatsJson::array();
    for (const auto& p : s.series) {
        series.push_back(StatsJson{{"t", p.second},
                              {"accepted", p.accepted},
                              {"rateLimited", p.rateLimited},
                              {"errors", p.errors},
                              {"inputTokens", p.inputTokens},
                              {"outputTokens", p.outputTokens}});
    }
    return StatsJson{{"requests", s.requests},
                {"accepted", s.accepted},
                {"rateLimited", std::move(rateLimited)},
                {"errors", std::move(errors)},
                {"faults", std::move(faults)},
                {"tokens", {{"input", s.inputTokens}, {"output", s.outputTokens}, {"charged", s.chargedTokens}}},
                {"openConnections", s.openConnections},
                {"series", std::move(series)}}
        .dump();
}

}  // namespace sluice::mock
