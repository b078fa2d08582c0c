// The window log of a paced token dimension: the admissions a provider
// that counts a sliding window still holds against us.
//
// Paced at the rate, each request waits out the refill time of the one
// before it, so any window of the configured span holds the rate's worth
// plus the last request admitted in it: with requests of 40 to 520 tokens
// against a sliding second of 6,000, the provider refused 3% of them
// (docs/benchmarks.md, "Token limits against other enforcement models"). The log admits a request only when the window it falls in has
// room for it, as the provider will count it: entries expire a span after
// they left (departed()), the span being the provider's window (the
// granularity the burst was configured from) plus the learned arrival
// margin, and the room is that window's worth less the paced share (which
// 429s widen). Whatever fits such a window fits a bucket or a fixed window
// of the same span too. A request larger than the room goes into an empty
// window, as a bucket lets one larger than its burst go into debt.
#include "admission/ledger_internal.h"

namespace sluice {

using namespace ledger_detail;

namespace {

// Templates: Ledger::Dimension is private, and deduction needs no name.
// The provider's window, in units: the configured burst with what
// kArrivalJitterAllowance took off it given back (burstFor), or the whole
// period's limit when no burst was configured (a window of the period).
template <class Dim>
std::int64_t windowUnits(const Dim& d) noexcept
{
    if (d.wholePeriod || d.spec.burst <= 0 || d.spec.burst >= d.limit) {
        return d.limit;
    }
    const i128 allowance = ceilDiv(i128{d.limit} * kArrivalJitterAllowance.count(), d.unit);
    return clampToInt64(std::min<i128>(i128{d.spec.burst} + allowance, d.limit));
}

// How long an entry counts: the window's span, and the arrival margin
// learned from near misses, by which a request may reach the provider
// later than the one it replaces.
template <class Dim>
std::int64_t spanNs(const Dim& d) noexcept
{
    const i128 window = ceilDiv(i128{windowUnits(d)} * d.unit, std::max<std::int64_t>(d.limit, 1));
    return clampToInt64(window + d.marginNs);
}

// What the window may hold: less the paced share, which 429s widen.
template <class Dim>
std::int64_t roomOf(const Dim& d) noexcept
{
    const std::int64_t units = windowUnits(d);
    return std::max<std::int64_t>(1, units - units * d.sharePer10k() / 10'000);
}

}  // namespace

TimePoint Ledger::windowRoom(const Dimension& d, std::int64_t amount, TimePoint now) noexcept
{
    const std::int64_t span = spanNs(d);
    const std::int64_t room = roomOf(d);
    const std::int64_t cutoff = nanos(now) - span;
    std::int64_t held = d.logSum;
    std::size_t i = d.logHead;
    // Expired entries ahead of the first live one; one a departure kept
    // behind a live one counts until it reaches the front, a little long.
    for (; i < d.log.size() && d.log[i].atNs <= cutoff; ++i) {
        held -= d.log[i].amount;
    }
    if (held == 0 || held + amount <= room) {
        return now;
    }
    std::int64_t lastAt = cutoff;
    for (; i < d.log.size(); ++i) {
        held -= d.log[i].amount;
        lastAt = std::max(lastAt, d.log[i].atNs);
        if (held == 0 || held + amount <= room) {
            return fromNanos(lastAt + span + 1);
        }
    }
    return fromNanos(lastAt + span + 1);
}

void Ledger::logAdmitted(Dimension& d, std::uint64_t serial, std::int64_t amount, TimePoint now)
{
    if (!d.windowed()) {
        return;
    }
    const std::int64_t cutoff = nanos(now) - spanNs(d);
    while (d.logHead < d.log.size() && d.log[d.logHead].atNs <= cutoff) {
        d.logSum -= d.log[d.logHead].amount;
        ++d.logHead;
    }
    // The expired front goes once it is half the log: amortised constant.
    if (d.logHead > 32 && d.logHead * 2 > d.log.size()) {
        d.log.erase(d.log.begin(), d.log.begin() + static_cast<std::ptrdiff_t>(d.logHead));
        d.logHead = 0;
    }
    d.log.push_back(Dimension::Logged{serial, nanos(now), amount});
    d.logSum += amount;
}

bool Ledger::windowThePeriod(ScopeId id, TimePoint now)
{
    bool changed = false;
    for (int k = 0; k < scopeAt(id).rolling; ++k) {
        Dimension& d = scopeAt(id).dims[static_cast<std::size_t>(k)];
        if (!d.windowed() || d.wholePeriod || windowUnits(d) >= d.limit) {
            continue;
        }
        // What went out over the period before is not in the log either,
        // and the provider has just said the period is full: taken as sent
        // at the rate, so room comes back at the rate rather than all at
        // once a period from now.
        d.wholePeriod = true;
        const std::int64_t span = spanNs(d);
        const std::int64_t full = roomOf(d);
        d.log.clear();
        d.logHead = 0;
        d.logSum = 0;
        constexpr int kSlices = 60;
        for (int i = 1; i <= kSlices; ++i) {
            const std::int64_t amount = full / kSlices + (i <= full % kSlices ? 1 : 0);
            d.log.push_back(Dimension::Logged{0, nanos(now) - span + span / kSlices * i, amount});
            d.logSum += amount;
        }
        changed = true;
    }
    return changed;
}

void Ledger::startWindowLog(Dimension& d, TimePoint now)
{
    if (!d.windowed()) {
        return;
    }
    // What the bucket let out before is not in the log, and the provider
    // has just refused a request for a full window: taken as full until a
    // window from now (serial 0 is no hold's).
    d.log.assign(1, Dimension::Logged{0, nanos(now), roomOf(d)});
    d.logHead = 0;
    d.logSum = d.log.front().amount;
}

namespace {

// The live entry of the hold numbered serial, or nullptr once it expired.
template <class Dim>
auto* entryOf(Dim& d, std::uint64_t serial) noexcept
{
    const auto first = d.log.begin() + static_cast<std::ptrdiff_t>(d.logHead);
    const auto it =
        std::lower_bound(first, d.log.end(), serial, [](const auto& e, std::uint64_t s) { return e.serial < s; });
    return it != d.log.end() && it->serial == serial ? &*it : nullptr;
}

}  // namespace

void Ledger::logCorrected(Dimension& d, std::uint64_t serial, std::int64_t delta) noexcept
{
    // The provider counted the request's real size when it arrived: the
    // entry is corrected where it stands, not added again now.
    if (auto* e = entryOf(d, serial)) {
        const std::int64_t corrected = std::max<std::int64_t>(e->amount + delta, 0);
        d.logSum += corrected - e->amount;
        e->amount = corrected;
    }
}

void Ledger::logDeparted(Dimension& d, std::uint64_t serial, TimePoint leftAt) noexcept
{
    if (auto* e = entryOf(d, serial)) {
        e->atNs = std::max(e->atNs, nanos(leftAt));
    }
}

}  // namespace sluice
