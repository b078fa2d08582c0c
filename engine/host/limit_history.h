// LimitHistory: what the whole engine could carry (the dashboard's limit
// lines: requests and tokens per minute, in flight, spend per day), as it was
// at each moment, so a chart draws each limit as it stood then rather than
// today's value across the whole past. EngineHost samples it about once a
// second (with the metrics gauges); a sample equal to the last one adds
// nothing, so the history holds changes only, bounded.
//
// Thread-safety: every member from any thread (one short lock).
#pragma once

#include "core/clock.h"
#include "dispatch/dispatcher.h"

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

namespace sluice::host {

struct CapacityLines {
    std::optional<std::int64_t> requestsPerMinute;
    std::optional<std::int64_t> tokensPerMinute;
    std::optional<std::int64_t> inFlight;
    std::optional<std::int64_t> spendPerDayMicroUsd;

    bool operator==(const CapacityLines&) const = default;
};

// What every usable key can carry together (disabled and quarantined keys
// carry nothing).
CapacityLines capacityLinesOf(const std::vector<KeyStatus>& keys, const std::vector<ScopeState>& scopes);

struct CapacityChange {
    TimePoint at{};
    CapacityLines lines;
};

class LimitHistory {
public:
    explicit LimitHistory(std::size_t maxChanges = 4096) : m_max(maxChanges) {}

    void record(TimePoint at, const CapacityLines& lines);
    // The changes in [from, to], preceded by the one in force at `from`
    // (when there is one), oldest first.
    std::vector<CapacityChange> between(TimePoint from, TimePoint to) const;

private:
    mutable std::mutex m_mutex;
    std::deque<CapacityChange> m_changes;
    std::size_t m_max;
};

}  // namespace sluice::host
