// Retry delays: exponential backoff with full jitter (uniform between zero
// and the capped exponential), unless the provider named a time.
//
// Thread-safety: none; one per dispatcher thread.
#pragma once

#include "core/clock.h"

#include <optional>
#include <random>

namespace sluice {

class Backoff {
public:
    Backoff(Duration base, Duration cap, std::uint64_t seed) : m_base(base), m_cap(cap), m_rng(seed) {}

    // The delay before retry number `retry` (1 for the first retry). A
    // positive provider hint wins, capped at maxHint.
    Duration delay(int retry, std::optional<Duration> hint, Duration maxHint)
    {
        if (hint && *hint > Duration::zero()) {
            return std::min(*hint, maxHint);
        }
        return jitter(ceiling(retry));
    }

    // min(cap, base × 2^(retry−1)).
    Duration ceiling(int retry) const
    {
        Duration d = m_base;
        for (int i = 1; i < retry && d < m_cap; ++i) {
            d *= 2;
        }
        return std::min(d, m_cap);
    }

    Duration jitter(Duration ceiling)
    {
        if (ceiling <= Duration::zero()) {
            return Duration::zero();
        }
        std::uniform_int_distribution<std::int64_t> pick(0, ceiling.count());
        return Duration(pick(m_rng));
    }

private:
    Duration m_base;
    Duration m_cap;
    std::mt19937_64 m_rng;
};

}  // namespace sluice
