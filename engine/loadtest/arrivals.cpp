#include "loadtest/arrivals.h"

#include <algorithm>
#include <cmath>

namespace sluice::loadtest {

namespace {

double toSeconds(Duration d)
{
    return std::chrono::duration<double>(d).count();
}

Duration fromSeconds(double s)
{
    return Duration(static_cast<std::int64_t>(std::llround(s * 1e9)));
}

}  // namespace

ArrivalGenerator::ArrivalGenerator(const ArrivalSpec& spec, Duration duration, std::uint64_t seed)
    : m_duration(toSeconds(duration)), m_poisson(spec.poisson), m_rng(seed)
{
    const double d = m_duration;
    switch (spec.process) {
    case ArrivalProcess::Constant:
    case ArrivalProcess::Poisson: addSegment(0, d, spec.rate, spec.rate); break;
    case ArrivalProcess::Ramp: {
        const double ramp = spec.rampTime ? toSeconds(*spec.rampTime) : d;
        const double end = std::min(ramp, d);
        // The rate reached at the cut-off, when the duration ends mid-ramp.
        const double reached = ramp > 0 ? spec.fromRate + (spec.toRate - spec.fromRate) * end / ramp : spec.toRate;
        addSegment(0, end, spec.fromRate, reached);
        addSegment(end, d, spec.toRate, spec.toRate);
        break;
    }
    case ArrivalProcess::Step:
        for (std::size_t i = 0; i < spec.steps.size(); ++i) {
            const double from = std::min(toSeconds(spec.steps[i].at), d);
            const double to = i + 1 < spec.steps.size() ? std::min(toSeconds(spec.steps[i + 1].at), d) : d;
            addSegment(from, to, spec.steps[i].rate, spec.steps[i].rate);
        }
        break;
    case ArrivalProcess::Spike: {
        double t = 0;
        for (const Spike& s : spec.spikes) {
            const double at = std::min(toSeconds(s.at), d);
            if (s.length <= Duration::zero()) {
                if (at < d && s.count > 0) {
                    m_bursts.push_back(Burst{at, s.count});
                }
                continue;
            }
            const double end = std::min(at + toSeconds(s.length), d);
            addSegment(t, at, spec.rate, spec.rate);
            addSegment(at, end, s.rate, s.rate);
            t = std::max(t, end);
        }
        addSegment(t, d, spec.rate, spec.rate);
        break;
    }
    }
    if (!m_bursts.empty()) {
        m_burstLeft = m_bursts.front().count;
    }
    m_target = m_poisson ? m_exp(m_rng) : 0.0;
}

void ArrivalGenerator::addSegment(double start, double end, double rateStart, double rateEnd)
{
    if (end <= start) {
        return;
    }
    Segment s;
    s.start = start;
    s.length = end - start;
    s.rate = rateStart;
    s.slope = (rateEnd - rateStart) / s.length;
    s.massBefore = m_segments.empty() ? 0.0 : m_segments.back().massBefore + m_segments.back().mass();
    m_segments.push_back(s);
}

double ArrivalGenerator::expectedBefore(Duration t) const
{
    const double x = toSeconds(t);
    double total = 0;
    for (const Segment& s : m_segments) {
        const double tau = std::clamp(x - s.start, 0.0, s.length);
        total += s.rate * tau + s.slope * tau * tau / 2;
    }
    for (const Burst& b : m_bursts) {
        total += b.at < x ? static_cast<double>(b.count) : 0.0;
    }
    return total;
}

std::optional<double> ArrivalGenerator::nextContinuous()
{
    while (m_segment < m_segments.size()) {
        const Segment& s = m_segments[m_segment];
        const double x = m_target - s.massBefore;
        // Half-open: a target at a segment's end belongs to the next one, so
        // a segment with no mass (rate zero) never holds an arrival.
        if (x >= s.mass()) {
            ++m_segment;
            continue;
        }
        // Solve rate·τ + slope·τ²/2 = x in the form that stays exact when the
        // slope is zero or tiny.
        const double root = std::sqrt(std::max(0.0, s.rate * s.rate + 2 * s.slope * x));
        const double denom = s.rate + root;
        const double tau = denom > 0 ? std::min(s.length, 2 * x / denom) : 0.0;
        m_target += m_poisson ? m_exp(m_rng) : 1.0;
        return s.start + tau;
    }
    return std::nullopt;
}

std::optional<Duration> ArrivalGenerator::next()
{
    if (!m_pending && !m_continuousDone) {
        m_pending = nextContinuous();
        m_continuousDone = !m_pending;
    }
    const bool burstLeft = m_burst < m_bursts.size();
    if (burstLeft && (!m_pending || m_bursts[m_burst].at <= *m_pending)) {
        const double at = m_bursts[m_burst].at;
        if (--m_burstLeft <= 0 && ++m_burst < m_bursts.size()) {
            m_burstLeft = m_bursts[m_burst].count;
        }
        return fromSeconds(at);
    }
    if (!m_pending || *m_pending >= m_duration) {
        return std::nullopt;
    }
    const double at = *m_pending;
    m_pending.reset();
    return fromSeconds(at);
}

WorkloadSchedule::WorkloadSchedule(const Workload& workload) : m_workload(workload)
{
    if (!workload.replay || workload.replay->timing == ReplayTiming::Arrival) {
        m_generator.emplace(workload.arrival, workload.duration, workload.seed);
    }
}

std::optional<Duration> WorkloadSchedule::next()
{
    const Replay* rp = m_workload.replay ? &*m_workload.replay : nullptr;
    // A recorded replay never loops: its times run out with its file.
    if (rp != nullptr && (!rp->loop || !m_generator) && m_count >= rp->entries.size()) {
        return std::nullopt;
    }
    std::optional<Duration> at;
    if (m_generator) {
        at = m_generator->next();
    } else {
        const Duration recorded = rp->entries[m_count].at.value_or(Duration::zero());
        at = Duration(static_cast<std::int64_t>(static_cast<double>(recorded.count()) / rp->speed));
        if (*at >= m_workload.duration) {
            at.reset();
        }
    }
    if (at) {
        ++m_count;
    }
    return at;
}

std::vector<Duration> arrivalSchedule(const ArrivalSpec& spec, Duration duration, std::uint64_t seed)
{
    ArrivalGenerator gen(spec, duration, seed);
    std::vector<Duration> out;
    while (auto t = gen.next()) {
        out.push_back(*t);
    }
    return out;
}

}  // namespace sluice::loadtest
