// The arrival margin, burst narrowing and window pacing: how the ledger
// keeps requests clear of the provider's edge and learns from 429s.
#include "admission/ledger_internal.h"

namespace sluice {

using namespace ledger_detail;

// A request that takes a whole bucket leaves the provider's copy of it empty
// at the instant ours says it is full again, so any arrival that reaches the
// provider a little earlier than the one before it is refused; and a
// provider that counts a sliding window is full whenever we run at the rate,
// so any arrival a little early there is refused too. Spacing every request
// by a share of its refill time keeps them clear of that edge; a
// whole-bucket request (low rates, one request per refill) is spaced by at
// least the absolute margin, since network jitter does not shrink with the
// rate, but by no more than kMaxWholeMarginPer10k of its refill time: at
// one request per refill nothing absorbs an early arrival, and a 429 there
// costs a whole request's share.
i128 Ledger::marginFor(const Dimension& d, std::int64_t amount) const noexcept
{
    if (d.marginNs == 0) {
        return 0;
    }
    // Scaled time: amount × unit is the request's refill time × limit.
    const i128 refill = i128{amount} * d.unit;
    const i128 share = refill * d.sharePer10k() / 10'000;
    if (amount < d.cap) {
        return share;
    }
    // The learned absolute margin, but never more than kMaxWholeMarginPer10k
    // of the refill time: at 50 RPM one request is a whole bucket, and 12 ms
    // of 1.2 s is already 1% of the limit. No share of the rate here: a
    // bucket of one has no burst to pay back.
    const i128 least = std::min(i128{d.marginNs} * d.limit, refill * kMaxWholeMarginPer10k / 10'000);
    if (!d.paced) {
        return least;
    }
    // Paced against a window of C requests (the configured burst), the
    // share spaces each one and C of them together hold the window's jitter
    // tolerance: a per-request least margin would pay it C times over
    // (1% of the limit at 40 a second, where 0.5% holds). A window of one
    // is a whole-bucket request's, with its least margin.
    return d.spec.capacity() > 1 ? share : std::max(share, least);
}

i128 Ledger::departureMargin(const Dimension& d, std::int64_t amount, bool newConnection) const noexcept
{
    const i128 margin = marginFor(d, amount);
    // Only a whole-bucket request leaves nothing to absorb the difference
    // between a cold trip and a warm one: below the burst, the bucket's
    // remaining room takes it.
    if (!newConnection || d.marginNs == 0 || amount < d.cap) {
        return margin;
    }
    const i128 refill = i128{amount} * d.unit;
    const i128 cold = std::min(i128{kNewConnectionMarginNs} * d.limit, refill * kMaxNewConnectionPer10k / 10'000);
    return std::max(margin, cold);
}

// The margin a bucket's spacing has added may be spent in a burst: a bucket
// of ten still lets ten through at once, and only the rate is lower. Not
// for a whole-bucket request, whose margin is the spacing itself.
i128 Ledger::burstSlack(const Dimension& d, std::int64_t amount) noexcept
{
    if (d.marginNs > 0 && d.paced) {
        // Against a window of C requests, pacing at the rate less a share m
        // allows a slack of anything below C × m (in time, over the whole
        // burst the spec names) without C + 1 requests ever falling in one
        // window: half of it is spent catching up a sender that woke late,
        // half is left for arrival jitter. Not for tokens: requests of
        // hundreds of tokens against a window of a thousand leave no slack
        // beyond the share itself.
        return d.spec.measure == Measure::Requests ? i128{d.spec.capacity()} * d.unit * d.marginPer10k / 20'000 : 0;
    }
    if (d.marginNs == 0 || amount >= d.cap) {
        return 0;
    }
    return d.tau * d.sharePer10k() / 10'000;
}

// A burst from a full bucket pays each request's margin into the debt and
// burstSlack hands the burst's share back as room; the request being
// checked must fit with its own margin too, or the last of a burst (a small
// request, then a large one) would take the slack on top of the bucket: at
// a 10% payback share, a tenth of the bucket beyond what the provider holds.
i128 Ledger::ownMargin(const Dimension& d, std::int64_t amount) const noexcept
{
    return !d.paced && amount < d.cap ? marginFor(d, amount) : 0;
}

void Ledger::startPayback(Dimension& d, TimePoint now) noexcept
{
    // A burst of one is the rate itself: nothing to pay back. A burst of a
    // tenth of the period's limit or more was configured as what the
    // provider allows (granularity_s), and paying it back would cost a
    // long dip for nothing.
    if (d.paced || d.marginNs == 0 || d.cap <= 1 || d.cap * 10 > d.limit) {
        return;
    }
    // At the rate, a share p leaves p / (1 + p) of it unused: a burst of
    // cap units is paid back after cap × (1 + p) / p refill times.
    const i128 burstNs = i128{d.cap} * d.unit / std::max<std::int64_t>(d.limit, 1);
    const i128 span = burstNs * (10'000 + kPaybackPer10k) / kPaybackPer10k;
    d.paybackPer10k = kPaybackPer10k;
    d.paybackUntil = now + Duration(clampToInt64(std::min<i128>(span, d.spec.period.count())));
}

// Called as a request is admitted. After a quiet period with no widening,
// one step back: the margin halves (down to the floor) and a narrowed burst
// doubles. A bucket that has idled full for a whole refill pays its next
// burst back (startPayback).
void Ledger::updateMargin(Dimension& d, TimePoint now) noexcept
{
    if (d.marginNs == 0) {
        return;
    }
    stepPacedBack(d, now);
    if (!d.paced && (d.marginPer10k > kMarginPer10k || d.burstHalvings > 0) && now - d.marginChangedAt >= d.spec.period) {
        d.marginPer10k = std::max(kMarginPer10k, d.marginPer10k / 2);
        if (d.burstHalvings > 0) {
            --d.burstHalvings;
            d.applyBurstHalvings();
        }
        d.marginChangedAt = now;
    }
    if (d.marginNs > d.baseMarginNs && now - d.marginNsChangedAt >= d.spec.period) {
        d.marginNs = std::max(d.baseMarginNs, d.marginNs * 3 / 4);
        d.marginNsChangedAt = now;
    }
    if (d.paybackPer10k > 0 && now >= d.paybackUntil) {
        d.paybackPer10k = 0;
    }
    if (d.paybackPer10k == 0 && d.tat + d.tau <= d.scaledNow(now)) {
        startPayback(d, now);
    }
}

// Paced against a window the share is its jitter tolerance (see
// burstSlack): it steps back more and more slowly, each quiet time counted
// from the end of the last, as the shared script counts it. Taken before
// any widening too, so a widening starts from the share in force.
void Ledger::stepPacedBack(Dimension& d, TimePoint now) noexcept
{
    while (d.paced && d.marginPer10k > kPacedMarginPer10k &&
           now - d.marginChangedAt >= pacedQuiet(d.spec.period, d.pacedNarrowings)) {
        d.marginChangedAt += pacedQuiet(d.spec.period, d.pacedNarrowings);
        d.marginPer10k = std::max(kPacedMarginPer10k, d.marginPer10k / 2);
        d.pacedNarrowings = static_cast<std::int8_t>(std::min(d.pacedNarrowings + 1, kMostPacedNarrowings));
    }
}

bool Ledger::widenMargin(ScopeId id, TimePoint now)
{
    bool changed = false;
    for (int k = 0; k < scopeAt(id).rolling; ++k) {
        Dimension& d = scopeAt(id).dims[static_cast<std::size_t>(k)];
        if (d.marginNs > 0) {
            stepPacedBack(d, now);
            d.marginChangedAt = now;
            // Paced against a window, the share is the window's jitter
            // tolerance and all the pace it costs: at most
            // kMostPacedMarginPer10k.
            const std::int32_t most = d.paced ? kMostPacedMarginPer10k : kMaxMarginPer10k;
            if (d.marginPer10k < most) {
                d.marginPer10k = std::min(most, d.marginPer10k * 2);
                changed = true;
            }
            // A near miss at our pace means the provider allows less burst
            // than we do (a sliding window has none to spare at the rate).
            if (d.cap > d.minBurst() && d.burstHalvings < 62) {
                ++d.burstHalvings;
                d.applyBurstHalvings();
                changed = true;
            }
        }
    }
    return changed;
}

bool Ledger::noteNearMiss(ScopeId id, Duration hint, TimePoint now)
{
    bool changed = false;
    const std::int64_t early = std::max<std::int64_t>(hint.count(), 0);
    for (int k = 0; k < scopeAt(id).rolling; ++k) {
        Dimension& d = scopeAt(id).dims[static_cast<std::size_t>(k)];
        if (d.marginNs == 0) {
            continue;
        }
        stepPacedBack(d, now);  // what is shared after this is the share in force
        // The request reached the provider `hint` before its bucket had
        // room, with marginNs already between it and the one before: the
        // two trips differed by marginNs + hint. Half as much again covers
        // the next such difference; marginFor bounds what it may cost.
        const std::int64_t evidence = (d.marginNs + early) * 3 / 2;
        const std::int64_t most = d.windowed() ? std::max(kMostWindowMarginNs, d.baseMarginNs) : kMostMarginNs;
        d.marginNsChangedAt = now;
        if (evidence > d.marginNs && d.marginNs < most) {
            d.marginNs = std::min<std::int64_t>(evidence, most);
            changed = true;
        }
        changed = widenPaceFor(d, early, now) || changed;
    }
    return changed;
}

// Paced against a window, half the share over the window is its jitter
// tolerance (burstSlack), and the hint says how far beyond it this
// arrival fell: the share goes at once to what holds half as much again,
// in the same doubling steps up to kMostPacedMarginPer10k, rather than one
// doubling per 429 (each step learned that way costs a refusal).
bool Ledger::widenPaceFor(Dimension& d, std::int64_t earlyNs, TimePoint now) noexcept
{
    if (!d.paced || d.spec.measure != Measure::Requests || d.spec.capacity() <= 1 || earlyNs <= 0) {
        return false;
    }
    stepPacedBack(d, now);
    const i128 windowNs = i128{d.spec.capacity()} * d.unit / std::max<std::int64_t>(d.limit, 1);
    if (windowNs <= 0) {
        return false;
    }
    // window × share / 2 ≥ 1.5 × early.
    const i128 needed = (i128{earlyNs} * 3 * 10'000 + windowNs - 1) / windowNs;
    std::int32_t share = std::max(d.marginPer10k, kPacedMarginPer10k);
    while (share < needed && share < kMostPacedMarginPer10k) {
        share *= 2;
    }
    share = std::min(share, kMostPacedMarginPer10k);
    if (share <= d.marginPer10k) {
        return false;
    }
    d.marginPer10k = share;
    d.marginChangedAt = now;
    return true;
}

bool Ledger::paceEvenly(ScopeId id, TimePoint now)
{
    bool changed = false;
    for (int k = 0; k < scopeAt(id).rolling; ++k) {
        Dimension& d = scopeAt(id).dims[static_cast<std::size_t>(k)];
        if (d.marginNs > 0 && !d.paced) {
            d.paced = true;
            d.marginPer10k = kPacedMarginPer10k;
            d.paybackPer10k = 0;
            d.applyBurstHalvings();
            startWindowLog(d, now);
            // What near misses taught a bucket would lengthen every entry
            // of the log by as much (noteNearMiss).
            if (d.windowed()) {
                d.marginNs = std::min(d.marginNs, std::max(kMostWindowMarginNs, d.baseMarginNs));
            }
            changed = true;
        }
    }
    return changed;
}

bool Ledger::paced(ScopeId id) const
{
    const Scope& s = scopeAt(id);
    for (int k = 0; k < s.rolling; ++k) {
        if (s.dims[static_cast<std::size_t>(k)].paced) {
            return true;
        }
    }
    return false;
}

Duration Ledger::nearMissMargin(ScopeId id, Measure measure) const
{
    const Scope& s = scopeAt(id);
    for (int k = 0; k < s.rolling; ++k) {
        const Dimension& d = s.dims[static_cast<std::size_t>(k)];
        if (d.spec.measure == measure) {
            return Duration(d.marginNs);
        }
    }
    return Duration::zero();
}

std::int32_t Ledger::marginPer10k(ScopeId id, Measure measure) const
{
    const Scope& s = scopeAt(id);
    for (int k = 0; k < s.rolling; ++k) {
        const Dimension& d = s.dims[static_cast<std::size_t>(k)];
        if (d.spec.measure == measure && d.marginNs > 0) {
            return d.sharePer10k();
        }
    }
    return 0;
}

Ledger::Margins Ledger::margins(const Path& path) const
{
    Margins out;
    if (m_arrivalMarginNs == 0) {
        return out;
    }
    out.least = Duration(m_arrivalMarginNs);
    for (int i = 0; i < path.depth; ++i) {
        const Scope& s = scopeAt(path.scopes[static_cast<std::size_t>(i)]);
        for (int k = 0; k < s.rolling; ++k) {
            const Dimension& d = s.dims[static_cast<std::size_t>(k)];
            if (d.marginNs > 0) {
                out.per10k[static_cast<std::size_t>(i)][static_cast<std::size_t>(d.index)] = d.sharePer10k();
                out.leastOf[static_cast<std::size_t>(i)][static_cast<std::size_t>(d.index)] = Duration(d.marginNs);
            }
        }
    }
    return out;
}

}  // namespace sluice
