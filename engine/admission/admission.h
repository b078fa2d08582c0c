// Admission: decides, for one request, whether it may be sent now against
// every limit on its path (global → provider → key → model), and if not,
// exactly when. Reserve, then settle to real usage.
//
// Thread-safety: every public member may be called from any thread at once;
// one mutex serialises access to the ledger. acquire() blocks the calling
// thread only. An Admission must outlive every Reservation it handed out.
#pragma once

#include "admission/ledger.h"
#include "admission/shared_budget.h"
#include "core/clock.h"

#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

namespace sluice {

class Admission;

// A debit held against the limits of a path. Move-only. Settle it with the
// real usage (Admission::settle) or cancel it; one destroyed unsettled is
// cancelled: a request abandoned before it was sent is refunded in full.
class Reservation {
public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation();

    bool valid() const noexcept { return m_owner != nullptr; }
    const Cost& cost() const noexcept { return m_hold.cost; }
    const Path& path() const noexcept { return m_hold.path; }
    TimePoint admittedAt() const noexcept { return m_hold.at; }

private:
    friend class Admission;
    Reservation(Admission* owner, const Hold& hold) : m_owner(owner), m_hold(hold) {}
    Admission* release() noexcept;

    Admission* m_owner = nullptr;
    Hold m_hold{};
};

struct Decision {
    Verdict verdict = Verdict::Never;
    TimePoint notBefore{};
    bool waitsForRelease = false;
    Binding binding{};
    Binding releaseBinding{};
    Reservation reservation;  // valid exactly when verdict == Admit
};

enum class AcquireStatus : std::uint8_t { Acquired, Never, DeadlineExceeded, Cancelled };

struct Acquisition {
    AcquireStatus status = AcquireStatus::Never;
    Binding binding{};  // Never: what can never fit; otherwise the last wait's binding
    Reservation reservation;
};

class Admission {
public:
    // `shared`, when given, must outlive the Admission: every limit is then
    // enforced across the instances that share it as well as locally.
    // arrivalMargin: see Ledger, spacing for requests that fill a whole
    // bucket. Tests of exact ledger times pass zero.
    // Where the absolute margin starts (near misses widen it): 0.5% of the
    // refill time at 50 RPM, so the start costs little below the 1% cap.
    static constexpr Duration kDefaultArrivalMargin = std::chrono::milliseconds(6);
    explicit Admission(Clock& clock, SharedBudget* shared = nullptr,
                       Duration arrivalMargin = kDefaultArrivalMargin);
    ~Admission();
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;

    static constexpr ScopeId root() noexcept { return Ledger::root(); }
    const Clock& clock() const noexcept { return m_clock; }

    // Scope management; throws std::invalid_argument naming what is wrong.
    ScopeId addScope(ScopeId parent, std::string name, const std::vector<LimitSpec>& limits = {});
    void setLimits(ScopeId scope, const std::vector<LimitSpec>& limits);
    void removeScope(ScopeId scope);
    std::optional<ScopeId> findScope(ScopeId parent, std::string_view name) const;
    Path pathTo(ScopeId leaf) const;

    // Non-blocking. Admit reserves `cost` on every dimension of every scope of
    // the path (dropping the Decision refunds it); Wait and Never reserve
    // nothing. Waiters queued in acquire()
    // keep their place: a request that would overtake one on a shared scope
    // is told to wait.
    [[nodiscard]] Decision tryAcquire(const Path& path, const Cost& cost);
    [[nodiscard]] Decision tryAcquireAt(const Path& path, const Cost& cost, TimePoint now);
    // The same question without reserving anything.
    Check check(const Path& path, const Cost& cost) const;

    // Blocks until the request is admitted, can never be, the deadline
    // passes or stop is requested. Higher priority first; FIFO among equals,
    // so a large request is not starved by a stream of small ones sharing its
    // binding scope.
    [[nodiscard]] Acquisition acquire(const Path& path, const Cost& cost,
                        std::optional<TimePoint> deadline = std::nullopt,
                        std::stop_token stop = {}, int priority = 0);

    // Settles a reservation to what the request really used and releases its
    // concurrency weight. Wakes waiters that may now fit.
    void settle(Reservation&& reservation, const Cost& actual);
    // A request the provider refused for a rate limit (a 429): it counted
    // nothing there, so this instance's ledger refunds it all (the key's
    // cool-down spaces what follows), but a shared budget keeps what it
    // reserved counted. Refunded there, it would become this instance's
    // local credit and go out at once, unpaced, beside another instance's
    // next shared slot, into a limit with room for one of the two: the one
    // refused refunds in turn, and so on, a chain of 429s. Kept (requests
    // and tokens; spend is refunded), it costs the fleet one slot per 429.
    void settleRateLimited(Reservation&& reservation);
    // The reserved request really left at `leftAt`, on a connection it
    // opened itself when newConnection (see Ledger::departed).
    void departed(const Reservation& reservation, TimePoint leftAt, bool newConnection = false);
    void cancel(Reservation&& reservation);

    // Feeds the provider's view of one of its buckets (rate-limit headers).
    // `asOf` is when the provider took that view: the time the request
    // reached it, not when its answer came back, since the bucket has been
    // refilling for the whole response time since (default: now).
    bool correct(ScopeId scope, Measure measure, const ProviderView& view,
                 std::optional<TimePoint> asOf = std::nullopt);

    // See Ledger::widenMargin. With a shared budget, this and noteNearMiss
    // and paceEvenly hand what the ledger learned to it (SharedBudget::learned).
    bool widenMargin(ScopeId scope);
    // See Ledger::noteNearMiss, paceEvenly and paced.
    bool noteNearMiss(ScopeId scope, Duration hint);
    bool paceEvenly(ScopeId scope);
    bool paced(ScopeId scope) const;
    // See Ledger::windowThePeriod.
    bool windowThePeriod(ScopeId scope);

    ScopeState snapshot(ScopeId scope) const;
    std::vector<ScopeState> snapshotAll() const;
    // Requests queued in acquire() right now.
    std::size_t waiting() const;
    // Threads asleep in acquire() that nothing has woken since they fell
    // asleep. Equal to waiting() only when every waiter has seen the latest
    // event, which lets a test drive a manual clock without racing them.
    std::size_t parked() const;

private:
    struct Waiter;
    bool runPass(TimePoint now);  // true when it served any waiter
    static Decision toDecision(const Check& c);
    const Waiter* blockerFor(const Path& path) const;
    void wakeWaiters();
    void notifyAllLocked();
    Check admitLocked(const Path& path, const Cost& cost, TimePoint now, Hold& hold);
    // Settles and wakes waiters; `sharedActual`, when given, is what the
    // shared budget settles to instead of `actual`.
    void finish(Reservation&& reservation, const Cost& actual, const Cost* sharedActual);
    void settleLocked(const Hold& hold, const Cost& actual, TimePoint now, const Cost* sharedActual);
    void shareLearnedLocked(ScopeId scope, SharedBudget::Learning what, TimePoint now);

    Clock& m_clock;
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    Ledger m_ledger;
    SharedBudget* m_shared = nullptr;
    std::list<Waiter*> m_waiters;  // in service order
    std::uint64_t m_nextSeq = 0;
    std::uint64_t m_wakeGeneration = 0;
    std::size_t m_parked = 0;
    ClockSubscription m_clockSubscription;
};

}  // namespace sluice
