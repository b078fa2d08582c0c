#include "mock/acceleration.h"

#include "core/linear_ramp.h"

#include <algorithm>
#include <cmath>

namespace sluice::mock {

Duration AccelerationGate::waitFor(const Acceleration& a, double perMinute, double capacity, TimePoint now) const
{
    if (!a.enabled() || perMinute <= 0) {
        return Duration::zero();
    }
    const bool fresh = idleAt(a, now);
    const Duration elapsed = fresh ? Duration::zero() : now - m_start;
    if (elapsed >= a.ramp) {
        return Duration::zero();
    }
    const LinearRamp ramp{perMinute / 60.0, a.start, std::max(1.0, std::floor(capacity * a.start)), a.ramp};
    const double need = (fresh ? 0.0 : static_cast<double>(m_count)) + 1.0;
    if (need <= ramp.allowed(elapsed) + 1e-9) {
        return Duration::zero();
    }
    return std::max(ramp.timeFor(need) - elapsed, Duration(std::chrono::milliseconds(1)));
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
