#include "mock/fixed_window.h"

#include <algorithm>

namespace sluice::mock {

FixedWindow::FixedWindow(std::int64_t limit, Duration window, std::int64_t capacity, TimePoint now)
    : m_limit(std::max<std::int64_t>(limit, 1)),
      m_window(std::max(window, Duration(1))),
      m_capacity(std::max<std::int64_t>(capacity, 1)),
      m_origin(now),
      m_countedFrom(now)
{
}

void FixedWindow::reconfigure(std::int64_t limit, Duration window, std::int64_t capacity, TimePoint now)
{
    // Restart the phase at the current window's start so its count stays
    // where it belongs under the new length.
    const TimePoint start = windowStartAt(now);
    m_counted = countedAt(now);
    m_limit = std::max<std::int64_t>(limit, 1);
    m_window = std::max(window, Duration(1));
    m_capacity = std::max<std::int64_t>(capacity, 1);
    m_origin = start;
    m_countedFrom = start;
}

TimePoint FixedWindow::windowStartAt(TimePoint now) const
{
    if (now <= m_origin) {
        return m_origin;
    }
    return m_origin + ((now - m_origin) / m_window) * m_window;
}

std::int64_t FixedWindow::countedAt(TimePoint now) const
{
    return windowStartAt(now) == m_countedFrom ? m_counted : 0;
}

Duration FixedWindow::waitFor(std::int64_t cost, TimePoint now) const
{
    const std::int64_t counted = countedAt(now);
    const std::int64_t need = std::clamp<std::int64_t>(cost, 1, m_capacity);
    if (counted + need <= m_capacity || counted == 0) {
        return Duration::zero();
    }
    return windowStartAt(now) + m_window - now;
}

void FixedWindow::take(std::int64_t cost, TimePoint now)
{
    const TimePoint start = windowStartAt(now);
    if (start != m_countedFrom) {
        m_countedFrom = start;
        m_counted = 0;
    }
    m_counted += std::max<std::int64_t>(cost, 0);
}

void FixedWindow::give(std::int64_t amount, TimePoint now)
{
    if (windowStartAt(now) == m_countedFrom) {
        m_counted = std::max<std::int64_t>(0, m_counted - std::max<std::int64_t>(amount, 0));
    }
}

std::int64_t FixedWindow::available(TimePoint now) const
{
    return m_capacity - countedAt(now);
}

Duration FixedWindow::untilFull(TimePoint now) const
{
    if (countedAt(now) == 0) {
        return Duration::zero();
    }
    return windowStartAt(now) + m_window - now;
}

}  // namespace sluice::mock
