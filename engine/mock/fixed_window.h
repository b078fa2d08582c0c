// A fixed-window limit, the third way rate limits are enforced (simple
// gateways, INCR-with-expiry limiters, some clouds): at most `capacity`
// units per window of `window`, the count starting again from zero at each
// window boundary. Windows follow each other from the meter's first use, so
// the client cannot know their phase. Lets a minute's worth through at a
// window's start, and two minutes' worth across a boundary; a client that
// paces at the rate never meets its edge.
// Same interface as RateBucket, so LimitTable can hold either.
//
// Thread-safety: none; the owner serialises access.
#pragma once

#include "core/clock.h"

#include <cstdint>

namespace sluice::mock {

class FixedWindow {
public:
    // Starts an empty window at `now`. capacity >= 1, window > 0; `limit` is
    // what the headers report.
    FixedWindow(std::int64_t limit, Duration window, std::int64_t capacity, TimePoint now);

    // New limits keep the current window and its count.
    void reconfigure(std::int64_t limit, Duration window, std::int64_t capacity, TimePoint now);

    // Until `cost` fits: now while the window has room (a cost above the
    // capacity goes alone into an empty window), else the next boundary.
    Duration waitFor(std::int64_t cost, TimePoint now) const;
    void take(std::int64_t cost, TimePoint now);
    // Takes back from the current window's count, never below zero.
    void give(std::int64_t amount, TimePoint now);

    std::int64_t available(TimePoint now) const;  // negative when over
    Duration untilFull(TimePoint now) const;      // until the next boundary, when anything is counted

    std::int64_t limit() const noexcept { return m_limit; }
    std::int64_t capacity() const noexcept { return m_capacity; }

private:
    TimePoint windowStartAt(TimePoint now) const;
    std::int64_t countedAt(TimePoint now) const;

    std::int64_t m_limit;
    Duration m_window;
    std::int64_t m_capacity;
    TimePoint m_origin;       // where the first window began
    TimePoint m_countedFrom;  // the window m_counted belongs to
    std::int64_t m_counted = 0;
};

}  // namespace sluice::mock
