#include "admission/admission.h"

#include <algorithm>
#include <utility>

namespace sluice {

Reservation::Reservation(Reservation&& other) noexcept
    : m_owner(std::exchange(other.m_owner, nullptr)), m_hold(other.m_hold)
{
}

Reservation& Reservation::operator=(Reservation&& other) noexcept
{
    if (this != &other) {
        if (m_owner != nullptr) {
            m_owner->cancel(std::move(*this));
        }
        m_owner = std::exchange(other.m_owner, nullptr);
        m_hold = other.m_hold;
    }
    return *this;
}

Reservation::~Reservation()
{
    if (m_owner != nullptr) {
        m_owner->cancel(std::move(*this));
    }
}

Admission* Reservation::release() noexcept
{
    return std::exchange(m_owner, nullptr);
}

struct Admission::Waiter {
    enum class State : std::uint8_t { Waiting, Granted, Never };

    Path path;
    Cost cost;
    int priority = 0;
    std::uint64_t seq = 0;
    State state = State::Waiting;
    // Queued behind a waiter bound on a scope of this path: wait for the
    // pass that serves that one rather than for a time.
    bool behind = false;
    Check last{};
    Hold hold{};
};

Admission::Admission(Clock& clock, SharedBudget* shared, Duration arrivalMargin)
    : m_clock(clock),
      m_ledger(std::chrono::duration_cast<Duration>(clock.wallNow().time_since_epoch()) -
                   clock.now().time_since_epoch(),
               arrivalMargin),
      m_shared(shared)
{
    m_clockSubscription = m_clock.subscribe([this] {
        std::lock_guard guard(m_mutex);
        notifyAllLocked();
    });
}

Admission::~Admission()
{
    m_clockSubscription = ClockSubscription();
}

ScopeId Admission::addScope(ScopeId parent, std::string name, const std::vector<LimitSpec>& limits)
{
    std::lock_guard guard(m_mutex);
    const std::string copy = m_shared != nullptr ? name : std::string();
    const ScopeId id = m_ledger.addScope(parent, std::move(name), limits, m_clock.now());
    if (m_shared != nullptr) {
        m_shared->scopeAdded(id, parent, copy, limits);
    }
    return id;
}

void Admission::setLimits(ScopeId scope, const std::vector<LimitSpec>& limits)
{
    std::lock_guard guard(m_mutex);
    m_ledger.setLimits(scope, limits, m_clock.now());
    if (m_shared != nullptr) {
        m_shared->limitsChanged(scope, limits);
    }
    wakeWaiters();
}

void Admission::removeScope(ScopeId scope)
{
    std::lock_guard guard(m_mutex);
    m_ledger.removeScope(scope);
    if (m_shared != nullptr) {
        m_shared->scopeRemoved(scope);
    }
    wakeWaiters();
}

std::optional<ScopeId> Admission::findScope(ScopeId parent, std::string_view name) const
{
    std::lock_guard guard(m_mutex);
    return m_ledger.findScope(parent, name);
}

Path Admission::pathTo(ScopeId leaf) const
{
    std::lock_guard guard(m_mutex);
    return m_ledger.pathTo(leaf);
}

Decision Admission::toDecision(const Check& c)
{
    Decision d;
    d.verdict = c.verdict;
    d.notBefore = c.notBefore;
    d.waitsForRelease = c.waitsForRelease;
    d.binding = c.binding;
    d.releaseBinding = c.releaseBinding;
    return d;
}

// The first queued waiter still waiting on a scope of `path`: overtaking it
// would take capacity it is waiting for.
const Admission::Waiter* Admission::blockerFor(const Path& path) const
{
    for (const Waiter* w : m_waiters) {
        if (w->state == Waiter::State::Waiting && w->last.verdict == Verdict::Wait &&
            path.contains(w->last.binding.scope)) {
            return w;
        }
    }
    return nullptr;
}

Decision Admission::tryAcquire(const Path& path, const Cost& cost)
{
    return tryAcquireAt(path, cost, m_clock.now());
}

Decision Admission::tryAcquireAt(const Path& path, const Cost& cost, TimePoint now)
{
    std::lock_guard guard(m_mutex);
    if (!m_waiters.empty()) {
        if (const Waiter* blocker = blockerFor(path)) {
            Check c = m_ledger.check(path, cost, now);
            if (c.verdict != Verdict::Never) {
                c.verdict = Verdict::Wait;
                c.notBefore = std::max(c.notBefore, blocker->last.notBefore);
                c.waitsForRelease = c.waitsForRelease || blocker->last.waitsForRelease;
                if (c.binding.scope == kNoScope) {
                    c.binding = blocker->last.binding;
                }
            }
            return toDecision(c);
        }
    }
    // The ledger writes the hold straight into the reservation returned.
    Decision d;
    const Check c = admitLocked(path, cost, now, d.reservation.m_hold);
    d.verdict = c.verdict;
    if (c.verdict == Verdict::Admit) {
        d.reservation.m_owner = this;
        return d;
    }
    d.notBefore = c.notBefore;
    d.waitsForRelease = c.waitsForRelease;
    d.binding = c.binding;
    d.releaseBinding = c.releaseBinding;
    return d;
}

// The local ledger first (cheap, and it knows what can never fit), then the
// instances sharing the budget; a shared refusal gives the local debit back.
Check Admission::admitLocked(const Path& path, const Cost& cost, TimePoint now, Hold& hold)
{
    Check c = m_ledger.admit(path, cost, now, hold);
    if (m_shared == nullptr || c.verdict != Verdict::Admit) {
        return c;
    }
    std::uint64_t tag = 0;
    Check s = m_shared->admit(path, cost, now, m_ledger.margins(path), tag);
    if (s.verdict != Verdict::Admit) {
        m_ledger.cancel(hold, now);
        hold = Hold{};
        return s;
    }
    hold.sharedTag = tag;
    return c;
}

void Admission::settleLocked(const Hold& hold, const Cost& actual, TimePoint now, const Cost* sharedActual)
{
    m_ledger.settle(hold, actual, now);
    if (m_shared != nullptr && hold.sharedTag != 0) {
        m_shared->settle(hold, sharedActual != nullptr ? *sharedActual : actual, now);
    }
}

Check Admission::check(const Path& path, const Cost& cost) const
{
    std::lock_guard guard(m_mutex);
    return m_ledger.check(path, cost, m_clock.now());
}

// Serves the queue in order. A waiter that cannot fit blocks the scope it is
// bound on for everyone behind it, so a stream of small requests cannot
// starve a large one; waiters on other scopes go ahead.
bool Admission::runPass(TimePoint now)
{
    bool served = false;
    std::vector<ScopeId> blocked;
    for (auto it = m_waiters.begin(); it != m_waiters.end();) {
        Waiter& w = **it;
        const bool behind = std::any_of(blocked.begin(), blocked.end(),
                                        [&](ScopeId s) { return w.path.contains(s); });
        w.behind = behind;
        if (behind) {
            ++it;
            continue;
        }
        w.last = admitLocked(w.path, w.cost, now, w.hold);
        if (w.last.verdict == Verdict::Wait) {
            blocked.push_back(w.last.binding.scope);
            ++it;
            continue;
        }
        w.state = w.last.verdict == Verdict::Admit ? Waiter::State::Granted : Waiter::State::Never;
        it = m_waiters.erase(it);
        served = true;
    }
    return served;
}

void Admission::wakeWaiters()
{
    if (!m_waiters.empty()) {
        runPass(m_clock.now());
        notifyAllLocked();
    }
}

void Admission::notifyAllLocked()
{
    ++m_wakeGeneration;
    m_parked = 0;
    m_cv.notify_all();
}

Acquisition Admission::acquire(const Path& path, const Cost& cost, std::optional<TimePoint> deadline,
                               std::stop_token stop, int priority)
{
    Waiter self;
    self.path = path;
    self.cost = cost;
    self.priority = priority;

    // Registered before taking the lock: if stop was already requested the
    // callback runs here, and it takes the lock itself.
    std::stop_callback onStop(stop, [this] {
        std::lock_guard guard(m_mutex);
        notifyAllLocked();
    });

    std::unique_lock lock(m_mutex);
    self.seq = m_nextSeq++;
    const auto pos = std::find_if(m_waiters.begin(), m_waiters.end(),
                                  [&](const Waiter* w) { return w->priority < priority; });
    m_waiters.insert(pos, &self);
    if (runPass(m_clock.now())) {
        notifyAllLocked();
    }

    Acquisition out;
    while (self.state == Waiter::State::Waiting) {
        const TimePoint now = m_clock.now();
        if (stop.stop_requested()) {
            out.status = AcquireStatus::Cancelled;
            break;
        }
        if (deadline && now >= *deadline) {
            out.status = AcquireStatus::DeadlineExceeded;
            break;
        }
        // A waiter that knows when it fits wakes then; one waiting for a
        // release or behind another waiter is woken by the pass that frees it.
        TimePoint wake = deadline.value_or(TimePoint::max());
        if (!self.behind && self.last.verdict == Verdict::Wait && !self.last.waitsForRelease) {
            wake = std::min(wake, self.last.notBefore);
        }
        // Bounded so a clock that is never advanced cannot wedge a thread
        // forever on a dropped notification.
        wake = std::min(wake, now + std::chrono::seconds(60));
        if (wake > now) {
            const std::uint64_t generation = m_wakeGeneration;
            ++m_parked;
            m_clock.waitUntil(m_cv, lock, wake);
            if (generation == m_wakeGeneration) {
                --m_parked;  // woke by itself (timeout or spuriously)
            }
        }
        if (self.state == Waiter::State::Waiting && runPass(m_clock.now())) {
            notifyAllLocked();  // the pass may have served others too
        }
    }

    if (self.state == Waiter::State::Waiting) {
        m_waiters.remove(&self);
        // Leaving may unblock those queued behind.
        wakeWaiters();
        out.binding = self.last.binding;
        return out;
    }
    out.binding = self.last.binding;
    if (self.state == Waiter::State::Never) {
        out.status = AcquireStatus::Never;
        return out;
    }
    out.status = AcquireStatus::Acquired;
    out.reservation = Reservation(this, self.hold);
    return out;
}

void Admission::finish(Reservation&& reservation, const Cost& actual, const Cost* sharedActual)
{
    if (reservation.m_owner != this) {
        return;
    }
    const Hold hold = reservation.m_hold;
    reservation.release();
    std::lock_guard guard(m_mutex);
    settleLocked(hold, actual, m_clock.now(), sharedActual);
    wakeWaiters();
}

void Admission::settle(Reservation&& reservation, const Cost& actual)
{
    finish(std::move(reservation), actual, nullptr);
}

void Admission::settleRateLimited(Reservation&& reservation)
{
    const Cost& c = reservation.cost();
    // Spend is not the provider's to count: only requests and tokens stay.
    const Cost kept{c.requests, c.inputTokens, c.outputTokens, 0, c.weight};
    const Cost refunded{0, 0, 0, 0, c.weight};
    finish(std::move(reservation), refunded, &kept);
}

void Admission::cancel(Reservation&& reservation)
{
    finish(std::move(reservation), Cost{0, 0, 0, 0, 0}, nullptr);
}

bool Admission::correct(ScopeId scope, Measure measure, const ProviderView& view, std::optional<TimePoint> asOf)
{
    std::lock_guard guard(m_mutex);
    const TimePoint now = m_clock.now();
    return m_ledger.correct(scope, measure, view, asOf ? std::min(*asOf, now) : now);
}

bool Admission::widenMargin(ScopeId scope)
{
    std::lock_guard guard(m_mutex);
    const TimePoint now = m_clock.now();
    const bool changed = m_ledger.widenMargin(scope, now);
    shareLearnedLocked(scope, SharedBudget::Learning::Widened, now);
    return changed;
}

void Admission::shareLearnedLocked(ScopeId scope, SharedBudget::Learning what, TimePoint now)
{
    if (m_shared != nullptr) {
        m_shared->learned(scope, m_ledger.learned(scope), what, now);
    }
}

void Admission::departed(const Reservation& reservation, TimePoint leftAt, bool newConnection)
{
    if (reservation.m_owner != this) {
        return;
    }
    std::lock_guard guard(m_mutex);
    m_ledger.departed(reservation.m_hold, leftAt, newConnection);
    if (m_shared != nullptr && reservation.m_hold.sharedTag != 0) {
        m_shared->departed(reservation.m_hold, leftAt);
    }
}

bool Admission::noteNearMiss(ScopeId scope, Duration hint)
{
    std::lock_guard guard(m_mutex);
    const TimePoint now = m_clock.now();
    const bool changed = m_ledger.noteNearMiss(scope, hint, now);
    shareLearnedLocked(scope, SharedBudget::Learning::NearMiss, now);
    return changed;
}

bool Admission::paceEvenly(ScopeId scope)
{
    std::lock_guard guard(m_mutex);
    const TimePoint now = m_clock.now();
    const bool changed = m_ledger.paceEvenly(scope, now);
    shareLearnedLocked(scope, SharedBudget::Learning::Paced, now);
    return changed;
}

bool Admission::windowThePeriod(ScopeId scope)
{
    std::lock_guard guard(m_mutex);
    return m_ledger.windowThePeriod(scope, m_clock.now());
}

bool Admission::paced(ScopeId scope) const
{
    std::lock_guard guard(m_mutex);
    return m_ledger.paced(scope);
}

ScopeState Admission::snapshot(ScopeId scope) const
{
    std::lock_guard guard(m_mutex);
    return m_ledger.snapshot(scope, m_clock.now());
}

std::vector<ScopeState> Admission::snapshotAll() const
{
    std::lock_guard guard(m_mutex);
    std::vector<ScopeState> out;
    out.reserve(m_ledger.scopeCount());
    const TimePoint now = m_clock.now();
    for (ScopeId id = 0; id < m_ledger.scopeCount(); ++id) {
        out.push_back(m_ledger.snapshot(id, now));
    }
    return out;
}

std::size_t Admission::waiting() const
{
    std::lock_guard guard(m_mutex);
    return m_waiters.size();
}

std::size_t Admission::parked() const
{
    std::lock_guard guard(m_mutex);
    return m_parked;
}

}  // namespace sluice
