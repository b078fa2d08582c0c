// Time for the whole engine comes from a Clock passed in, so tests can drive
// time by hand and never sleep to wait.
//
// Thread-safety: every member of SystemClock and ManualClock may be called
// from any thread at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>

namespace sluice {

using Duration = std::chrono::nanoseconds;
// Monotonic time: limits and timeouts are measured on it.
using TimePoint = std::chrono::steady_clock::time_point;
// Calendar time: daily windows, timestamps in reports and provider headers.
using WallTime = std::chrono::time_point<std::chrono::system_clock, Duration>;

class Clock;

// Keeps a callback registered with a Clock; unregisters on destruction.
class ClockSubscription {
public:
    ClockSubscription() = default;
    ClockSubscription(ClockSubscription&& other) noexcept;
    ClockSubscription& operator=(ClockSubscription&& other) noexcept;
    ClockSubscription(const ClockSubscription&) = delete;
    ClockSubscription& operator=(const ClockSubscription&) = delete;
    ~ClockSubscription();

private:
    friend class ManualClock;
    using Token = std::list<std::function<void()>>::iterator;
    ClockSubscription(class ManualClock* owner, Token token) : m_owner(owner), m_token(token) {}
    void reset();

    class ManualClock* m_owner = nullptr;
    Token m_token{};
};

class Clock {
public:
    virtual ~Clock() = default;

    virtual TimePoint now() const noexcept = 0;
    virtual WallTime wallNow() const noexcept = 0;

    // Blocks on cv (lock held by the caller) until it is notified or the clock
    // reaches deadline. May wake spuriously: callers re-check their condition.
    virtual void waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                           TimePoint deadline) const = 0;

    // Calls onAdvance whenever time jumps by hand (ManualClock). A component
    // that waits with waitUntil subscribes a callback that locks its mutex and
    // notifies its condition variable, so a waiter never misses a jump. The
    // real clock never jumps, so its subscription does nothing.
    [[nodiscard]] virtual ClockSubscription subscribe(std::function<void()> onAdvance) = 0;

    // Maps a monotonic time point onto the calendar, using the offset between
    // the two clocks now.
    WallTime toWall(TimePoint t) const noexcept;
    TimePoint fromWall(WallTime w) const noexcept;
};

class SystemClock final : public Clock {
public:
    TimePoint now() const noexcept override { return std::chrono::steady_clock::now(); }
    WallTime wallNow() const noexcept override
    {
        return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    }
    void waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                   TimePoint deadline) const override;
    ClockSubscription subscribe(std::function<void()>) override { return {}; }
};

// A clock that moves only when told to. Starts at an arbitrary non-zero
// monotonic time and at wall time 2026-01-01T00:00:00Z unless given others.
class ManualClock final : public Clock {
public:
    ManualClock();
    ManualClock(TimePoint start, WallTime wallStart);

    TimePoint now() const noexcept override;
    WallTime wallNow() const noexcept override;
    void waitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                   TimePoint deadline) const override;
    ClockSubscription subscribe(std::function<void()> onAdvance) override;

    void advance(Duration d);
    void advanceTo(TimePoint t);  // no-op when t is not in the future

private:
    friend class ClockSubscription;
    void unsubscribe(ClockSubscription::Token token);

    std::atomic<std::int64_t> m_nowNs;
    const std::int64_t m_wallMinusSteadyNs;
    // Held while callbacks run, so an unsubscribing owner cannot be destroyed
    // while its callback is executing.
    mutable std::mutex m_mutex;
    std::list<std::function<void()>> m_subscribers;
};

}  // namespace sluice
