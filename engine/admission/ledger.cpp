#include "admission/ledger_internal.h"

#include "core/numbers.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace sluice {

using namespace ledger_detail;

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

Ledger::Ledger(Duration wallMinusSteady, Duration arrivalMargin, bool windowLogs)
    : m_wallMinusSteady(wallMinusSteady), m_arrivalMarginNs(std::max<std::int64_t>(arrivalMargin.count(), 0)),
      m_windowLogs(windowLogs)
{
    auto root = std::make_unique<Scope>();
    root->id = 0;
    root->depth = 1;
    root->name = "global";
    m_scopes.push_back(std::move(root));
}

Ledger::~Ledger() = default;

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

void Ledger::validateLimits(const std::string& scopeName, const std::vector<LimitSpec>& limits)
{
    if (limits.size() > static_cast<std::size_t>(kMaxDimensions)) {
        throw std::invalid_argument("scope '" + scopeName + "': at most " + std::to_string(kMaxDimensions) +
                                    " limits");
    }
    for (std::size_t i = 0; i < limits.size(); ++i) {
        if (auto problem = limits[i].validate(); !problem.empty()) {
            throw std::invalid_argument("scope '" + scopeName + "', limit " + std::to_string(i) + " (" +
                                        std::string(measureName(limits[i].measure)) + "): " + problem);
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (limits[j].sameDimensionAs(limits[i]) && limits[j].period == limits[i].period) {
                throw std::invalid_argument("scope '" + scopeName + "', limit " + std::to_string(i) +
                                            ": duplicates limit " + std::to_string(j));
            }
        }
    }
}

// Match each new spec to an old dimension: the same period first, then the
// same measure and window, so usage follows the dimension it belongs to.
std::array<int, Ledger::kMaxDimensions> Ledger::matchOld(const Scope& scope, const std::vector<LimitSpec>& limits)
{
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
                const LimitSpec& old = scope.dims[uj].spec;
                if (!taken[uj] && old.sameDimensionAs(limits[i]) && (pass == 1 || old.period == limits[i].period)) {
                    match[i] = j;
                    taken[uj] = true;
                    break;
                }
            }
        }
    }
    return match;
}

Ledger::Dimension Ledger::freshDimension(const LimitSpec& spec, std::size_t index, std::uint64_t epoch,
                                         TimePoint now) const
{
    Dimension d;
    d.spec = spec;
    d.kind = spec.measure == Measure::Concurrency ? Dimension::Kind::Concurrency
             : spec.window == Window::Fixed       ? Dimension::Kind::Fixed
                                                  : Dimension::Kind::Rolling;
    d.measure = static_cast<std::uint8_t>(spec.measure);
    d.index = static_cast<std::int16_t>(index);
    d.cap = spec.capacity();
    d.limit = spec.limit;
    d.unit = spec.period.count();
    d.tau = i128{spec.capacity()} * d.unit;
    d.bornEpoch = epoch;
    d.logsWindow = m_windowLogs;
    d.marginNs = m_arrivalMarginNs;
    d.baseMarginNs = m_arrivalMarginNs;
    d.marginPer10k = kMarginPer10k;
    d.marginChangedAt = now;
    d.marginNsChangedAt = now;
    d.tat = d.scaledNow(now);
    if (d.rolling()) {
        startPayback(d, now);
    }
    d.window = windowIndex(spec, now);
    return d;
}

void Ledger::carryOver(Dimension& d, const Dimension& o, TimePoint now) const
{
    d.bornEpoch = o.bornEpoch;
    d.marginNs = o.marginNs;
    d.marginPer10k = o.marginPer10k;
    d.marginChangedAt = o.marginChangedAt;
    d.paybackPer10k = o.paybackPer10k;
    d.paybackUntil = o.paybackUntil;
    d.marginNsChangedAt = o.marginNsChangedAt;
    if (d.rolling() && o.rolling()) {
        d.burstHalvings = o.burstHalvings;
        d.paced = o.paced;
        d.pacedNarrowings = o.pacedNarrowings;
        d.applyBurstHalvings();
        // The window keeps what it was sent, whatever its new limit.
        d.log = o.log;
        d.logHead = o.logHead;
        d.logSum = o.logSum;
        d.wholePeriod = o.wholePeriod;
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

void Ledger::buildDimensions(Scope& scope, const std::vector<LimitSpec>& limits, TimePoint now)
{
    validateLimits(scope.name, limits);
    const std::array<int, kMaxDimensions> match = matchOld(scope, limits);
    const std::array<Dimension, kMaxDimensions> old = scope.dims;
    const std::uint64_t epoch = ++m_epoch;
    for (std::size_t i = 0; i < limits.size(); ++i) {
        Dimension d = freshDimension(limits[i], i, epoch, now);
        if (match[i] >= 0) {
            carryOver(d, old[static_cast<std::size_t>(match[i])], now);
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
            ds.burstInForce = d.cap;
            ds.paced = d.paced;
            ds.marginPer10k = d.sharePer10k();
            ds.leastMargin = Duration(d.marginNs);
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
