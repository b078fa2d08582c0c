#include "gateway/timers.h"

#include <vector>

namespace sluice::gateway {

Timers::Timers(Clock& clock) : m_clock(clock)
{
    m_clockSubscription = m_clock.subscribe([this] {
        std::lock_guard guard(m_mutex);
        m_cv.notify_all();
    });
}

Timers::~Timers()
{
    stop();
}

void Timers::start()
{
    if (!m_thread.joinable()) {
        m_thread = std::jthread([this](std::stop_token st) { run(st); });
    }
}

void Timers::stop()
{
    if (m_thread.joinable()) {
        m_thread.request_stop();
        {
            std::lock_guard guard(m_mutex);
            m_cv.notify_all();
        }
        m_thread.join();
    }
    std::lock_guard guard(m_mutex);
    m_due.clear();
    m_byId.clear();
}

std::uint64_t Timers::at(TimePoint when, std::function<void()> callback)
{
    std::lock_guard guard(m_mutex);
    const std::uint64_t id = m_nextId++;
    const bool first = m_due.empty() || when < m_due.begin()->first.first;
    m_due.emplace(std::make_pair(when, id), std::move(callback));
    m_byId.emplace(id, when);
    if (first && when < m_wakeAt) {
        m_cv.notify_all();
    }
    return id;
}

void Timers::cancel(std::uint64_t id)
{
    std::lock_guard guard(m_mutex);
    if (const auto it = m_byId.find(id); it != m_byId.end()) {
        m_due.erase(std::make_pair(it->second, id));
        m_byId.erase(it);
    }
}

std::optional<TimePoint> Timers::poll(TimePoint now)
{
    std::vector<std::function<void()>> due;
    std::optional<TimePoint> next;
    {
        std::lock_guard guard(m_mutex);
        while (!m_due.empty() && m_due.begin()->first.first <= now) {
            auto node = m_due.extract(m_due.begin());
            m_byId.erase(node.key().second);
            due.push_back(std::move(node.mapped()));
        }
        if (!m_due.empty()) {
            next = m_due.begin()->first.first;
        }
    }
    for (auto& callback : due) {
        callback();
    }
    return next;
}

std::size_t Timers::pending() const
{
    std::lock_guard guard(m_mutex);
    return m_due.size();
}

void Timers::run(std::stop_token stop)
{
    while (!stop.stop_requested()) {
        poll(m_clock.now());
        std::unique_lock lock(m_mutex);
        if (stop.stop_requested()) {
            return;
        }
        const TimePoint wake = m_due.empty() ? m_clock.now() + std::chrono::seconds(1) : m_due.begin()->first.first;
        m_wakeAt = wake;
        m_clock.waitUntil(m_cv, lock, wake);
        m_wakeAt = TimePoint::max();
    }
}

}  // namespace sluice::gateway
