#include "mock/sliding_window.h"

#include <algorithm>

namespace sluice::mock {

SlidingWindow::SlidingWindow(std::int64_t limit, Duration window, std::int64_t capacity, TimePoint now)
    : m_limit(std::max<std::int64_t>(limit, 1)),
      m_window(std::max(window, Duration(1))),
      m_capacity(std::max<std::int64_t>(capacity, 1))
{
    (void)now;
}

void SlidingWindow::reconfigure(std::int64_t limit, Duration window, std::int64_t capacity, TimePoint now)
{
    (void)now;
    m_limit = std::max<std::int64_t>(limit, 1);
    m_window = std::max(window, Duration(1));
    m_capacity = std::max<std::int64_t>(capacity, 1);
}

std::int64_t SlidingWindow::countedAt(TimePoint now) const
{
    std::int64_t sum = 0;
    for (const Entry& e : m_entries) {
        if (e.at + m_window > now) {
            sum += e.cost;
        }
    }
    return sum;
}

Duration SlidingWindow::waitFor(std::int64_t cost, TimePoint now) const
{
    std::int64_t counted = countedAt(now);
    const std::int64_t need = std::clamp<std::int64_t>(cost, 1, m_capacity);
    if (counted + need <= m_capacity) {
        return Duration::zero();
    }
    // Entries leave oldest first: the wait ends when enough have left.
    for (const Entry& e : m_entries) {
        if (e.at + m_window <= now) {
            continue;
        }
        counted -= e.cost;
        if (counted + need <= m_capacity) {
            return e.at + m_window - now;
        }
    }
    return Duration::zero();
}

void SlidingWindow::take(std::int64_t cost, TimePoint now)
{
    while (!m_entries.empty() && m_entries.front().at + m_window <= now) {
        m_entries.pop_front();
    }
    if (cost > 0) {
        m_entries.push_back(Entry{now, cost});
    }
}

void SlidingWindow::give(std::int64_t amount, TimePoint now)
{
    (void)now;
    for (auto it = m_entries.rbegin(); it != m_entries.rend() && amount > 0; ++it) {
        const std::int64_t back = std::min(amount, it->cost);
        it->cost -= back;
        amount -= back;
    }
}

std::int64_t SlidingWindow::available(TimePoint now) const
{
    return m_capacity - countedAt(now);
}

Duration SlidingWindow::untilFull(TimePoint now) const
{
    for (auto it = m_entries.rbegin(); it != m_entries.rend(); ++it) {
        if (it->cost > 0 && it->at + m_window > now) {
            return it->at + m_window - now;
        }
    }
    return Duration::zero();
}

}  // namespace sluice::mock
