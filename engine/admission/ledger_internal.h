// The ledger's private parts, shared by the files that define it:
// ledger.cpp (scopes, limits, corrections, snapshots), ledger_admit.cpp
// (check, admit, settle, departure) and ledger_margin.cpp (arrival margins,
// burst narrowing, window pacing). Nothing outside engine/admission
// includes it.
//
// Thread-safety: as Ledger (none).
#pragma once

#include "admission/ledger.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace sluice {

namespace ledger_detail {

__extension__ typedef __int128 i128;

inline std::int64_t nanos(TimePoint t) noexcept
{
    return t.time_since_epoch().count();
}

inline TimePoint fromNanos(std::int64_t ns) noexcept
{
    return TimePoint(Duration(ns));
}

// Smallest integer >= a / b for b > 0.
inline i128 ceilDiv(i128 a, i128 b) noexcept
{
    const i128 q = a / b;
    return (a % b != 0 && a > 0) ? q + 1 : q;
}

inline i128 floorDiv(i128 a, i128 b) noexcept
{
    const i128 q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

inline std::int64_t clampToInt64(i128 v) noexcept
{
    constexpr i128 hi = std::numeric_limits<std::int64_t>::max();
    constexpr i128 lo = std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(std::clamp(v, lo, hi));
}


}  // namespace ledger_detail

struct Ledger::Dimension {
    enum class Kind : std::uint8_t { Rolling, Fixed, Concurrency };

    // Hot fields first: the admission path reads only these.
    // Rolling: theoretical arrival time, in ns × limit. Scaled time makes one
    // unit cost exactly `unit` (the period in ns) whatever the limit.
    Int128 tat = 0;
    Int128 tau = 0;            // capacity × unit: the most debt the bucket holds
    std::int64_t unit = 0;   // period in ns
    std::int64_t limit = 0;  // spec.limit
    std::int64_t cap = 0;    // spec.capacity()
    Kind kind = Kind::Rolling;
    std::uint8_t measure = 0;
    std::int16_t index = 0;  // position in the scope's LimitSpec list
    // The configuration epoch this dimension was created in: holds taken
    // before it never debited it.
    std::uint64_t bornEpoch = 0;
    LimitSpec spec{};
    // Fixed: usage in the window with this index.
    std::int64_t window = 0;
    std::int64_t used = 0;
    // Concurrency: weight in flight.
    std::int64_t inFlight = 0;
    // Rolling: the arrival margin in force (see marginFor): the least for a
    // whole-bucket request (0: margins off), the share of the rate, and when
    // the share last changed (narrowing waits a quiet period after it).
    std::int64_t marginNs = 0;
    std::int64_t baseMarginNs = 0;  // the ledger's arrivalMargin: where marginNs narrows back to
    std::int32_t marginPer10k = 0;
    TimePoint marginChangedAt{};
    // Rolling: the burst a full bucket lets out, paid back by a larger
    // share (kPaybackPer10k) until paybackUntil (see startPayback); zero
    // once paid.
    std::int32_t paybackPer10k = 0;
    TimePoint paybackUntil{};
    // Rolling: when a near miss last widened marginNs (it narrows back
    // towards the ledger's base after a quiet period).
    TimePoint marginNsChangedAt{};
    // Rolling: the provider counts a window, not a bucket: every request
    // is paced at the rate (a burst of one unit), with a catch-up slack of
    // half the margin the spacing pays over a whole burst.
    bool paced = false;
    // Rolling: how many times near misses have halved the burst (cap and
    // tau follow); a quiet period doubles it back, one step at a time.
    std::int8_t burstHalvings = 0;
    // Rolling, paced: how many times the share has narrowed back; each
    // step waits twice as long as the one before (Ledger::pacedQuiet).
    std::int8_t pacedNarrowings = 0;

    // Rolling, tokens, paced (windowed()): what was admitted within the
    // last window, oldest first from logHead, logSum their total (see
    // ledger_window.cpp). In admission order, so a hold's entry is found by
    // its serial; atNs is when the provider counts it (departed() moves it
    // later), so it is only nearly in time order. Kept only once paced: a
    // bucket needs none, and a tenant's per-minute budget at thousands of
    // requests a second would keep a minute of them.
    struct Logged {
        std::uint64_t serial = 0;
        std::int64_t atNs = 0;
        std::int64_t amount = 0;
    };
    std::vector<Logged> log;
    std::size_t logHead = 0;
    std::int64_t logSum = 0;
    // The provider's window is the whole period (a sliding minute), not the
    // configured granularity: the log spans the period and holds its limit
    // (Ledger::windowThePeriod).
    bool wholePeriod = false;
    bool logsWindow = true;  // the ledger's windowLogs

    // A provider that counts a sliding window of tokens refuses a request
    // whenever the window holds too many, and requests of different sizes
    // paced at the rate overfill some windows (by the last one's size): a
    // paced token dimension admits only what fits in its log of the window
    // (windowed()), and keeps its bucket's burst, since whatever fits the
    // window fits a bucket or fixed window of the same span too. Requests
    // are one unit each and pace exactly at a burst of one. Output tokens
    // are not logged: a provider that counts them (Anthropic's OTPM)
    // counts them as they are written, seconds after the request left, at
    // a size known only at the end, so an entry at departure would count
    // max_tokens for a request's whole life and then some.
    bool logged() const noexcept
    {
        return logsWindow && kind == Kind::Rolling &&
               (spec.measure == Measure::InputTokens || spec.measure == Measure::TotalTokens);
    }
    bool windowed() const noexcept { return paced && logged(); }

    // Never below two units (unless configured so): a bucket of one loses
    // for good every moment the sender wakes late, while one of two lets
    // it catch up, and a burst of two fits any window's slack at the margin.
    std::int64_t minBurst() const noexcept { return std::min<std::int64_t>(2, spec.capacity()); }
    void applyBurstHalvings() noexcept
    {
        cap = paced && !windowed() ? 1 : std::max<std::int64_t>(minBurst(), spec.capacity() >> burstHalvings);
        tau = Int128{cap} * unit;
    }

    // The share of the rate in force: the learned one, or the payback's.
    std::int32_t sharePer10k() const noexcept { return std::max(marginPer10k, paybackPer10k); }
    bool rolling() const noexcept { return kind == Kind::Rolling; }
    Int128 scaledNow(TimePoint now) const noexcept { return Int128{ledger_detail::nanos(now)} * limit; }
    // Debt (scaled) outstanding at `now`; zero when the bucket is full.
    Int128 debt(TimePoint now) const noexcept { return std::max<Int128>(tat - scaledNow(now), 0); }
};

struct Ledger::Scope {
    ScopeId id = kNoScope;
    ScopeId parent = kNoScope;
    int depth = 0;
    bool removed = false;
    std::string name;
    // Rolling dimensions first ([0, rolling)), so the admission loop runs
    // over them without branching on kind; Dimension::index keeps the order
    // the limits were given in.
    std::array<Dimension, kMaxDimensions> dims{};
    int count = 0;
    int rolling = 0;
};

}  // namespace sluice
