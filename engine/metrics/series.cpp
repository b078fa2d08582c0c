#include "metrics/series.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace sluice::metrics {

Series::Series(Resolution resolution)
    : m_resolution(resolution), m_newest(std::numeric_limits<std::int64_t>::min())
{
    if (m_resolution.width <= Duration::zero() || m_resolution.capacity == 0) {
        throw std::invalid_argument("metrics series: a resolution needs a positive width and capacity");
    }
}

std::int64_t Series::indexOf(TimePoint t) const noexcept
{
    const std::int64_t ns = t.time_since_epoch().count();
    const std::int64_t w = m_resolution.width.count();
    // Floor division: the epoch may be anywhere, so times may be negative.
    return ns >= 0 ? ns / w : -((-ns + w - 1) / w);
}

TimePoint Series::startOf(std::int64_t index) const noexcept
{
    return TimePoint(Duration(index * m_resolution.width.count()));
}

std::int64_t Series::firstIndex() const noexcept
{
    if (m_newest == std::numeric_limits<std::int64_t>::min()) {
        return m_newest;
    }
    return m_newest - static_cast<std::int64_t>(m_resolution.capacity) + 1;
}

void Series::dropBefore(std::int64_t first)
{
    while (!m_buckets.empty() && m_buckets.front().index < first) {
        m_buckets.pop_front();
    }
}

void Series::advanceTo(TimePoint now)
{
    const std::int64_t index = indexOf(now);
    if (index > m_newest) {
        m_newest = index;
        dropBefore(firstIndex());
    }
}

SeriesBucket* Series::at(TimePoint t)
{
    const std::int64_t index = indexOf(t);
    if (index > m_newest) {
        m_newest = index;
        dropBefore(firstIndex());
    } else if (index < firstIndex()) {
        return nullptr;
    }
    if (m_buckets.empty() || m_buckets.back().index < index) {
        m_buckets.push_back(SeriesBucket{index, {}, {}});
        return &m_buckets.back();
    }
    // A late event (an attempt counted where it was sent): rare, so a search
    // and perhaps an insertion in the middle are fine.
    const auto it = std::lower_bound(m_buckets.begin(), m_buckets.end(), index,
                                     [](const SeriesBucket& b, std::int64_t i) { return b.index < i; });
    if (it != m_buckets.end() && it->index == index) {
        return &*it;
    }
    return &*m_buckets.insert(it, SeriesBucket{index, {}, {}});
}

const SeriesBucket* Series::find(std::int64_t index) const noexcept
{
    const auto it = std::lower_bound(m_buckets.begin(), m_buckets.end(), index,
                                     [](const SeriesBucket& b, std::int64_t i) { return b.index < i; });
    return it != m_buckets.end() && it->index == index ? &*it : nullptr;
}

std::size_t Series::memoryBytes() const noexcept
{
    return sizeof(Series) + m_buckets.size() * sizeof(SeriesBucket);
}

}  // namespace sluice::metrics
