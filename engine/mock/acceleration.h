// Anthropic's "acceleration limits": after a quiet spell, a sharp rise in
// usage is refused with 429s even below the per-minute limit; traffic has to
// ramp up. The mock models it per key and model: once no request has been
// admitted for `idle`, the requests allowed from the next one on grow as if
// the rate limit itself rose linearly from `start` × the limit to the whole
// limit over `ramp` (with a first burst of `start` × the bucket's capacity,
// at least one request); after `ramp` the ordinary limits alone apply.
//
// Thread-safety: none; LimitTable's owner serialises access.
#pragma once

#include "core/clock.h"

#include <cstdint>
#include <optional>

namespace sluice::mock {

struct Acceleration {
    Duration idle{};     // zero: no acceleration limit
    Duration ramp{};
    double start = 1.0;  // fraction of the limit allowed right after idle

    bool enabled() const noexcept { return idle > Duration::zero() && ramp > Duration::zero() && start < 1.0; }
    bool operator==(const Acceleration&) const = default;
};

class AccelerationGate {
public:
    // How long one more request must wait under the ramp for a limit of
    // `perMinute` requests whose bucket holds `capacity`; zero when it may
    // be admitted now.
    Duration waitFor(const Acceleration& a, double perMinute, double capacity, TimePoint now) const;
    // Counts an admitted request.
    void take(const Acceleration& a, TimePoint now);
    // Admitted since the ramp began (for the refusal's "used").
    std::int64_t admittedInRamp() const noexcept { return m_count; }

private:
    bool idleAt(const Acceleration& a, TimePoint now) const noexcept
    {
        return !m_last || now - *m_last >= a.idle;
    }

    std::optional<TimePoint> m_last;
    TimePoint m_start{};
    std::int64_t m_count = 0;
};

}  // namespace sluice::mock
