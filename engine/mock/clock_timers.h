// The mock's delays on the injected Clock, for tests that drive time by hand
// (ManualClock): a reply planned with delays (latency, a stream's per-token
// pace) is held and released part by part as the clock reaches each part's
// time, instead of on the HTTP server's real-time timers. With the
// SystemClock the server's timers already measure the clock's time, so the
// mock keeps using them (MockProvider, Delays::OnClock).
//
// Thread-safety: every member from any thread. Due callbacks run on the
// thread that advances the clock (inside ManualClock::advance), or at once
// on the caller's thread when already due; none runs under this class's
// own lock, so a callback may schedule another.
#pragma once

#include "core/clock.h"
#include "net/http_server.h"

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace sluice::mock {

// Callbacks due at times on a Clock, run when it gets there.
class ClockTimers {
public:
    // `clock` must outlive the timers.
    explicit ClockTimers(Clock& clock);
    // Drops what is still pending, unrun.
    ~ClockTimers();
    ClockTimers(const ClockTimers&) = delete;
    ClockTimers& operator=(const ClockTimers&) = delete;

    // Runs `fire` once the clock reads `due` or later: at once when it
    // already does. Callbacks due at the same time run in the order given.
    void at(TimePoint due, std::function<void()> fire);
    // Drops every pending callback, unrun.
    void clear();
    std::size_t pending() const;

private:
    void runDue();

    Clock& m_clock;
    mutable std::mutex m_mutex;
    std::multimap<TimePoint, std::function<void()>> m_due;
    ClockSubscription m_subscription;  // last: unsubscribed before the rest goes
};

// Carries out reply plans (net::HttpReply) with their delays on a Clock.
class ClockPacedReplies {
public:
    // `clock` must outlive this.
    explicit ClockPacedReplies(Clock& clock);

    // Answers through `responder` as the server would with `reply`, each
    // part's delay counted on the clock from the previous part's release
    // (the first from now). A reply without delays goes out at once. A
    // Content-Length reply goes whole when its last part is due; a chunked
    // one sends its head and first part when that is due, then a chunk per
    // part. A chunked reply that ends by Close or Reset closes without the
    // last chunk (both as a close); Hang sends nothing more.
    void play(net::HttpResponder responder, net::HttpReply reply);
    // Replies with parts still waiting for the clock.
    std::size_t held() const;
    // Drops every held reply (the mock is stopping): each one's onFinished
    // is told false.
    void stop();

private:
    struct Play;
    void schedule(const std::shared_ptr<Play>& play);
    void release(const std::shared_ptr<Play>& play);

    Clock& m_clock;
    // Shared with the plays, which may outlive this in a server's callbacks.
    std::shared_ptr<std::atomic<std::size_t>> m_held;
    ClockTimers m_timers;  // last: dropped before the rest
};

}  // namespace sluice::mock
