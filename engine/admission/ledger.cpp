#include "admission/ledger.h"

#include "core/numbers.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace sluice {

namespace {

__extension__ typedef __int128 i128;

std::int64_t nanos(TimePoint t) noexcept
{
    return t.time_since_epoch().count();
}

TimePoint fromNanos(std::int64_t ns) noexcept
{
    return TimePoint(Duration(ns));
}

// Smallest integer >= a / b for b > 0.
i128 ceilDiv(i128 a, i128 b) noexcept
{
    const i128 q = a / b;
    return (a % b != 0 && a > 0) ? q + 1 : q;
}

i128 floorDiv(i128 a, i128 b) noexcept
{
    const i128 q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

std::int64_t clampToInt64(i128 v) noexcept
{
    constexpr i128 hi = std::numeric_limits<std::int64_t>::max();
    constexpr i128 lo = std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(std::clamp(v, lo, hi));
}

}  // namespace

struct Ledger::Dimension {
    enum class Kind : std::uint8_t { Rolling, Fixed, Concurrency };

    // Hot fields first: the admission path reads only these.
    // Rolling: theoretical arrival time, in ns × limit. Scaled time makes one
    // unit cost exactly `unit` (the period in ns) whatever the limit.
    i128 tat = 0;
    i128 tau = 0;            // capacity × unit: the most debt the bucket holds
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

    // Never below two units (unless configured so): a bucket of one loses
    // for good every moment the sender wakes late, while one of two lets
    // it catch up, and a burst of two fits any window's slack at the margin.
    std::int64_t minBurst() const noexcept { return std::min<std::int64_t>(2, spec.capacity()); }
    void applyBurstHalvings() noexcept
    {
        cap = paced ? 1 : std::max<std::int64_t>(minBurst(), spec.capacity() >> burstHalvings);
        tau = i128{cap} * unit;
    }

