#include "mock/latency_knee.h"

#include <cmath>

namespace sluice::mock {

void LatencyKnee::purge(TimePoint now)
{
    m_ends.erase(m_ends.begin(), m_ends.upper_bound(now));
}

Duration LatencyKnee::admit(TimePoint now, Duration planned, const LatencyModel::Knee& knee)
{
    if (knee.inFlight <= 0) {
        return Duration::zero();
    }
    const std::lock_guard lock(m_mutex);
    purge(now);
    const auto inFlight = static_cast<std::int64_t>(m_ends.size()) + 1;
    const std::int64_t extra = std::max<std::int64_t>(0, inFlight - knee.inFlight);
    const Duration added(std::llround(static_cast<double>(extra) * knee.perExtraMs * 1e6));
    m_ends.insert(now + planned + added);
    return added;
}

std::size_t LatencyKnee::inFlight(TimePoint now)
{
    const std::lock_guard lock(m_mutex);
    purge(now);
    return m_ends.size();
}

}  // namespace sluice::mock
