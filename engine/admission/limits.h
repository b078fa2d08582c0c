// The vocabulary of admission: what a limit measures, over what window, and
// what one request costs.
//
// Thread-safety: plain values; safe to copy between threads.
#pragma once

#include "core/clock.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

// What a dimension counts.
enum class Measure : std::uint8_t {
    Concurrency,   // weight in flight at once (a weighted semaphore)
    Requests,      // requests started
    InputTokens,   // prompt tokens
    OutputTokens,  // completion tokens
    TotalTokens,   // input + output
    SpendMicroUsd  // estimated spend in millionths of a US dollar
};
inline constexpr int kMeasureCount = 6;

// How a rate dimension forgets usage.
enum class Window : std::uint8_t {
    // Continuous refill (GCRA): `limit` units per `period`, at most `burst`
    // outstanding. How providers enforce RPM and TPM.
    Rolling,
    // Calendar window: at most `limit` units per window; windows start at
    // local midnight (for a day) in the time zone utcOffset names (per-day
    // budgets, Gemini's RPD at midnight Pacific).
    Fixed
};

std::string_view measureName(Measure m) noexcept;
std::string_view windowName(Window w) noexcept;
bool parseMeasure(std::string_view text, Measure& out) noexcept;

struct LimitSpec {
    Measure measure = Measure::Requests;
    // Units per period for rate dimensions; the most weight in flight for
    // Concurrency. Zero admits nothing that costs anything.
    std::int64_t limit = 0;
    Duration period = std::chrono::minutes(1);
    // Rolling only: bucket capacity, the most that may be spent at once.
    // Zero means "the same as limit" (a full period's worth). A provider that
    // enforces 600 RPM as 10 per second is modelled by burst = 10.
    std::int64_t burst = 0;
    Window window = Window::Rolling;
    // Fixed only: the time zone's offset from UTC; windows start where local
    // time is a whole multiple of period. -8h puts daily windows at midnight
    // UTC-8 (08:00 UTC).
    Duration utcOffset = Duration::zero();

    std::int64_t capacity() const noexcept
    {
        if (measure == Measure::Concurrency || window == Window::Fixed) {
            return limit;
        }
        return burst > 0 ? burst : limit;
    }

    // Empty when valid; otherwise names the field and what is wrong with it.
    std::string validate() const;

    // Two specs describe the same dimension (usage carries over on change)
    // when they count the same thing over the same kind of window.
    bool sameDimensionAs(const LimitSpec& other) const noexcept
    {
        return measure == other.measure &&
               (measure == Measure::Concurrency || window == other.window);
    }

    friend bool operator==(const LimitSpec&, const LimitSpec&) = default;
};

// Convenience constructors for the common shapes.
LimitSpec perMinute(Measure m, std::int64_t limit, std::int64_t burst = 0);

// What a configured burst leaves out of the provider's bucket: a
// granularity's worth of the rate less this much of it (config's
// burstFor), so requests that reach the provider closer together than they
// left still fit. The ledger adds it back to find the provider's window
// (see ledger_window.cpp).
inline constexpr Duration kArrivalJitterAllowance = std::chrono::milliseconds(50);
LimitSpec perDay(Measure m, std::int64_t limit, Duration utcOffset = Duration::zero());
LimitSpec concurrency(std::int64_t maxInFlight);

// What one request costs in each measure. TotalTokens is derived.
struct Cost {
    std::int64_t requests = 1;
    std::int64_t inputTokens = 0;
    std::int64_t outputTokens = 0;
    std::int64_t spendMicroUsd = 0;
    std::int64_t weight = 1;  // Concurrency

    std::int64_t amount(Measure m) const noexcept
    {
        switch (m) {
        case Measure::Concurrency: return weight;
        case Measure::Requests: return requests;
        case Measure::InputTokens: return inputTokens;
        case Measure::OutputTokens: return outputTokens;
        case Measure::TotalTokens: return inputTokens + outputTokens;
        case Measure::SpendMicroUsd: return spendMicroUsd;
        }
        return 0;
    }

    friend bool operator==(const Cost&, const Cost&) = default;
};

using ScopeId = std::uint32_t;
inline constexpr ScopeId kNoScope = 0xffffffffu;

// The scopes one request is admitted against, outermost first:
// global → provider → API key → model. Cheap to copy; resolve it once per
// job, not per decision.
struct Path {
    static constexpr int kMaxDepth = 6;
    std::array<ScopeId, kMaxDepth> scopes{};
    int depth = 0;

    bool contains(ScopeId id) const noexcept
    {
        for (int i = 0; i < depth; ++i) {
            if (scopes[static_cast<std::size_t>(i)] == id) {
                return true;
            }
        }
        return false;
    }
    ScopeId leaf() const noexcept { return depth > 0 ? scopes[static_cast<std::size_t>(depth - 1)] : kNoScope; }
};

}  // namespace sluice