    bool rolling() const noexcept { return kind == Kind::Rolling; }
    i128 scaledNow(TimePoint now) const noexcept { return i128{nanos(now)} * limit; }
    // Debt (scaled) outstanding at `now`; zero when the bucket is full.
    i128 debt(TimePoint now) const noexcept { return std::max<i128>(tat - scaledNow(now), 0); }
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

std::string describeExcess(const Binding& b)
{
    if (b.dimension < 0) {
        return {};  // the scope was removed: no figures to give
    }
    const auto figure = [&](std::int64_t v) {
        if (b.measure != Measure::SpendMicroUsd) {
            return groupThousands(v);
        }
        return formatUsd(v);
    };
    std::string s = "; the estimate, " + figure(b.requested) + ", is more than ";
    // A rolling bucket takes a request above its burst when full, so it
    // refuses only what exceeds the whole limit; the burst is named only
    // when it is what refused.
    if (b.capacity < b.limit && b.requested <= b.limit) {
        s += "the " + figure(b.capacity) + " it admits at once (limit " + figure(b.limit) + ")";
    } else {
        s += "the whole limit of " + figure(b.limit);
    }
    return s;
}

Ledger::Ledger(Duration wallMinusSteady, Duration arrivalMargin)
    : m_wallMinusSteady(wallMinusSteady), m_arrivalMarginNs(std::max<std::int64_t>(arrivalMargin.count(), 0))
{
    auto root = std::make_unique<Scope>();
    root->id = 0;
    root->depth = 1;
    root->name = "global";
    m_scopes.push_back(std::move(root));
}

Ledger::~Ledger() = default;

// A request that takes a whole bucket leaves the provider's copy of it empty
// at the instant ours says it is full again, so any arrival that reaches the
// provider a little earlier than the one before it is refused; and a
// provider that counts a sliding window is full whenever we run at the rate,
// so any arrival a little early there is refused too. Spacing every request
// by a share of its refill time keeps them clear of that edge; a
// whole-bucket request (low rates, one request per refill) is spaced by at
// least the absolute margin, since network jitter does not shrink with the
// rate, but by no more than kMaxMarginPer10k of its refill time, and never
// by less than kStartMarginPer10k of it: at one request per refill nothing
// absorbs an early arrival, and a 429 there costs a whole request's share.
i128 Ledger::marginFor(const Dimension& d, std::int64_t amount) const noexcept
{
    if (d.marginNs == 0) {
        return 0;
    }
    // Scaled time: amount × unit is the request's refill time × limit.
    const i128 refill = i128{amount} * d.unit;
    const i128 share = refill * d.marginPer10k / 10'000;
    if (amount < d.cap) {
        return share;
    }
    // The learned absolute margin, but never more than kMaxWholeMarginPer10k
    // of the refill time: at 50 RPM one request is a whole bucket, and 12 ms
    // of 1.2 s is already 1% of the limit. No share of the rate here: a
    // bucket of one has no burst to pay back. A paced dimension (a window)
    // keeps its share too, which is what lets a window's worth of
    // requests absorb jitter.
    const i128 least = std::min(i128{d.marginNs} * d.limit, refill * kMaxWholeMarginPer10k / 10'000);
    return d.paced ? std::max(share, least) : least;
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
    return d.tau * d.marginPer10k / 10'000;
}

// Called as a request is admitted. After a quiet period with no widening,
// one step back: the margin halves (down to the floor) and a narrowed burst
// doubles. A bucket that has idled full for a whole refill starts again at
// the start margin at least: its next burst must be paid back.
void Ledger::updateMargin(Dimension& d, TimePoint now) noexcept
{
    if (d.marginNs == 0) {
        return;
    }
    // Paced against a window, the share stays at the start margin: it is
    // all the window's jitter tolerance (see burstSlack).
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
    if (d.tat + d.tau <= d.scaledNow(now) && d.marginPer10k < kStartMarginPer10k) {
        d.marginPer10k = kStartMarginPer10k;
        d.marginChangedAt = now;
    }
}

bool Ledger::widenMargin(ScopeId id, TimePoint now)
{
    bool changed = false;
    for (int k = 0; k < scopeAt(id).rolling; ++k) {
        Dimension& d = scopeAt(id).dims[static_cast<std::size_t>(k)];
        if (d.marginNs > 0) {
            d.marginChangedAt = now;
            // Paced against a window, the share is the window's jitter
            // tolerance and all the pace it costs: no more than the start's.
            const std::int32_t most = d.paced ? kStartMarginPer10k : kMaxMarginPer10k;
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
        // The request reached the provider `hint` before its bucket had
        // room, with marginNs already between it and the one before: the
        // two trips differed by marginNs + hint. Half as much again covers
        // the next such difference; marginFor bounds what it may cost.
        const std::int64_t evidence = (d.marginNs + early) * 3 / 2;
        d.marginNsChangedAt = now;
        if (evidence > d.marginNs) {
            d.marginNs = std::min<std::int64_t>(evidence, kMostMarginNs);
            changed = true;
        }
    }
    return changed;
}

bool Ledger::paceEvenly(ScopeId id)
{
    bool changed = false;
    for (int k = 0; k < scopeAt(id).rolling; ++k) {
        Dimension& d = scopeAt(id).dims[static_cast<std::size_t>(k)];
        if (d.marginNs > 0 && !d.paced) {
            d.paced = true;
            d.marginPer10k = kStartMarginPer10k;
            d.applyBurstHalvings();
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
            return d.marginPer10k;
        }
    }
    return 0;
}

Ledger::Scope& Ledger::scopeAt(ScopeId id)
{
    if (id >= m_scopes.size()) {
        throw std::invalid_argument("unknown scope id " + std::to_string(id));
    }
    return *m_scopes[id];
}

const Ledger::Scope& Ledger::scopeAt(ScopeId id) const
{
    if (id >= m_scopes.size()) {
        throw std::invalid_argument("unknown scope id " + std::to_string(id));
    }
    return *m_scopes[id];
}

ScopeId Ledger::addScope(ScopeId parent, std::string name, const std::vector<LimitSpec>& limits,
                         TimePoint now)
{
    const Scope& p = scopeAt(parent);
    if (p.removed) {
        throw std::invalid_argument("scope '" + p.name + "' was removed");
    }
    if (p.depth >= Path::kMaxDepth) {
        throw std::invalid_argument("scope '" + name + "': deeper than " +
                                    std::to_string(Path::kMaxDepth) + " levels");
    }
    if (findScope(parent, name)) {
        throw std::invalid_argument("scope '" + name + "' already exists under '" + p.name + "'");
    }
    auto scope = std::make_unique<Scope>();
    scope->id = static_cast<ScopeId>(m_scopes.size());
    scope->parent = parent;
    scope->depth = p.depth + 1;
    scope->name = std::move(name);
    buildDimensions(*scope, limits, now);
    m_scopes.push_back(std::move(scope));
    return m_scopes.back()->id;
}

void Ledger::buildDimensions(Scope& scope, const std::vector<LimitSpec>& limits, TimePoint now)
{
    if (limits.size() > static_cast<std::size_t>(kMaxDimensions)) {
        throw std::invalid_argument("scope '" + scope.name + "': at most " +
                                    std::to_string(kMaxDimensions) + " limits");
    }
    for (std::size_t i = 0; i < limits.size(); ++i) {
        if (auto problem = limits[i].validate(); !problem.empty()) {
            throw std::invalid_argument("scope '" + scope.name + "', limit " + std::to_string(i) +
                                        " (" + std::string(measureName(limits[i].measure)) +
                                        "): " + problem);
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (limits[j].sameDimensionAs(limits[i]) && limits[j].period == limits[i].period) {
                throw std::invalid_argument("scope '" + scope.name + "', limit " +
                                            std::to_string(i) + ": duplicates limit " +
                                            std::to_string(j));
            }
        }
    }

    // Match each new spec to an old dimension: the same period first, then
    // the same measure and window, so usage follows the dimension it belongs to.
    std::array<Dimension, kMaxDimensions> old = scope.dims;
    std::array<bool, kMaxDimensions> taken{};
    std::array<int, kMaxDimensions> match{};
    match.fill(-1);
    for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t i = 0; i < limits.size(); ++i) {
            if (match[i] >= 0) {
                continue;
            }
            for (int j = 0; j < scope.count; ++j) {
                const auto uj = static_cast<std::size_t>(j);
                if (!taken[uj] && old[uj].spec.sameDimensionAs(limits[i]) &&
                    (pass == 1 || old[uj].spec.period == limits[i].period)) {
                    match[i] = j;
                    taken[uj] = true;
                    break;
                }
            }
        }
    }

    const std::uint64_t epoch = ++m_epoch;
    for (std::size_t i = 0; i < limits.size(); ++i) {
        Dimension d;
        d.spec = limits[i];
        d.kind = d.spec.measure == Measure::Concurrency ? Dimension::Kind::Concurrency
                 : d.spec.window == Window::Fixed      ? Dimension::Kind::Fixed
                                                       : Dimension::Kind::Rolling;
        d.measure = static_cast<std::uint8_t>(d.spec.measure);
        d.index = static_cast<std::int16_t>(i);
        d.cap = d.spec.capacity();
        d.limit = d.spec.limit;
        d.unit = d.spec.period.count();
        d.tau = i128{d.spec.capacity()} * d.unit;
        d.bornEpoch = epoch;
        d.marginNs = m_arrivalMarginNs;
        d.baseMarginNs = m_arrivalMarginNs;
        d.marginPer10k = kStartMarginPer10k;
        d.marginChangedAt = now;
        d.marginNsChangedAt = now;
        d.tat = d.scaledNow(now);
        d.window = windowIndex(d.spec, now);
        if (match[i] >= 0) {
            const Dimension& o = old[static_cast<std::size_t>(match[i])];
            d.bornEpoch = o.bornEpoch;
            d.marginNs = o.marginNs;
            d.marginPer10k = o.marginPer10k;
            d.marginChangedAt = o.marginChangedAt;
            d.marginNsChangedAt = o.marginNsChangedAt;
            if (d.rolling() && o.rolling()) {
                d.burstHalvings = o.burstHalvings;
                d.paced = o.paced;
                d.applyBurstHalvings();
            }
            d.inFlight = o.inFlight;
            if (d.rolling()) {
                // Debt is (units used) × period, whatever the limit: carry the
                // units, re-expressed in the new period, rounding against us.
                const i128 oldDebt = o.debt(now);
                const i128 newDebt = o.unit == d.unit ? oldDebt : ceilDiv(oldDebt * d.unit, o.unit);
                d.tat = d.scaledNow(now) + newDebt;
            } else if (d.spec.measure != Measure::Concurrency) {
                d.used = o.window == windowIndex(o.spec, now) ? o.used : 0;
            }
        }
        scope.dims[i] = d;
    }
    for (std::size_t i = limits.size(); i < scope.dims.size(); ++i) {
        scope.dims[i] = Dimension{};
    }
    scope.count = static_cast<int>(limits.size());
    const auto end = scope.dims.begin() + scope.count;
    const auto firstOther =
        std::stable_partition(scope.dims.begin(), end, [](const Dimension& d) { return d.rolling(); });
    scope.rolling = static_cast<int>(firstOther - scope.dims.begin());
}

void Ledger::setLimits(ScopeId id, const std::vector<LimitSpec>& limits, TimePoint now)
{
    Scope& scope = scopeAt(id);
    if (scope.removed) {
        throw std::invalid_argument("scope '" + scope.name + "' was removed");
    }
    buildDimensions(scope, limits, now);
}

void Ledger::removeScope(ScopeId id)
{
    if (id == root()) {
        throw std::invalid_argument("the global scope cannot be removed");
    }
    scopeAt(id).removed = true;
    for (ScopeId child : children(id)) {
        removeScope(child);
    }
}

std::optional<ScopeId> Ledger::findScope(ScopeId parent, std::string_view name) const
{
    for (const auto& s : m_scopes) {
        if (s->parent == parent && !s->removed && s->name == name) {
            return s->id;
        }
    }
    return std::nullopt;
}

std::vector<ScopeId> Ledger::children(ScopeId id) const
{
    std::vector<ScopeId> out;
    for (const auto& s : m_scopes) {
        if (s->parent == id && !s->removed) {
            out.push_back(s->id);
        }
    }
    return out;
}

Path Ledger::pathTo(ScopeId leaf) const
{
    Path path;
    const Scope* s = &scopeAt(leaf);
    path.depth = s->depth;
    for (int i = s->depth - 1; i >= 0; --i) {
        path.scopes[static_cast<std::size_t>(i)] = s->id;
        if (s->parent != kNoScope) {
            s = m_scopes[s->parent].get();
        }
    }
    return path;
}

std::int64_t Ledger::windowIndex(const LimitSpec& spec, TimePoint t) const noexcept
{
    if (spec.window != Window::Fixed || spec.period <= Duration::zero()) {
        return 0;
    }
    const i128 local = i128{nanos(t)} + m_wallMinusSteady.count() + spec.utcOffset.count();
    return static_cast<std::int64_t>(floorDiv(local, spec.period.count()));
}

TimePoint Ledger::windowStart(const LimitSpec& spec, std::int64_t index) const noexcept
{
    const i128 wall = i128{index} * spec.period.count() - spec.utcOffset.count();
    return fromNanos(clampToInt64(wall - m_wallMinusSteady.count()));
}

// What the dimensions of a path have said so far. Bindings are kept as
// pointers while scanning and copied out once, at the end.
struct Ledger::Verdicts {
    struct Ref {
        const Dimension* dim = nullptr;
        ScopeId scope = kNoScope;
        int index = -1;
        std::int64_t requested = 0;

