// The figures a what-if replay compares: for the recorded run and for the
// simulated one, throughput, waits, 429s, deadline misses and spend, and a
// per-minute series of each for charts. A figure that the source did not
// record (waits, from rollups) is empty, never zero.
//
// Thread-safety: plain values.
#pragma once

#include "core/clock.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::simulate {

struct MinuteFigures {
    std::int64_t completed = 0;
    std::int64_t rateLimited = 0;  // 429s answered by the provider
    std::int64_t spendMicroUsd = 0;
};

struct RunFigures {
    std::int64_t requests = 0;      // jobs that arrived
    std::int64_t completed = 0;
    std::int64_t failed = 0;        // dead-lettered or refused
    std::int64_t rateLimited = 0;   // 429s (attempts)
    std::int64_t serverErrors = 0;  // 5xx answers (attempts), overloaded included
    std::int64_t timeouts = 0;      // attempts with no answer in time
    // Of the simulated 429s, those the provider-wide limit answered (its
    // limits over every key and model together); 0 for a recorded run.
    std::int64_t providerLimited = 0;
    std::int64_t attempts = 0;      // HTTP requests sent
    std::optional<std::int64_t> missedDeadlines;
    std::optional<Duration> waitP50;  // arrival → first send
    std::optional<Duration> waitP95;
    std::optional<Duration> latencyP50;  // send → answer, completed attempts
    std::optional<Duration> latencyP95;
    std::int64_t spendMicroUsd = 0;
    std::int64_t inputTokens = 0;
    std::int64_t outputTokens = 0;
    Duration span{};  // first arrival → last completion (the window, recorded)
    std::vector<MinuteFigures> minutes;  // from the window's start

    // Completed requests per minute over the span.
    double throughputPerMinute() const noexcept
    {
        const double m = std::chrono::duration<double, std::ratio<60>>(span).count();
        return m > 0 ? static_cast<double>(completed) / m : 0.0;
    }
};

// What a replay hands back: the two runs side by side, and how long it took.
struct Comparison {
    std::string source;       // what was replayed
    WallTime windowStart{};
    Duration window{};
    RunFigures recorded;
    RunFigures simulated;
    Duration simulatedTime{};  // virtual time the replay covered
    Duration wallTime{};       // real time it took
    bool cancelled = false;
};

// The q-quantile (0 < q ≤ 1) of `values` by nearest rank; empty when none.
// Sorts its argument.
std::optional<Duration> quantileOf(std::vector<Duration>& values, double q);

}  // namespace sluice::simulate
