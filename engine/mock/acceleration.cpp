#include "mock/acceleration.h"

#include <algorithm>
#include <cmath>

namespace sluice::mock {

namespace {

double seconds(Duration d)
{
    return std::chrono::duration<double>(d).count();
}

}  // namespace

Duration AccelerationGate::waitFor(const Acceleration& a, double perMinute, double capacity, TimePoint now) const
{
    if (!a.enabled() || perMinute <= 0) {
        return Duration::zero();
    }
    const bool fresh = idleAt(a, now);
    const TimePoint start = fresh ? now : m_start;
    const double count = fresh ? 0.0 : static_cast<double>(m_count);
    const double rampS = seconds(a.ramp);
    const double tau = seconds(now - start);
    if (tau >= rampS) {
        return Duration::zero();
    }
    // Allowed since the ramp began, τ seconds in: a first burst, then the
    // integral of a rate rising linearly from start × r to r over the ramp.
    const double r = perMinute / 60.0;
    const double first = std::max(1.0, std::floor(capacity * a.start));
    const auto allowed = [&](double t) { return first + r * (a.start * t + (1.0 - a.start) * t * t / (2.0 * rampS)); };
    const double need = count + 1.0;
    if (need <= allowed(tau) + 1e-9) {
        return Duration::zero();
    }
    // Solve allowed(t) = need for t (the positive root), capped at the
    // ramp's end, when the ordinary limits take over.
    const double qa = r * (1.0 - a.start) / (2.0 * rampS);
    const double qb = r * a.start;
    const double qc = first - need;
    double t = rampS;
    if (qa > 0) {
        t = (-qb + std::sqrt(qb * qb - 4.0 * qa * qc)) / (2.0 * qa);
    } else if (qb > 0) {
        t = -qc / qb;
    }
    t = std::min(t, rampS);
    const auto wait = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(t - tau));
    return std::max(wait, Duration(std::chrono::milliseconds(1)));
}

void AccelerationGate::take(const Acceleration& a, TimePoint now)
{
    if (!a.enabled()) {
        return;
    }
    if (idleAt(a, now)) {
        m_start = now;
        m_count = 0;
    }
    ++m_count;
    m_last = now;
}

}  // namespace sluice::mock
