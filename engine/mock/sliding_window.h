// A sliding-window limit, the other way providers (and gateways in front of
// them) enforce a rate: at most `capacity` units in any span of `window`
// (600 RPM at one second: at most 10 requests in any one second). Stricter
// than a token bucket of the same capacity, which after a full bucket's
// burst lets one more unit through every refill interval; a client whose
// ledger is a bucket meets 429s here that it never meets against the bucket.
// Same interface as RateBucket, so LimitTable can hold either.
//
// Thread-safety: none; the owner serialises access.
#pragma once

#include "core/clock.h"

#include <cstdint>
#include <deque>

namespace sluice::mock {

class SlidingWindow {
public:
    // Starts empty (nothing counted) at `now`. capacity >= 1, window > 0;
    // `limit` is what the headers report.
    SlidingWindow(std::int64_t limit, Duration window, std::int64_t capacity, TimePoint now);

    // New limits keep what was counted in the window.
    void reconfigure(std::int64_t limit, Duration window, std::int64_t capacity, TimePoint now);

    // Until `cost` fits: when the window holds no more than capacity − cost,
    // or is empty (a cost above the capacity goes alone). Zero: fits now.
    Duration waitFor(std::int64_t cost, TimePoint now) const;
    void take(std::int64_t cost, TimePoint now);
    // Takes back the newest counts first, never below zero.
    void give(std::int64_t amount, TimePoint now);

    std::int64_t available(TimePoint now) const;  // negative when over
    Duration untilFull(TimePoint now) const;      // until the window is empty

    std::int64_t limit() const noexcept { return m_limit; }
    std::int64_t capacity() const noexcept { return m_capacity; }

private:
    struct Entry {
        TimePoint at;
        std::int64_t cost;
    };
    std::int64_t countedAt(TimePoint now) const;

    std::int64_t m_limit;
    Duration m_window;
    std::int64_t m_capacity;
    std::deque<Entry> m_entries;  // oldest first; expired ones pruned by take()
};

}  // namespace sluice::mock
