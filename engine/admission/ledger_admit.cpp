// Check, admit, settle and departure: the arithmetic each request passes.
#include "admission/ledger_internal.h"

#include <array>

namespace sluice {

using namespace ledger_detail;

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
        const i128 newTat = std::max(d.tat, s) + i128{std::min(amount, d.cap)} * d.unit + ownMargin(d, amount);
        const i128 tau = d.tau + burstSlack(d, amount);
        const TimePoint windowAt = d.windowed() ? windowRoom(d, amount, now) : now;
        if (newTat - s <= tau) {
            if (windowAt <= now) {
                roomLeft(static_cast<double>(std::max<i128>(d.tau - (newTat - s), 0)), static_cast<double>(d.tau));
                return;
            }
            earliest = windowAt;
        } else {
            // Refusal means tat > s; the bucket fits from the first scaled
            // time s' with tat + amount × unit − s' ≤ tau, i.e. at
            // ceil(deficit / limit) ns. That is later than the latest time
            // found so far exactly when deficit > latest × limit, which
            // spares the 128-bit division for every dimension that does not
            // bind last.
            const i128 deficit = newTat - tau;
            if (acc.rateWaits && windowAt <= acc.latest &&
                deficit <= i128{acc.latest.time_since_epoch().count()} * d.spec.limit) {
                return;
            }
            earliest = std::max(fromNanos(clampToInt64(ceilDiv(deficit, d.spec.limit))), windowAt);
        }
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
                base + i128{std::min(amount, d.cap)} * d.unit + ownMargin(d, amount) - sNow > d.tau + burstSlack(d, amount) ||
                (d.windowed() && windowRoom(d, amount, now) > now)) {
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
    const std::uint64_t serial = ++m_serial;
    for (std::size_t i = 0; i < nRates; ++i) {
        rates[i].dim->tat = rates[i].tat;
        logAdmitted(*rates[i].dim, serial, amounts[rates[i].dim->measure], now);
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
    hold = Hold{path, cost, m_epoch, now, hold.sharedTag, serial};
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
        if (sawHold && d.windowed()) {
            logCorrected(d, hold.serial, delta);
        }
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

void Ledger::departed(const Hold& hold, TimePoint leftAt, bool newConnection)
{
    if (leftAt <= hold.at && !newConnection) {
        return;
    }
    leftAt = std::max(leftAt, hold.at);
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
            d.tat = std::max(d.tat, d.scaledNow(leftAt) + i128{amount} * d.unit +
                                        departureMargin(d, amount, newConnection));
            if (d.windowed()) {
                logDeparted(d, hold.serial, leftAt);
            }
        }
    }
}

void Ledger::cancel(const Hold& hold, TimePoint now)
{
    settle(hold, Cost{0, 0, 0, 0, 0}, now);
}

}  // namespace sluice
