// One continuous-refill token bucket, the way providers enforce a rate: it
// holds up to `capacity` units, refills at `limit` per `period`, and a
// request fits when the bucket holds its cost (or is full, for a cost above
// the capacity). The mock's own arithmetic, written apart from
// engine/admission on purpose: the mock is the reference the client's
// limiter is tested against, so the two must not share a bug.
//
// Thread-safety: none; the owner serialises access.
#pragma once

#include "core/clock.h"

#include <cstdint>

namespace sluice::mock {

class RateBucket {
public:
    // Starts full at `now`. capacity >= 1, limit >= 1, period > 0.
    RateBucket(std::int64_t limit, Duration period, std::int64_t capacity, TimePoint now);

    // New limits keep what has been used: the bucket is as far below its new
    // capacity as it was below the old one (a lower limit binds at once).
    void reconfigure(std::int64_t limit, Duration period, std::int64_t capacity, TimePoint now);

    // How long until a request costing `cost` fits; zero when it fits now.
    // A cost of zero still needs one unit: an overdrawn bucket refuses all.
    Duration waitFor(std::int64_t cost, TimePoint now) const;
    // Debits `cost`, which may overdraw the bucket.
    void take(std::int64_t cost, TimePoint now);
    // Credits `amount` back, never above the capacity.
    void give(std::int64_t amount, TimePoint now);

    // Whole units available now; negative when overdrawn.
    std::int64_t available(TimePoint now) const;
    // Until the bucket is full again.
    Duration untilFull(TimePoint now) const;

    std::int64_t limit() const noexcept { return m_limit; }
    std::int64_t capacity() const noexcept { return m_capacity; }

private:
    __extension__ typedef __int128 Int128;
    // Level in units × period-nanoseconds, so refill over dt nanoseconds is
    // exactly dt × limit: no rounding anywhere.
    Int128 levelAt(TimePoint now) const;
    void settle(TimePoint now);

    std::int64_t m_limit;
    std::int64_t m_periodNs;
    std::int64_t m_capacity;
    Int128 m_level;
    TimePoint m_at;
};

}  // namespace sluice::mock
