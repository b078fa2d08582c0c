// Counters of what the mock answered, in total and per second, for
// GET /mock/stats, the load-test panel and tests that check the mock saw
// exactly what they sent.
//
// Thread-safety: MockStats is a plain value; StatsRecorder has none (its
// owner serialises access).
#pragma once

#include "core/clock.h"
#include "mock/limit_table.h"
#include "mock/mock_config.h"

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace sluice::mock {

struct SecondStats {
    std::int64_t second = 0;  // since the mock started, on its clock
    std::int64_t accepted = 0;
    std::int64_t rateLimited = 0;  // every 429
    std::int64_t errors = 0;       // every other error answer
    std::int64_t inputTokens = 0;
    std::int64_t outputTokens = 0;
};

struct MockStats {
    std::int64_t requests = 0;  // calls to the provider API (/v1/...)
    std::int64_t accepted = 0;  // passed authentication, validation, quota and limits
    std::array<std::int64_t, kLimitKinds> rateLimited{};  // 429 by the binding limit (LimitKind)
    std::int64_t tooLarge = 0;                            // 429: more than the whole limit
    std::int64_t quotaExhausted = 0;                      // 429: insufficient_quota or spend cap
    std::map<int, std::int64_t> errors;                   // every other error answer, by status
    std::array<std::int64_t, kFaultCount> faults{};       // injected, by Fault
    std::int64_t inputTokens = 0;    // prompt tokens of accepted requests
    std::int64_t outputTokens = 0;   // output tokens produced
    std::int64_t chargedTokens = 0;  // tokens charged to the keys after corrections
    std::size_t openConnections = 0;
    std::vector<SecondStats> series;  // the last kSeriesSeconds seconds that saw traffic

    std::int64_t rateLimitedBy(LimitKind k) const noexcept { return rateLimited[static_cast<std::size_t>(k)]; }
    std::int64_t faultCount(Fault f) const noexcept { return faults[static_cast<std::size_t>(f)]; }
    std::int64_t errorCount(int status) const;
};

inline constexpr std::int64_t kSeriesSeconds = 300;

std::string toJson(const MockStats& stats);

class StatsRecorder {
public:
    explicit StatsRecorder(TimePoint start) : m_start(start) {}

    void request() { ++m_totals.requests; }
    void accepted(TimePoint now, std::int64_t inputTokens);
    void rateLimited(TimePoint now, LimitKind binding);
    void tooLarge(TimePoint now);
    void quotaExhausted(TimePoint now);
    void error(TimePoint now, int status);
    void fault(Fault f) { ++m_totals.faults[static_cast<std::size_t>(f)]; }
    void output(TimePoint now, std::int64_t tokens);
    void charged(std::int64_t tokens) { m_totals.chargedTokens += tokens; }

    MockStats snapshot(std::size_t openConnections) const;

private:
    SecondStats& at(TimePoint now);

    TimePoint m_start;
    MockStats m_totals;
    std::deque<SecondStats> m_series;
};

}  // namespace sluice::mock
