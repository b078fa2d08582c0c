// ArrivalGenerator: the times, from the start of a run, at which requests
// (or pipelines) arrive, for one arrival process. Deterministic: the same
// spec, duration and seed give the same schedule, and it is computed, not
// waited for, so tests check it with no clock at all.
//
// Every process is an intensity λ(t) that is linear on each of a few
// segments. Evenly spaced arrivals fall where the expected count Λ(t) =
// ∫λ reaches 0, 1, 2, …, so a window holds Λ's growth over it, give or take
// one; Poisson arrivals fall where Λ reaches the running sum of unit
// exponential draws (time rescaling), so counts are Poisson with mean Λ.
//
// Thread-safety: none; one generator per run.
#pragma once

#include "loadtest/workload.h"

#include <optional>
#include <random>
#include <vector>

namespace sluice::loadtest {

class ArrivalGenerator {
public:
    ArrivalGenerator(const ArrivalSpec& spec, Duration duration, std::uint64_t seed);

    // The next arrival's offset from the start, in order; nullopt when the
    // duration is over.
    std::optional<Duration> next();

    // Λ over [0, t): the expected number of arrivals before t.
    double expectedBefore(Duration t) const;

private:
    struct Segment {
        double start = 0;   // seconds
        double length = 0;  // seconds
        double rate = 0;    // λ at the start
        double slope = 0;   // dλ/dt
        double massBefore = 0;
        double mass() const { return rate * length + slope * length * length / 2; }
    };
    struct Burst {
        double at = 0;
        std::int64_t count = 0;
    };

    void addSegment(double start, double end, double rateStart, double rateEnd);
    std::optional<double> nextContinuous();

    double m_duration = 0;
    bool m_poisson = false;
    std::vector<Segment> m_segments;
    std::vector<Burst> m_bursts;
    std::size_t m_burst = 0;
    std::int64_t m_burstLeft = 0;
    std::size_t m_segment = 0;
    double m_target = 0;  // the next value of Λ to place an arrival at
    std::optional<double> m_pending;  // the next continuous arrival, already computed
    bool m_continuousDone = false;
    std::mt19937_64 m_rng;
    std::exponential_distribution<double> m_exp{1.0};
};

// The arrivals of a whole workload, in order: its arrival process, or a
// replay's recorded times divided by its speed, up to the duration. A replay
// timed by an arrival process ends with its file unless it loops. Keeps a
// reference to `workload`, which must outlive it.
class WorkloadSchedule {
public:
    explicit WorkloadSchedule(const Workload& workload);
    std::optional<Duration> next();

private:
    const Workload& m_workload;
    std::optional<ArrivalGenerator> m_generator;
    std::uint64_t m_count = 0;
};

// Every arrival offset of a run, for estimates and tests.
std::vector<Duration> arrivalSchedule(const ArrivalSpec& spec, Duration duration, std::uint64_t seed);

}  // namespace sluice::loadtest
