#include "mock/rate_bucket.h"

#include <algorithm>
#include <limits>

namespace sluice::mock {

namespace {

__extension__ typedef __int128 Int128;

Int128 ceilDiv(Int128 a, Int128 b)
{
    return a <= 0 ? 0 : (a + b - 1) / b;
}

Int128 floorDiv(Int128 a, Int128 b)
{
    const Int128 q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

Duration toDuration(Int128 ns)
{
    constexpr Int128 kMax = std::numeric_limits<std::int64_t>::max();
    return Duration(static_cast<std::int64_t>(std::min(ns, kMax)));
}

}  // namespace

RateBucket::RateBucket(std::int64_t limit, Duration period, std::int64_t capacity, TimePoint now)
    : m_limit(std::max<std::int64_t>(limit, 1)),
      m_periodNs(std::max<std::int64_t>(period.count(), 1)),
      m_capacity(std::max<std::int64_t>(capacity, 1)),
      m_level(Int128(m_capacity) * m_periodNs),
      m_at(now)
{
}

void RateBucket::reconfigure(std::int64_t limit, Duration period, std::int64_t capacity, TimePoint now)
{
    settle(now);
    const Int128 used = Int128(m_capacity) * m_periodNs - m_level;  // in old units
    const Int128 usedUnits = used / m_periodNs;
    m_limit = std::max<std::int64_t>(limit, 1);
    m_periodNs = std::max<std::int64_t>(period.count(), 1);
    m_capacity = std::max<std::int64_t>(capacity, 1);
    m_level = Int128(m_capacity) * m_periodNs - usedUnits * m_periodNs;
}

Int128 RateBucket::levelAt(TimePoint now) const
{
    const Int128 full = Int128(m_capacity) * m_periodNs;
    if (now <= m_at || m_level >= full) {
        return m_level;
    }
    const Int128 dt = (now - m_at).count();
    // Refill needed to be full; beyond it the product could only overflow.
    const Int128 missing = full - m_level;
    if (dt >= ceilDiv(missing, m_limit)) {
        return full;
    }
    return m_level + dt * m_limit;
}

void RateBucket::settle(TimePoint now)
{
    m_level = levelAt(now);
    m_at = std::max(m_at, now);
}

Duration RateBucket::waitFor(std::int64_t cost, TimePoint now) const
{
    const std::int64_t need = std::clamp<std::int64_t>(cost, 1, m_capacity);
    const Int128 missing = Int128(need) * m_periodNs - levelAt(now);
    return toDuration(ceilDiv(missing, m_limit));
}

void RateBucket::take(std::int64_t cost, TimePoint now)
{
    settle(now);
    m_level -= Int128(cost) * m_periodNs;
}

void RateBucket::give(std::int64_t amount, TimePoint now)
{
    settle(now);
    m_level = std::min(m_level + Int128(amount) * m_periodNs, Int128(m_capacity) * m_periodNs);
}

std::int64_t RateBucket::available(TimePoint now) const
{
    return static_cast<std::int64_t>(floorDiv(levelAt(now), m_periodNs));
}

Duration RateBucket::untilFull(TimePoint now) const
{
    const Int128 missing = Int128(m_capacity) * m_periodNs - levelAt(now);
    return toDuration(ceilDiv(missing, m_limit));
}

}  // namespace sluice::mock
