#include "core/clock.h"

#include <utility>

namespace sluice {

WallTime Clock::toWall(TimePoint t) const noexcept
{
    return wallNow() + (t - now());
}

TimePoint Clock::fromWall(WallTime w) const noexcept
{
    return now() + (w - wallNow());
}

ClockSubscription::ClockSubscription(ClockSubscription&& other) noexcept
    : m_owner(std::exchange(other.m_owner, nullptr)), m_token(other.m_token)
{
}

ClockSubscription& ClockSubscription::operator=(ClockSubscription&& other) noexcept
{
    if (this != &other) {
        reset();
        m_owner = std::exchange(other.m_owner, nullptr);
        m_token = other.m_token;
    }
    return *this;
}

ClockSubscription::~ClockSubscription()
{
    reset();
}

void ClockSubscription::reset()
{
    if (m_owner != nullptr) {
        std::exchange(m_owner, nullptr)->unsubscribe(m_token);
    }
}

void SystemClock::waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            TimePoint deadline) const
{
    cv.wait_until(lock, deadline);
}

namespace {
constexpr std::int64_t kManualStartNs = 1'000'000'000'000;  // 1000 s after the epoch
// 2026-01-01T00:00:00Z
constexpr std::int64_t kManualWallStartNs = 1'767'225'600LL * 1'000'000'000LL;
}  // namespace

ManualClock::ManualClock()
    : ManualClock(TimePoint(Duration(kManualStartNs)), WallTime(Duration(kManualWallStartNs)))
{
}

ManualClock::ManualClock(TimePoint start, WallTime wallStart)
    : m_nowNs(start.time_since_epoch().count()),
      m_wallMinusSteadyNs(wallStart.time_since_epoch().count() - start.time_since_epoch().count())
{
}

TimePoint ManualClock::now() const noexcept
{
    return TimePoint(Duration(m_nowNs.load(std::memory_order_acquire)));
}

WallTime ManualClock::wallNow() const noexcept
{
    return WallTime(Duration(m_nowNs.load(std::memory_order_acquire) + m_wallMinusSteadyNs));
}

void ManualClock::waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            TimePoint deadline) const
{
    // The caller holds its lock from its own check of now() until wait()
    // releases it, and advance() notifies subscribers only after taking that
    // same lock, so a jump past the deadline is never missed.
    if (now() >= deadline) {
        return;
    }
    cv.wait(lock);
}

ClockSubscription ManualClock::subscribe(std::function<void()> onAdvance)
{
    std::lock_guard guard(m_mutex);
    m_subscribers.push_back(std::move(onAdvance));
    return ClockSubscription(this, std::prev(m_subscribers.end()));
}

void ManualClock::unsubscribe(ClockSubscription::Token token)
{
    std::lock_guard guard(m_mutex);
    m_subscribers.erase(token);
}

void ManualClock::advance(Duration d)
{
    if (d <= Duration::zero()) {
        return;
    }
    std::lock_guard guard(m_mutex);
    m_nowNs.fetch_add(d.count(), std::memory_order_acq_rel);
    for (auto& callback : m_subscribers) {
        callback();
    }
}

void ManualClock::advanceTo(TimePoint t)
{
    advance(t - now());
}

}  // namespace sluice
