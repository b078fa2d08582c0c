// What the mock draws for each admitted request: output length per choice,
// a latency factor and a fault. Every draw comes from a generator seeded by
// (configured seed, request number), so a run is reproducible request by
// request whatever the timing, and the arithmetic is ours, not the standard
// library's, so the same seed gives the same run on every platform.
//
// Thread-safety: pure functions; Rng is a plain value.
#pragma once

#include "core/clock.h"
#include "mock/mock_config.h"

#include <cstdint>

namespace sluice::mock {

// SplitMix64: tiny, fast, and good enough for simulation.
class Rng {
public:
    Rng(std::uint64_t seed, std::uint64_t stream) noexcept;
    std::uint64_t next() noexcept;
    double uniform() noexcept;  // [0, 1)
    double normal() noexcept;   // standard normal (Box-Muller)

private:
    std::uint64_t m_state;
};

// Output tokens for one choice: drawn from the model, at least 1, at most
// maxTokens.
std::int64_t drawOutputTokens(const OutputModel& model, std::int64_t maxTokens, Rng& rng);
// The factor that scales every delay of one request.
double drawLatencyFactor(const LatencyModel& model, Rng& rng);
Fault drawFault(const FaultRates& rates, Rng& rng);

// Milliseconds (fractional) times factor, as a Duration.
Duration scaledMs(double ms, double factor);

}  // namespace sluice::mock
