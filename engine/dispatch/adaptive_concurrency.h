// AdaptiveConcurrency: finds how many requests to keep in flight at a
// provider (or key) that states no limits, from what its answers show.
// - A 429 lowers the limit multiplicatively, once per episode: answers to
//   requests sent before the last decrease do not lower it again. Its
//   retry-after is reported as a time before which nothing should be sent.
// - Latency rising above the unloaded latency lowers it by the gradient
//   tolerance × baseline / recent (in the spirit of Netflix's Gradient2 and
//   Envoy's adaptive concurrency filter), clamped to [0.5, 1] per window.
// - Otherwise each window of successes raises it: by √limit while below the
//   level of the last 429 or latency-driven decrease, by one near or above it, and only while the
//   traffic fills at least half the limit (no growth when demand is short).
// - It stays within [1, max].
// The caller feeds each finished attempt; time comes from the caller (a
// Clock), so it runs the same under ManualClock.
//
// Thread-safety: none; one owner calls it (the dispatcher thread).
#pragma once

#include "core/clock.h"

#include <cstdint>
#include <deque>
#include <optional>

namespace sluice {

struct AdaptiveConcurrencyOptions {
    std::int64_t initial = 4;
    std::int64_t max = 256;
    // Multiplier applied on a 429 (Netflix's AIMD uses 0.9).
    double backoff = 0.9;
    // Recent latency may reach tolerance × baseline before the limit falls.
    double tolerance = 1.2;
    // Successes per window: at least this many, and at least the limit (about
    // one round trip's worth when the limit is filled).
    int minWindowSamples = 10;
    // The baseline is the lowest window mean among the last this many
    // windows, so a provider that really became slower is followed in time.
    int baselineWindows = 300;
};

// One finished attempt, as the limiter sees it.
struct ConcurrencySample {
    enum class Kind : std::uint8_t {
        Success,      // latency means something
        RateLimited,  // 429 (or a provider's "overloaded")
        Ignored       // other failures say nothing about concurrency
    };
    Kind kind = Kind::Success;
    TimePoint sentAt{};
    Duration latency{};
    // Requests in flight to this scope when the answer came, this one included.
    std::int64_t inFlight = 0;
    std::optional<Duration> retryAfter;
};

class AdaptiveConcurrency {
public:
    explicit AdaptiveConcurrency(AdaptiveConcurrencyOptions options);

    struct Decision {
        std::int64_t limit = 1;          // what to apply now
        bool changed = false;            // differs from the last decision's limit
        std::optional<TimePoint> coolUntil;  // from retry-after: send nothing before
    };
    Decision onSample(TimePoint now, const ConcurrencySample& sample);

    std::int64_t limit() const noexcept;
    double exactLimit() const noexcept { return m_limit; }
    // The unloaded latency estimate (zero before the first window).
    Duration baseline() const noexcept { return m_baseline; }

private:
    void closeWindow(TimePoint now);
    std::int64_t rounded() const noexcept;

    AdaptiveConcurrencyOptions m_options;
    double m_limit;
    std::int64_t m_applied;
    // The limit when the last 429 or latency decrease came; growth near it
    // is cautious.
    double m_lossLevel = 0;
    TimePoint m_lastDecrease{};
    bool m_decreased = false;
    // The current window.
    int m_samples = 0;
    Duration m_latencySum{};
    std::int64_t m_maxInFlight = 0;
    // Window means, newest last, for the baseline.
    std::deque<Duration> m_windowMeans;
    Duration m_baseline{};
};

}  // namespace sluice