        Binding binding() const
        {
            if (dim == nullptr) {
                return {};
            }
            return Binding{scope,           static_cast<std::int16_t>(index), dim->spec.measure, dim->spec.window,
                           dim->spec.period, dim->spec.limit, dim->cap, requested};
        }
    };
    bool never = false;
    bool rateWaits = false;
    bool concurrencyFull = false;
    double headroom = 1.0;
    TimePoint latest{};
    Ref neverRef;
    Ref rateRef;
    Ref concurrencyRef;

    Check result() const
    {
        Check c;
        if (never) {
            c.verdict = Verdict::Never;
            c.binding = neverRef.binding();
        } else if (!rateWaits && !concurrencyFull) {
            c.headroom = headroom;
        } else {
            c.verdict = Verdict::Wait;
            c.notBefore = latest;
            c.waitsForRelease = concurrencyFull;
            c.binding = rateWaits ? rateRef.binding() : concurrencyRef.binding();
            c.releaseBinding = concurrencyRef.binding();
        }
        return c;
    }
};

void Ledger::evaluate(const Dimension& d, ScopeId scope, int index, std::int64_t amount,
                      TimePoint now, Verdicts& acc) const
{
    if (amount <= 0) {
        return;  // costs nothing here, so it cannot be refused here
    }
    // A rolling bucket takes a request larger than its burst when it is
    // full (going into debt), as providers do: only a request above the
    // whole per-period limit can never be sent.
    if (amount > (d.rolling() ? d.limit : d.cap)) {
        acc.never = true;
        acc.neverRef = {&d, scope, index, amount};
        return;
    }
    const auto roomLeft = [&](double left, double capacity) {
        if (capacity > 0) {
            acc.headroom = std::min(acc.headroom, left / capacity);
        }
    };
    if (d.kind == Dimension::Kind::Concurrency) {
        if (d.inFlight + amount > d.cap) {
            if (!acc.concurrencyFull) {
                acc.concurrencyFull = true;
                acc.concurrencyRef = {&d, scope, index};
            }
        } else {
            roomLeft(static_cast<double>(d.cap - d.inFlight - amount), static_cast<double>(d.cap));
        }
        return;
    }
    TimePoint earliest;
    if (d.kind == Dimension::Kind::Rolling) {
        const i128 s = d.scaledNow(now);
        const i128 newTat = std::max(d.tat, s) + i128{std::min(amount, d.cap)} * d.unit;
        const i128 tau = d.tau + burstSlack(d, amount);
        if (newTat - s <= tau) {
            roomLeft(static_cast<double>(std::max<i128>(d.tau - (newTat - s), 0)), static_cast<double>(d.tau));
            return;
        }
        // Refusal means tat > s; the bucket fits from the first scaled time
        // s' with tat + amount × unit − s' ≤ tau, i.e. at ceil(deficit /
        // limit) ns. That is later than the latest time found so far exactly
        // when deficit > latest × limit, which spares the 128-bit division
        // for every dimension that does not bind last.
        const i128 deficit = newTat - tau;
        if (acc.rateWaits && deficit <= i128{acc.latest.time_since_epoch().count()} * d.spec.limit) {
            return;
        }
        earliest = fromNanos(clampToInt64(ceilDiv(deficit, d.spec.limit)));
    } else {
        const std::int64_t w = windowIndex(d.spec, now);
        const std::int64_t used = w == d.window ? d.used : 0;
        if (used + amount <= d.cap) {
            roomLeft(static_cast<double>(d.cap - used - amount), static_cast<double>(d.cap));
            return;
        }
        earliest = windowStart(d.spec, w + 1);
    }
    if (!acc.rateWaits || earliest > acc.latest) {
        acc.rateWaits = true;
        acc.latest = earliest;
        acc.rateRef = {&d, scope, index};
    }
}

Check Ledger::evaluatePath(const Path& path, const Amounts& amounts, TimePoint now) const
{
    Verdicts acc;
    for (int i = 0; i < path.depth; ++i) {
        const ScopeId id = path.scopes[static_cast<std::size_t>(i)];
        const Scope& s = *m_scopes[id];
        if (s.removed) {
            Check gone;
            gone.verdict = Verdict::Never;
            gone.binding.scope = id;
            return gone;
        }
        for (int k = 0; k < s.count; ++k) {
            const Dimension& d = s.dims[static_cast<std::size_t>(k)];
            evaluate(d, id, d.index, amounts[d.measure], now, acc);
            if (acc.never) {
                return acc.result();
            }
        }
    }
    return acc.result();
}

Ledger::Amounts Ledger::amountsOf(const Cost& cost) noexcept
{
    static_assert(static_cast<int>(Measure::Concurrency) == 0 && static_cast<int>(Measure::SpendMicroUsd) == 5);
    return Amounts{cost.weight, cost.requests, cost.inputTokens, cost.outputTokens,
                   cost.inputTokens + cost.outputTokens, cost.spendMicroUsd};
}

Check Ledger::check(const Path& path, const Cost& cost, TimePoint now) const
{
    return evaluatePath(path, amountsOf(cost), now);
}

// One pass that both checks and computes each dimension's new state; the
// new states are written only once every dimension has admitted. On the
// first refusal it hands over to evaluatePath for the exact answer.
Check Ledger::admit(const Path& path, const Cost& cost, TimePoint now, Hold& hold)
{
    struct PendingRate {
        Dimension* dim;
        i128 tat;
    };
    struct PendingOther {
        Dimension* dim;
        std::int64_t window;
        std::int64_t used;
    };
    constexpr auto kMax = static_cast<std::size_t>(Path::kMaxDepth * kMaxDimensions);
    std::array<PendingRate, kMax> rates;
    std::array<PendingOther, kMax> others;
    std::size_t nRates = 0;
    std::size_t nOthers = 0;
    const Amounts amounts = amountsOf(cost);
    for (int i = 0; i < path.depth; ++i) {
        Scope& s = *m_scopes[path.scopes[static_cast<std::size_t>(i)]];
        if (s.removed) {
            return evaluatePath(path, amounts, now);
        }
        for (int k = 0; k < s.rolling; ++k) {
            Dimension& d = s.dims[static_cast<std::size_t>(k)];
            const std::int64_t amount = amounts[d.measure];
            if (amount <= 0) {
                continue;
            }
            // Margin and burst steps change no usage, so they may be taken
            // before the request is known to fit.
            updateMargin(d, now);
            const i128 sNow = d.scaledNow(now);
            const i128 base = std::max(d.tat, sNow);
            if (amount > d.limit ||
                base + i128{std::min(amount, d.cap)} * d.unit - sNow > d.tau + burstSlack(d, amount)) {
                return evaluatePath(path, amounts, now);
            }
            rates[nRates++] = PendingRate{&d, base + i128{amount} * d.unit + marginFor(d, amount)};
        }
        for (int k = s.rolling; k < s.count; ++k) {
            Dimension& d = s.dims[static_cast<std::size_t>(k)];
            const std::int64_t amount = amounts[d.measure];
            if (amount <= 0) {
                continue;
            }
            if (d.kind == Dimension::Kind::Concurrency) {
                if (d.inFlight + amount > d.cap) {
                    return evaluatePath(path, amounts, now);
                }
                others[nOthers++] = PendingOther{&d, 0, d.inFlight + amount};
                continue;
            }
            const std::int64_t w = windowIndex(d.spec, now);
            const std::int64_t used = (w == d.window ? d.used : 0) + amount;
            if (used > d.cap) {
                return evaluatePath(path, amounts, now);
            }
            others[nOthers++] = PendingOther{&d, w, used};
        }
    }
    for (std::size_t i = 0; i < nRates; ++i) {
        rates[i].dim->tat = rates[i].tat;
    }
    for (std::size_t i = 0; i < nOthers; ++i) {
        Dimension& d = *others[i].dim;
        if (d.kind == Dimension::Kind::Concurrency) {
            d.inFlight = others[i].used;
        } else {
            d.window = others[i].window;
            d.used = others[i].used;
        }
    }
    hold.path = path;
    hold.cost = cost;
    hold.epoch = m_epoch;
    hold.at = now;
    return Check{};
}

void Ledger::adjust(Dimension& d, std::int64_t reserved, std::int64_t actual, const Hold& hold,
                    TimePoint now)
{
    const bool sawHold = d.bornEpoch <= hold.epoch;
    if (d.spec.measure == Measure::Concurrency) {
        if (sawHold) {
            d.inFlight = std::max<std::int64_t>(d.inFlight - reserved, 0);
        }
        return;
    }
    const std::int64_t delta = sawHold ? actual - reserved : actual;
    if (delta == 0) {
        return;
    }
    if (d.rolling()) {
        const i128 s = d.scaledNow(now);
        // A refund never fills the bucket past full; an extra debit may push
        // it past its capacity, and then it binds until that drains.
        d.tat = delta > 0 ? std::max(d.tat, s) + i128{delta} * d.unit
                          : std::max(d.tat + i128{delta} * d.unit, s);
        return;
    }
    const std::int64_t w = windowIndex(d.spec, now);
    if (sawHold && windowIndex(d.spec, hold.at) != w) {
        return;  // the window the hold was counted in is over
    }
    if (w != d.window) {
        d.window = w;
        d.used = 0;
    }
    d.used = std::max<std::int64_t>(d.used + delta, 0);
}

void Ledger::settle(const Hold& hold, const Cost& actual, TimePoint now)
{
    for (int i = 0; i < hold.path.depth; ++i) {
        const ScopeId id = hold.path.scopes[static_cast<std::size_t>(i)];
        if (id >= m_scopes.size()) {
            continue;
        }
        Scope& s = *m_scopes[id];
        for (int k = 0; k < s.count; ++k) {
            Dimension& d = s.dims[static_cast<std::size_t>(k)];
            adjust(d, hold.cost.amount(d.spec.measure), actual.amount(d.spec.measure), hold, now);
        }
    }
}

void Ledger::departed(const Hold& hold, TimePoint leftAt)
{
    if (leftAt <= hold.at) {
        return;
    }
    const Amounts amounts = amountsOf(hold.cost);
    for (int i = 0; i < hold.path.depth; ++i) {
        const ScopeId id = hold.path.scopes[static_cast<std::size_t>(i)];
        if (id >= m_scopes.size() || m_scopes[id]->removed) {
            continue;
        }
        Scope& s = *m_scopes[id];
        for (int k = 0; k < s.rolling; ++k) {
            Dimension& d = s.dims[static_cast<std::size_t>(k)];
            const std::int64_t amount = amounts[d.measure];
            if (amount <= 0 || d.bornEpoch > hold.epoch) {
                continue;
            }
            // A bucket in debt at leftAt counted it behind earlier ones
            // anyway; only one with room refills from the late arrival.
            d.tat = std::max(d.tat, d.scaledNow(leftAt) + i128{amount} * d.unit + marginFor(d, amount));
        }
    }
}

void Ledger::cancel(const Hold& hold, TimePoint now)
{
    settle(hold, Cost{0, 0, 0, 0, 0}, now);
}

bool Ledger::correct(ScopeId id, Measure measure, const ProviderView& view, TimePoint now)
{
    Scope& scope = scopeAt(id);
    Dimension* target = nullptr;
    for (int k = 0; k < scope.count; ++k) {
        Dimension& d = scope.dims[static_cast<std::size_t>(k)];
        if (d.rolling() && d.spec.measure == measure && d.spec.limit > 0) {
            // Providers' headers describe their per-minute bucket.
            if (target == nullptr || d.spec.period == std::chrono::minutes(1)) {
                target = &d;
            }
        }
    }
    if (target == nullptr) {
        return false;
    }
    Dimension& d = *target;
    // The provider's bucket may be larger than ours (we may model finer
    // enforcement with a smaller burst), so what carries over is headroom:
    // we may not have more room than the provider says remains.
    std::optional<std::int64_t> remaining = view.remaining;
    if (!remaining && view.timeToFull && view.limit && d.spec.period > Duration::zero()) {
        const i128 refilled = i128{view.timeToFull->count()} * *view.limit / d.spec.period.count();
        remaining = std::max<std::int64_t>(0, *view.limit - clampToInt64(refilled));
    }
    i128 providerDebt = 0;
    if (remaining) {
        const std::int64_t usedEquivalent = d.cap - std::min(*remaining, d.cap);
        providerDebt = i128{usedEquivalent} * d.unit;
    } else if (view.timeToFull && *view.timeToFull > Duration::zero()) {
        providerDebt = std::min(i128{view.timeToFull->count()} * d.spec.limit, d.tau);
    }
    const i128 floor = d.scaledNow(now) + providerDebt;
    if (floor <= d.tat) {
        return false;
    }
    d.tat = floor;
    return true;
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
                out.per10k[static_cast<std::size_t>(i)][static_cast<std::size_t>(d.index)] = d.marginPer10k;
                out.leastOf[static_cast<std::size_t>(i)][static_cast<std::size_t>(d.index)] = Duration(d.marginNs);
            }
        }
    }
    return out;
}

