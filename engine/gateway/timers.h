// Timers: runs callbacks when their time comes, on one thread, for the
// gateway's hold deadlines. Thousands of pending timers cost a map entry
// each; cancelling one that already ran does nothing.
//
// Thread-safety: every public member from any thread. Callbacks run on the
// timer thread (or poll()'s caller, how tests drive it on a ManualClock)
// without the lock held, and must not block.
#pragma once

#include "core/clock.h"

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace sluice::gateway {

class Timers {
public:
    explicit Timers(Clock& clock);
    ~Timers();
    Timers(const Timers&) = delete;
    Timers& operator=(const Timers&) = delete;

    void start();
    void stop();  // pending callbacks are dropped

    std::uint64_t at(TimePoint when, std::function<void()> callback);
    void cancel(std::uint64_t id);
    // Runs what is due at `now`; returns when the next one is due.
    std::optional<TimePoint> poll(TimePoint now);
    std::size_t pending() const;

private:
    void run(std::stop_token stop);

    Clock& m_clock;
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::map<std::pair<TimePoint, std::uint64_t>, std::function<void()>> m_due;
    std::map<std::uint64_t, TimePoint> m_byId;
    std::uint64_t m_nextId = 1;
    // When the timer thread next looks by itself (max: not waiting). A new
    // timer due later needs no wakeup: with a hold of 30 s and the thread
    // looking at least every second, a request's deadline never wakes it,
    // which on a busy machine was a context switch per request.
    TimePoint m_wakeAt = TimePoint::max();
    ClockSubscription m_clockSubscription;
    std::jthread m_thread;
};

}  // namespace sluice::gateway