Ledger::LearnedDims Ledger::learned(ScopeId id) const
{
    LearnedDims out;
    const Scope& s = scopeAt(id);
    for (int k = 0; k < s.rolling; ++k) {
        const Dimension& d = s.dims[static_cast<std::size_t>(k)];
        if (d.marginNs > 0) {
            out[static_cast<std::size_t>(d.index)] = Learned{d.burstHalvings, d.paced, d.marginPer10k, Duration(d.marginNs)};
        }
    }
    return out;
}

ScopeState Ledger::snapshot(ScopeId id, TimePoint now) const
{
    const Scope& s = scopeAt(id);
    ScopeState out;
    out.id = s.id;
    out.parent = s.parent;
    out.name = s.name;
    out.removed = s.removed;
    out.dimensions.resize(static_cast<std::size_t>(s.count));
    for (int k = 0; k < s.count; ++k) {
        const Dimension& d = s.dims[static_cast<std::size_t>(k)];
        DimensionState& ds = out.dimensions[static_cast<std::size_t>(d.index)];
        ds.spec = d.spec;
        if (d.spec.measure == Measure::Concurrency) {
            ds.used = d.inFlight;
        } else if (d.rolling()) {
            const i128 debt = d.debt(now);
            // The level holds the arrival margins too; what is shown as used
            // is the units alone, so a lane running at the provider's limit
            // reads full, not a margin over (or, as a rate, short).
            const i128 perUnit = i128{d.unit} + marginFor(d, 1);
            ds.used = perUnit > 0 ? clampToInt64(ceilDiv(debt, perUnit)) : 0;
            ds.timeToFull = d.spec.limit > 0 ? Duration(clampToInt64(ceilDiv(debt, d.spec.limit)))
                                             : Duration::zero();
        } else {
            const std::int64_t w = windowIndex(d.spec, now);
            ds.used = w == d.window ? d.used : 0;
            ds.timeToFull = ds.used > 0 ? windowStart(d.spec, w + 1) - now : Duration::zero();
        }
        ds.available = std::max<std::int64_t>(d.spec.capacity() - ds.used, 0);
    }
    return out;
}

}  // namespace sluice
