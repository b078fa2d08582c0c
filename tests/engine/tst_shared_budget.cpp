// RedisBudget behind Admission, on a real redis-server: instances sharing a
// namespace never admit more than one limit's worth together; most
// admissions come from the local lease; a concurrency slot freed by one
// instance reaches another; when Redis goes away, local_share admits each
// instance's share and stop admits nothing, both said loudly; when it comes
// back the instances rejoin without a restart. Signals published by one
// instance reach the others.
#include "admission/admission.h"
#include "config/config.h"
#include "mock/sliding_window.h"
#include "shared/redis_budget.h"
#include "shared/signal_bus.h"
#include "support/redis_server.h"

#include <QtTest>

#include <atomic>
#include <mutex>

using namespace sluice;
using namespace sluice::shared;
using namespace std::chrono_literals;

namespace {

struct Instance {
    std::vector<std::string> said;
    std::unique_ptr<RedisBudget> budget;
    std::unique_ptr<Admission> admission;
    std::vector<Reservation> held;

    // clockTime: the script reads the test's clock, so refill and quiet
    // periods follow the ManualClock (both instances share it).
    // bookAhead zero: every wait is polled, so a refused admission writes
    // nothing (for tests that count what a drain leaves).
    Instance(Clock& clock, const RedisEndpoint& e, const std::string& ns, WhenUnavailable when,
             const std::vector<LimitSpec>& global, bool clockTime = false,
             Duration bookAhead = RedisBudgetOptions{}.bookAhead)
    {
        RedisBudgetOptions o;
        o.ns = ns;
        o.whenUnavailable = when;
        o.backgroundThread = false;
        o.clockTime = clockTime;
        o.bookAhead = bookAhead;
        // Long enough that no lease lapses while a test runs, however slow
        // the machine (lapsing is tst_shared_script's subject).
        o.leaseTime = std::chrono::seconds(60);
        o.say = [this](const std::string& s) { said.push_back(s); };
        budget = std::make_unique<RedisBudget>(clock, e, o);
        admission = std::make_unique<Admission>(clock, budget.get());
        admission->setLimits(Admission::root(), global);
        admission->addScope(Admission::root(), "openai");
    }
    ~Instance()
    {
        held.clear();
        admission.reset();
    }
    Path path() const { return admission->pathTo(*admission->findScope(Admission::root(), "openai")); }
    Decision tryOne(Cost cost = Cost{})
    {
        Decision d = admission->tryAcquire(path(), cost);
        return d;
    }
    // Admits until refused; returns how many.
    int drain(Cost cost = Cost{})
    {
        int n = 0;
        for (;;) {
            Decision d = tryOne(cost);
            if (d.verdict != Verdict::Admit) {
                return n;
            }
            held.push_back(std::move(d.reservation));
            ++n;
        }
    }
    // Admits one and keeps it; returns whether it was admitted.
    bool takeOne()
    {
        Decision d = tryOne();
        if (d.verdict != Verdict::Admit) {
            return false;
        }
        held.push_back(std::move(d.reservation));
        return true;
    }
    // Every request held ends having used what it reserved (clearing
    // `held` would cancel them instead: a refund this instance keeps as
    // local credit, which a count of what the script admits must not see).
    void settleAll()
    {
        for (Reservation& r : held) {
            const Cost used = r.cost();
            admission->settle(std::move(r), used);
        }
        held.clear();
    }
    bool saidSomething(const std::string& word) const
    {
        for (const std::string& s : said) {
            if (s.find(word) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
};

// How long after t0 `in` is told to wait before sending `tokens` input
// tokens; Duration::min() when it is not told to wait.
Duration waitOf(Instance& in, std::int64_t tokens, TimePoint t0)
{
    const Decision d = in.tryOne(Cost{1, tokens, 0, 0, 1});
    return d.verdict == Verdict::Wait ? d.notBefore - t0 : Duration::min();
}

// Instances sharing one window of 1,000 input tokens a second (60,000 a
// minute, a burst of 950), paced by the first two seconds ago: the window
// it took as full then has emptied.
struct PacedWindow {
    ManualClock clock;
    std::vector<std::unique_ptr<Instance>> in;

    PacedWindow(const RedisEndpoint& e, const std::string& ns, int instances)
    {
        const std::vector<LimitSpec> limits{perMinute(Measure::InputTokens, 60'000, 950)};
        for (int i = 0; i < instances; ++i) {
            in.push_back(std::make_unique<Instance>(clock, e, ns, WhenUnavailable::LocalShare, limits, true));
        }
        paced = in.front()->admission->paceEvenly(Admission::root());
        clock.advance(std::chrono::seconds(2));
    }
    // Admits `tokens` on `from` and has the request leave at once, its
    // entry sent to Redis; the request stays held. Whether it was admitted.
    bool sendNow(Instance& from, std::int64_t tokens)
    {
        Decision d = from.tryOne(Cost{1, tokens, 0, 0, 1});
        if (d.verdict != Verdict::Admit) {
            return false;
        }
        from.admission->departed(d.reservation, clock.now());
        from.budget->flushLog();
        from.held.push_back(std::move(d.reservation));
        return true;
    }
    bool paced = false;
};

}  // namespace

class TestSharedBudget : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        try {
            m_redis = std::make_unique<testing::RedisServerFixture>();
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
    }
    void cleanupTestCase() { m_redis.reset(); }
    void init()
    {
        m_redis->start();
        RedisConnection(m_redis->endpoint()).checked({"FLUSHALL"});
    }

    // Each instance is configured with the full limit; together they admit
    // it once. Without sharing they would admit it twice.
    void instancesShareOneLimit()
    {
        ManualClock clock;
        Instance a(clock, m_redis->endpoint(), "share", WhenUnavailable::LocalShare, {perMinute(Measure::Requests, 300)});
        Instance b(clock, m_redis->endpoint(), "share", WhenUnavailable::LocalShare, {perMinute(Measure::Requests, 300)});
        a.budget->tick();
        b.budget->tick();
        QCOMPARE(b.budget->status().instances, std::int64_t{2});
        const auto began = std::chrono::steady_clock::now();
        int total = 0;
        bool aOpen = true;
        bool bOpen = true;
        while (aOpen || bOpen) {
            if (aOpen) {
                Decision d = a.tryOne();
                aOpen = d.verdict == Verdict::Admit;
                total += aOpen;
                if (aOpen) {
                    a.held.push_back(std::move(d.reservation));
                } else {
                    QVERIFY(!d.waitsForRelease);
                    QVERIFY(d.notBefore > clock.now());
                }
            }
            if (bOpen) {
                Decision d = b.tryOne();
                bOpen = d.verdict == Verdict::Admit;
                total += bOpen;
                if (bOpen) {
                    b.held.push_back(std::move(d.reservation));
                }
            }
        }
        // The server's clock refills 5 per second while this runs.
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
        const int refill = static_cast<int>(took * 5.0) + 1;
        QVERIFY2(total >= 300 && total <= 300 + refill,
                 qPrintable(QStringLiteral("%1 admitted, refill up to %2").arg(total).arg(refill)));
        QVERIFY(std::abs(static_cast<int>(a.held.size()) - static_cast<int>(b.held.size())) < 60);
        const SharedStatus s = a.budget->status();
        // The local lease: most admissions never left the process.
        QVERIFY2(s.localAdmissions > 3 * s.remoteCalls,
                 qPrintable(QStringLiteral("%1 local, %2 remote").arg(s.localAdmissions).arg(s.remoteCalls)));
    }

    // The shared bucket is debited with the arrival margin the local ledger
    // has in force (10% of a request's refill time while a full bucket's
    // burst is paid back, the learned share after it: the floor, doubled
    // by a near miss), so instances sharing a limit keep the same distance
    // from the provider's bucket as one alone. Read from Redis: the debt
    // (µs × limit) each admission added.
    void sharedDebitsCarryTheLedgersMargin()
    {
        ManualClock clock;
        RedisBudgetOptions o;
        o.ns = "margin";
        o.backgroundThread = false;
        o.leaseTime = std::chrono::seconds(60);
        o.sliceDivisor = 0;  // one script per admission: each debit is one request's
        o.bookAhead = Duration::zero();  // each debit taken as it is admitted, with the margin then
        o.say = [](const std::string&) {};
        RedisBudget budget(clock, m_redis->endpoint(), o);
        Admission admission(clock, &budget);
        admission.setLimits(Admission::root(), {perMinute(Measure::Requests, 600, 10)});
        const ScopeId scope = admission.addScope(Admission::root(), "openai");
        const Path path = admission.pathTo(scope);
        RedisConnection c(m_redis->endpoint());
        const std::string key = "{margin}:b:global|requests|rolling|60000000";
        const std::int64_t unit = 60'000'000;  // one request's refill time × limit, in µs × limit
        struct State {
            std::int64_t t = 0;
            std::int64_t debt = 0;
        };
        const auto state = [&]() {
            const RedisReply r = c.checked({"HMGET", key, "t", "d"});
            return State{r.integerAt(0), r.integerAt(1)};
        };
        std::vector<Reservation> held;
        const auto take = [&]() {
            Decision d = admission.tryAcquire(path, Cost{});
            while (d.verdict == Verdict::Wait) {
                clock.advanceTo(d.notBefore);
                d = admission.tryAcquire(path, Cost{});
            }
            QCOMPARE(d.verdict, Verdict::Admit);
            held.push_back(std::move(d.reservation));
        };
        take();
        QCOMPARE(state().debt, unit + unit * Ledger::kPaybackPer10k / 10'000);

        // Busy at the rate until the burst is paid back: then the floor.
        const TimePoint paidBack = clock.now() + std::chrono::seconds(12);
        while (clock.now() < paidBack) {
            take();
        }
        State before = state();
        take();
        State after = state();
        std::int64_t drained = std::max<std::int64_t>(before.debt - (after.t - before.t) * 600, 0);
        QCOMPARE(after.debt, drained + unit + unit * Ledger::kMarginPer10k / 10'000);

        // A near miss doubles the margin; the next debit carries it.
        QVERIFY(admission.widenMargin(Admission::root()));
        before = after;
        take();
        after = state();
        drained = std::max<std::int64_t>(before.debt - (after.t - before.t) * 600, 0);
        QCOMPARE(after.debt, drained + unit + unit * 2 * Ledger::kMarginPer10k / 10'000);
    }

    // A 429 that A's ledger learned from (a burst narrowed, a wider margin)
    // narrows B's next admissions at once, though B never saw a 429: the
    // shared script enforces what any instance learned, as one ledger
    // seeing every instance's 429s would. A quiet period with no 429 (the
    // limit's period, as the ledger's rule) undoes a step. On the test's
    // clock, so every count is exact:
    //  - 600 RPM with a burst of 10: one request is 1 unit of debt plus its
    //    margin (10% of a unit while a full bucket's burst is paid back,
    //    the larger of the instances' shares), and a burst may spend the
    //    margin's share of the whole bucket as slack.
    //  - A's one request leaves 1.1 units. Halved to 5, with 0.5 units of
    //    slack, B fits 4 more (5.5 units); unlearned, B would fit 9 (the
    //    burst of 10 with 1 unit of slack).
    void aLearnedNarrowingReachesB()
    {
        ManualClock clock;
        const std::vector<LimitSpec> limits{perMinute(Measure::Requests, 600, 10)};
        Instance a(clock, m_redis->endpoint(), "learn", WhenUnavailable::LocalShare, limits, true, Duration::zero());
        Instance b(clock, m_redis->endpoint(), "learn", WhenUnavailable::LocalShare, limits, true, Duration::zero());
        QVERIFY(a.takeOne());
        // The provider refused a request at a pace A allowed.
        QVERIFY(a.admission->widenMargin(Admission::root()));
        QCOMPARE(a.budget->status().learnedSent, std::uint64_t{1});
        QCOMPARE(b.drain(), 4);
        QCOMPARE(b.budget->status().learnedSent, std::uint64_t{0});  // B learned nothing itself
        b.settleAll();

        // Within the quiet period the narrowing holds: 5 from a full bucket.
        clock.advance(30s);
        QCOMPARE(b.drain(), 5);
        b.settleAll();
        // One period with no 429 since: the burst is whole again, the
        // margin B's own (paying a full bucket's burst back).
        clock.advance(30s);
        QCOMPARE(b.drain(), 10);
    }

    // Control for the above: without A's lesson B fits the rest of the
    // burst after A's request (the old behaviour; what the test above
    // would count without a shared lesson).
    void withoutALessonBBurstsFully()
    {
        ManualClock clock;
        const std::vector<LimitSpec> limits{perMinute(Measure::Requests, 600, 10)};
        Instance a(clock, m_redis->endpoint(), "nolesson", WhenUnavailable::LocalShare, limits, true);
        Instance b(clock, m_redis->endpoint(), "nolesson", WhenUnavailable::LocalShare, limits, true);
        QVERIFY(a.takeOne());
        QCOMPARE(b.drain(), 9);
    }

    // A 429 that says the provider counts a window: A paces the key+model
    // evenly, and so does B from its next admission: one request, then the
    // next after 1/rate less the catch-up slack (92 ms at 600 RPM: 1.02
    // units of debt, 0.1 units of slack, 0.1 s per unit), never a burst,
    // and not relaxed by quiet periods (the ledger never relaxes pacing);
    // the lesson is kept in Redis for an hour after the last 429.
    void aWindowPacesB()
    {
        ManualClock clock;
        const std::vector<LimitSpec> limits{perMinute(Measure::Requests, 600, 10)};
        Instance a(clock, m_redis->endpoint(), "pace", WhenUnavailable::LocalShare, limits, true);
        Instance b(clock, m_redis->endpoint(), "pace", WhenUnavailable::LocalShare, limits, true);
        QVERIFY(a.admission->paceEvenly(Admission::root()));
        QCOMPARE(b.drain(), 1);
        Decision d = b.tryOne();
        QCOMPARE(d.verdict, Verdict::Wait);
        QCOMPARE(d.notBefore - clock.now(), Duration(92ms));
        clock.advance(92ms);
        QCOMPARE(b.drain(), 1);  // and the next slot booked
        b.settleAll();
        clock.advance(10min);
        b.budget->tick();  // the booked slot went unused: given back as idle
        QCOMPARE(b.drain(), 1);
        RedisConnection c(m_redis->endpoint());
        const std::int64_t ttl = c.checked({"PTTL", "{pace}:b:global|requests|rolling|60000000|learned"}).integer();
        QVERIFY2(ttl > 3'800'000 && ttl <= 64 * 60'000, qPrintable(QString::number(ttl)));  // 64 periods: more than kKeepLearnedMs
    }

    // A request the provider refused for a rate limit (a 429) counted
    // nothing there, but stays counted in the shared pace: refunded, it
    // became A's local credit and went out at once, beside B's next shared
    // slot, into a window with room for one of them; the one refused
    // refunded in turn, and so on (a storm of 429s with two gateways against
    // a sliding window). A's own ledger still refunds it.
    void aRateLimitedRequestStaysCountedInTheSharedPace()
    {
        ManualClock clock;
        const std::vector<LimitSpec> limits{perMinute(Measure::Requests, 600, 10)};
        Instance a(clock, m_redis->endpoint(), "refused", WhenUnavailable::LocalShare, limits, true);
        Instance b(clock, m_redis->endpoint(), "refused", WhenUnavailable::LocalShare, limits, true);
        QVERIFY(a.admission->paceEvenly(Admission::root()));
        Decision sent = a.tryOne();
        QCOMPARE(sent.verdict, Verdict::Admit);
        clock.advance(5ms);
        a.admission->settleRateLimited(std::move(sent.reservation));
        QCOMPARE(a.admission->check(a.path(), Cost{}).verdict, Verdict::Admit);  // A's ledger refunded it
        const Decision aWaits = a.tryOne();
        QCOMPARE(aWaits.verdict, Verdict::Wait);
        // The pace's next slot, about a tenth of a second after the refused
        // request (aWindowPacesB); B's the one after it: A asked first.
        QVERIFY(aWaits.notBefore - clock.now() >= 80ms && aWaits.notBefore - clock.now() <= 100ms);
        const Decision bWaits = b.tryOne();
        QCOMPARE(bWaits.verdict, Verdict::Wait);
        QVERIFY(bWaits.notBefore - aWaits.notBefore >= 90ms);
        clock.advanceTo(aWaits.notBefore);
        QCOMPARE(b.tryOne().verdict, Verdict::Wait);
        QCOMPARE(a.drain(), 1);
        clock.advanceTo(bWaits.notBefore);
        QCOMPARE(b.drain(), 1);
        a.settleAll();
        b.settleAll();
    }

    // A request that left 20 ms after it was admitted (a slow connection, a
    // busy loop) moves the shared pace on by as much, less lateDeparture,
    // once the heartbeat sends it: the other instance's next slot is 19 ms
    // later than beside one that left on time, so requests a window later
    // keep their spacing from when it left. A lateness within
    // lateDeparture moves nothing.
    void aLateDepartureMovesTheSharedPaceOn()
    {
        const std::vector<LimitSpec> limits{perMinute(Measure::Requests, 600, 1)};
        const auto nextSlot = [&](const std::string& ns, Duration late) {
            ManualClock clock;
            Instance a(clock, m_redis->endpoint(), ns, WhenUnavailable::LocalShare, limits, true);
            Instance b(clock, m_redis->endpoint(), ns, WhenUnavailable::LocalShare, limits, true);
            const TimePoint start = clock.now();
            [&] { QVERIFY(a.takeOne()); }();
            a.admission->departed(a.held.front(), start + late);
            clock.advance(30ms);
            a.budget->tick();
            const Decision d = b.tryOne();
            [&] { QCOMPARE(d.verdict, Verdict::Wait); }();
            a.settleAll();
            return d.notBefore - start;
        };
        const Duration onTime = nextSlot("ontime", Duration::zero());
        QVERIFY2(onTime > 90ms && onTime <= 110ms, qPrintable(QString::number(onTime.count())));
        // Beyond lateDeparture, 1 ms.
        QCOMPARE(nextSlot("late", 20ms), onTime + 19ms);
        QCOMPARE(nextSlot("slightly", 1ms), onTime);
    }

    // The same for a booked slot taken late (its key was cooling down after
    // a 429), 100 ms slots: taken 50 ms late, it goes then, the latest of
    // the pace, and the next slot is a spacing after it (not 50 ms after,
    // beside it). 300 ms late, past its own refill time, it is let go and
    // the request asks for a slot of its own (one more script call): taken
    // it would go between the slots booked since.
    void aBookedSlotTakenLateMovesThePaceOn()
    {
        const std::vector<LimitSpec> limits{perMinute(Measure::Requests, 600, 1)};
        struct After {
            Duration next;
            std::uint64_t calls;
        };
        const auto nextAfterTaken = [&](const std::string& ns, Duration late) {
            ManualClock clock;
            Instance a(clock, m_redis->endpoint(), ns, WhenUnavailable::LocalShare, limits, true);
            Instance b(clock, m_redis->endpoint(), ns, WhenUnavailable::LocalShare, limits, true);
            [&] { QVERIFY(a.takeOne()); }();
            const Decision booked = b.tryOne();  // B's ledger admits it; the shared pace books it
            [&] { QCOMPARE(booked.verdict, Verdict::Wait); }();
            clock.advanceTo(booked.notBefore + late);
            const std::uint64_t before = b.budget->status().remoteCalls;
            [&] { QVERIFY(b.takeOne()); }();
            const std::uint64_t calls = b.budget->status().remoteCalls - before;
            const Decision d = a.tryOne();
            [&] { QCOMPARE(d.verdict, Verdict::Wait); }();
            a.settleAll();
            b.settleAll();
            return After{d.notBefore - clock.now(), calls};
        };
        const After onTime = nextAfterTaken("slot-ontime", Duration::zero());
        QVERIFY2(onTime.next > 90ms && onTime.next <= 110ms, qPrintable(QString::number(onTime.next.count())));
        QCOMPARE(onTime.calls, std::uint64_t{0});
        const After late = nextAfterTaken("slot-late", 50ms);
        QVERIFY2(late.next >= 100ms && late.next <= 110ms, qPrintable(QString::number(late.next.count())));
        QCOMPARE(late.calls, std::uint64_t{0});
        const After stale = nextAfterTaken("slot-stale", 300ms);
        QVERIFY2(stale.next >= 90ms && stale.next <= 110ms, qPrintable(QString::number(stale.next.count())));
        QCOMPARE(stale.calls, std::uint64_t{1});
    }

    // Two instances sharing a token limit that the provider counts in a
    // sliding second: once paced, every admission of either is an entry of
    // the shared window log, so together they never put more in a second
    // than it holds. Requests of 40 to 520 tokens, counted as reserved (as
    // OpenAI counts a prompt and max_tokens); one in five leaves 4 ms after
    // its admission, a booked slot is taken up to 9 ms late (both move the
    // entry later), and arrivals come 0 to 3 ms after they left. Paced
    // without the log (a shared GCRA at the rate, as before), the provider
    // refused 69 of about 1,200.
    void pacedTokensFromTwoInstancesNeverOverfillASlidingWindow()
    {
        ManualClock clock;
        const std::vector<LimitSpec> limits{perMinute(Measure::InputTokens, 360'000, 5'700)};
        Instance a(clock, m_redis->endpoint(), "window", WhenUnavailable::LocalShare, limits, true);
        Instance b(clock, m_redis->endpoint(), "window", WhenUnavailable::LocalShare, limits, true);
        const TimePoint start = clock.now();
        // Pacing starts on a 429: the provider's window is full then.
        QVERIFY(a.admission->paceEvenly(Admission::root()));
        mock::SlidingWindow provider(360'000, 1s, 6'000, start);
        provider.take(6'000, start);

        struct Flying {
            TimePoint settleAt;
            Instance* in;
            Reservation r;
            std::int64_t used;
        };
        std::vector<Flying> flying;
        TimePoint nextTick = start + 100ms;
        // Settles and heartbeats due before t, in time order, then the clock to t.
        const auto runUntil = [&](TimePoint t) {
            for (;;) {
                auto due = std::min_element(flying.begin(), flying.end(),
                                            [](const Flying& x, const Flying& y) { return x.settleAt < y.settleAt; });
                const TimePoint settleAt = due == flying.end() ? TimePoint::max() : due->settleAt;
                const TimePoint next = std::min(settleAt, nextTick);
                if (next > t) {
                    break;
                }
                clock.advanceTo(std::max(next, clock.now()));
                if (next == nextTick) {
                    a.budget->tick();
                    b.budget->tick();
                    nextTick += 100ms;
                } else {
                    Cost used = due->r.cost();
                    used.inputTokens = due->used;
                    due->in->admission->settle(std::move(due->r), used);
                    due->in->budget->flushLog();
                    flying.erase(due);
                }
            }
            clock.advanceTo(std::max(t, clock.now()));
        };

        std::array<Instance*, 2> who{&a, &b};
        std::array<TimePoint, 2> nextTry{start, start + 3ms};
        const std::array<Duration, 5> late{0ms, 9ms, 1ms, 4ms, 0ms};
        const std::array<Duration, 4> trip{1ms, 3ms, 0ms, 2ms};
        std::int64_t sent = 0;
        std::int64_t refused = 0;
        std::int64_t admitted = 0;
        std::array<std::int64_t, 2> size{0, 0};
        std::size_t started = 0;
        TimePoint last = start;
        for (std::size_t i = 0; clock.now() < start + 60s; ++i) {
            const std::size_t k = nextTry[0] <= nextTry[1] ? 0 : 1;
            runUntil(nextTry[k]);
            const TimePoint t = clock.now();
            if (size[k] == 0) {  // a new request; its size stays while it waits
                size[k] = 40 + static_cast<std::int64_t>((started++ * 7919) % 481);
            }
            Decision d = who[k]->admission->tryAcquire(who[k]->path(), Cost{1, size[k], 0, 0, 1});
            if (d.verdict != Verdict::Admit) {
                QCOMPARE(d.verdict, Verdict::Wait);
                nextTry[k] = std::max(d.notBefore, t) + late[i % late.size()];
                continue;
            }
            ++admitted;
            const TimePoint leftAt = t + (admitted % 5 == 0 ? 4ms : 0ms);
            who[k]->admission->departed(d.reservation, leftAt);
            who[k]->budget->flushLog();  // as the background thread does when woken
            const TimePoint arrives = leftAt + trip[i % trip.size()];
            nextTry[k] = t;
            if (provider.waitFor(size[k], arrives) > Duration::zero()) {
                ++refused;
                who[k]->admission->settleRateLimited(std::move(d.reservation));
                continue;
            }
            provider.take(size[k], arrives);
            sent += size[k];
            last = t;
            flying.push_back(Flying{arrives + 300ms, who[k], std::move(d.reservation), size[k]});
            size[k] = 0;
        }
        runUntil(clock.now() + 1s);
        QCOMPARE(refused, std::int64_t{0});
        // Both sent: the shared log books them in turn.
        QVERIFY(a.budget->status().remoteCalls > 100 && b.budget->status().remoteCalls > 100);
        const double perSecond = static_cast<double>(sent) / std::chrono::duration<double>(last - (start + 1s)).count();
        QVERIFY2(perSecond >= 0.93 * 6'000, qPrintable(QString::number(perSecond)));
        qInfo("two instances: %.0f tokens/s of 6,000 (%lld admitted)", perSecond, static_cast<long long>(admitted));
    }

    // The shared window holds a request from when it left and, once it
    // settled, at its real size: B sees both of A's corrections. 1,000
    // tokens a second, a window of one second and the 6 ms least margin.
    void aSharedWindowCountsARequestFromWhenItLeftAtItsRealSize()
    {
        ManualClock clock;
        const std::vector<LimitSpec> limits{perMinute(Measure::InputTokens, 60'000, 950)};
        Instance a(clock, m_redis->endpoint(), "logfix", WhenUnavailable::LocalShare, limits, true);
        Instance b(clock, m_redis->endpoint(), "logfix", WhenUnavailable::LocalShare, limits, true);
        QVERIFY(a.admission->paceEvenly(Admission::root()));
        // Pacing starts with the window taken as full, for a window.
        QCOMPARE(waitOf(b, 10, clock.now()), Duration(1006ms + 1us));
        clock.advance(2s);
        b.budget->returnUnused();
        const TimePoint t0 = clock.now();
        Decision big = a.tryOne(Cost{1, 900, 0, 0, 1});
        QCOMPARE(big.verdict, Verdict::Admit);
        a.admission->departed(big.reservation, t0 + 300ms);
        a.budget->flushLog();
        clock.advance(950ms);
        // 900 + 500 is more than the window's 995: until a window after A's
        // request left.
        QCOMPARE(waitOf(b, 500, t0), Duration(300ms + 1006ms + 1us));
        b.budget->returnUnused();  // the slot it booked, given back
        // A's request used 400: the window now holds 400, and 500 fits.
        Cost used = big.reservation.cost();
        used.inputTokens = 400;
        a.admission->settle(std::move(big.reservation), used);
        a.budget->flushLog();
        clock.advance(1ms);
        QCOMPARE(b.tryOne(Cost{1, 500, 0, 0, 1}).verdict, Verdict::Admit);
    }

    // A request admitted but not yet gone holds its place: once its time
    // has passed, the others count it as leaving no earlier than now (at
    // most 50 ms after its time), until its instance says when it left. A
    // slot booked from its admission time would put a request beside it.
    void aRequestNotYetGoneCountsFromNow()
    {
        PacedWindow w(m_redis->endpoint(), "pending", 4);
        QVERIFY(w.paced);
        ManualClock& clock = w.clock;
        Instance& a = *w.in[0];
        Instance& b = *w.in[1];
        Instance& c = *w.in[2];
        Instance& d = *w.in[3];
        const TimePoint t0 = clock.now();
        Decision big = a.tryOne(Cost{1, 900, 0, 0, 1});
        QCOMPARE(big.verdict, Verdict::Admit);
        // A window (1,006 ms with the least margin) from now, not from t0.
        clock.advance(20ms);
        QCOMPARE(waitOf(b, 500, t0), Duration(20ms + 1006ms + 1us));
        // Still not gone 200 ms on: taken as 50 ms late, no more (C books that).
        clock.advance(180ms);
        QCOMPARE(waitOf(c, 500, t0), Duration(50ms + 1006ms + 1us));
        // Gone at 210 ms: a window from then, beside C's booked 500.
        a.admission->departed(big.reservation, t0 + 210ms);
        a.budget->flushLog();
        clock.advance(20ms);
        QCOMPARE(waitOf(d, 400, t0), Duration(210ms + 1006ms + 1us));
        a.settleAll();
    }

    // A booked slot taken 80 ms late, used whole: its entry moves to when
    // it was taken, so the others count it from then (not from its slot
    // plus the 50 ms a request not yet gone is allowed).
    void aBookedSlotTakenLateMovesItsEntry()
    {
        PacedWindow w(m_redis->endpoint(), "booked", 3);
        QVERIFY(w.paced);
        ManualClock& clock = w.clock;
        Instance& b = *w.in[0];
        Instance& a = *w.in[1];
        Instance& c = *w.in[2];
        const TimePoint t0 = clock.now();
        QVERIFY(w.sendNow(b, 900));
        clock.advance(10ms);
        // A's 500 is booked for when B's 900 leaves the window.
        const TimePoint slot = t0 + waitOf(a, 500, t0);
        QCOMPARE(slot - t0, Duration(1006ms + 1us));
        clock.advanceTo(slot + 80ms);
        Decision late = a.tryOne(Cost{1, 500, 0, 0, 1});
        QCOMPARE(late.verdict, Verdict::Admit);
        a.budget->flushLog();
        clock.advance(10ms);
        QCOMPARE(waitOf(c, 600, slot), Duration(90ms + 1006ms + 1us));
    }

    // A dispatcher reads its clock once per turn, and a turn that asks Redis
    // for a dozen requests in a row runs on: a slot booked 12 ms into it
    // counts from when the script ran, not from the turn's start. Counted
    // from the turn's start, two gateways sent it 11 ms before the window
    // had room, one 429 in every two-gateway run against a sliding second.
    void aSlotBookedLateInATurnCountsFromWhenTheScriptRan()
    {
        PacedWindow w(m_redis->endpoint(), "turn", 2);
        QVERIFY(w.paced);
        ManualClock& clock = w.clock;
        Instance& b = *w.in[0];
        Instance& a = *w.in[1];
        const TimePoint t0 = clock.now();
        QVERIFY(w.sendNow(b, 900));
        clock.advance(12ms);
        const Decision booked = a.admission->tryAcquireAt(a.path(), Cost{1, 500, 0, 0, 1}, t0);
        QCOMPARE(booked.verdict, Verdict::Wait);
        QCOMPARE(booked.notBefore - t0, Duration(1006ms + 1us));
    }

    // Two instances waiting for one limit (a request per 100 ms, no burst)
    // take its slots in turn,
    // though A always asks first when a slot comes: each refused admission
    // books the slot it fits (BudgetScript::admit). Polled, both were told
    // the same slot and whichever asked first at it took it: A every slot
    // here, and in a two-gateway run one gateway's requests waited out the
    // 30 s hold while the other's went.
    void waitingInstancesTakeTurns()
    {
        ManualClock clock;
        const std::vector<LimitSpec> limits{perMinute(Measure::Requests, 600, 1)};
        Instance a(clock, m_redis->endpoint(), "turns", WhenUnavailable::LocalShare, limits, true);
        Instance b(clock, m_redis->endpoint(), "turns", WhenUnavailable::LocalShare, limits, true);
        QCOMPARE(a.drain(), 1);
        TimePoint nextA = a.tryOne().notBefore;
        TimePoint nextB = b.tryOne().notBefore;
        int tookA = 0;
        int tookB = 0;
        for (int slot = 0; slot < 40; ++slot) {
            clock.advanceTo(std::min(nextA, nextB));
            // Whoever's wait is over asks, A first; each takes what it is
            // admitted and is told when to ask next.
            for (Instance* who : {&a, &b}) {
                TimePoint& next = who == &a ? nextA : nextB;
                if (next > clock.now()) {
                    continue;
                }
                for (;;) {
                    Decision d = who->tryOne();
                    if (d.verdict != Verdict::Admit) {
                        QCOMPARE(d.verdict, Verdict::Wait);
                        next = d.notBefore;
                        break;
                    }
                    ++(who == &a ? tookA : tookB);
                    const Cost used = d.reservation.cost();
                    who->admission->settle(std::move(d.reservation), used);
                }
            }
        }
        QVERIFY2(tookA + tookB >= 39, qPrintable(QStringLiteral("%1 + %2").arg(tookA).arg(tookB)));
        QVERIFY2(std::abs(tookA - tookB) <= 1, qPrintable(QStringLiteral("%1 against %2").arg(tookA).arg(tookB)));
    }

    // A near miss ("try again in 200ms") widens A's least margin, which
    // spaces a request that takes a whole bucket (50 RPM, a burst of one):
    // B's next debit carries it too, within the 1% of the refill time it
    // may cost (12 ms of 1.2 s), where B's own would be 6 ms.
    void aNearMissWidensBsLeastMargin()
    {
        ManualClock clock;
        const std::vector<LimitSpec> limits{perMinute(Measure::Requests, 50, 1)};
        Instance a(clock, m_redis->endpoint(), "near", WhenUnavailable::LocalShare, limits, true);
        Instance b(clock, m_redis->endpoint(), "near", WhenUnavailable::LocalShare, limits, true);
        RedisConnection c(m_redis->endpoint());
        const std::string key = "{near}:b:global|requests|rolling|60000000";
        const std::int64_t unit = 60'000'000;
        QCOMPARE(b.drain(), 1);
        QCOMPARE(c.checked({"HGET", key, "d"}).integer(), unit + 6'000 * 50);
        clock.advance(2s);
        QVERIFY(a.admission->noteNearMiss(Admission::root(), 200ms));
        QCOMPARE(b.drain(), 1);
        QCOMPARE(c.checked({"HGET", key, "d"}).integer(), unit + 12'000 * 50);
    }

    // A concurrency slot one instance releases reaches the other once the
    // first gives its idle lease back; a shared wait is a poll, not a wait
    // for a local release.
    void concurrencySlotsMoveBetweenInstances()
    {
        ManualClock clock;
        Instance a(clock, m_redis->endpoint(), "conc", WhenUnavailable::LocalShare, {concurrency(2)});
        Instance b(clock, m_redis->endpoint(), "conc", WhenUnavailable::LocalShare, {concurrency(2)});
        QCOMPARE(a.drain(), 2);
        Decision d = b.tryOne();
        QCOMPARE(d.verdict, Verdict::Wait);
        QVERIFY(!d.waitsForRelease);
        a.held.clear();  // both requests end
        // Still leased by a until idle: a takes its slot again locally.
        QCOMPARE(b.tryOne().verdict, Verdict::Wait);
        clock.advance(300ms);
        a.budget->tick();
        QCOMPARE(b.drain(), 2);
        QCOMPARE(a.tryOne().verdict, Verdict::Wait);
    }

    void localShareWhileRedisIsDownThenRejoin()
    {
        ManualClock clock;
        Instance a(clock, m_redis->endpoint(), "down", WhenUnavailable::LocalShare, {perMinute(Measure::Requests, 100)});
        Instance b(clock, m_redis->endpoint(), "down", WhenUnavailable::LocalShare, {perMinute(Measure::Requests, 100)});
        a.budget->tick();
        b.budget->tick();
        a.budget->tick();
        QCOMPARE(a.budget->status().instances, std::int64_t{2});
        QCOMPARE(a.tryOne().verdict, Verdict::Admit);

        m_redis->stop();
        a.budget->tick();  // the heartbeat notices (so does an admission that needs Redis)
        // Half the limit each (two instances last seen), never the whole.
        const int admitted = a.drain();
        QCOMPARE(admitted, 50);
        SharedStatus s = a.budget->status();
        QVERIFY(!s.connected);
        QVERIFY(s.fallback);
        QVERIFY(a.saidSomething("UNAVAILABLE"));
        QVERIFY(a.saidSomething("local_share"));
        a.budget->tick();  // still down: nothing changes, nothing crashes
        QVERIFY(!a.budget->status().connected);

        m_redis->start();
        a.budget->tick();
        s = a.budget->status();
        QVERIFY(s.connected);
        QVERIFY(!s.fallback);
        QCOMPARE(s.rejoins, std::uint64_t{1});
        QVERIFY(a.saidSomething("rejoined"));
        const std::uint64_t before = s.remoteCalls;
        a.held.clear();  // reservations from before settle harmlessly
        QCOMPARE(a.tryOne().verdict, Verdict::Admit);
        QVERIFY(a.budget->status().remoteCalls > before);
    }

    void stopWhileRedisIsDown()
    {
        ManualClock clock;
        Instance a(clock, m_redis->endpoint(), "stop", WhenUnavailable::Stop, {perMinute(Measure::Requests, 100)});
        QCOMPARE(a.tryOne().verdict, Verdict::Admit);
        m_redis->stop();
        a.budget->tick();
        Decision d = a.tryOne();
        QCOMPARE(d.verdict, Verdict::Wait);
        QVERIFY(d.notBefore > clock.now());
        QVERIFY(a.budget->status().stopped);
        QVERIFY(a.saidSomething("stop"));
        m_redis->start();
        a.budget->tick();
        QCOMPARE(a.tryOne().verdict, Verdict::Admit);
    }

    // Starting while Redis is away is not an error: the fallback from the
    // start, then rejoin.
    void startsWithoutRedis()
    {
        ManualClock clock;
        m_redis->stop();
        Instance a(clock, m_redis->endpoint(), "late", WhenUnavailable::LocalShare, {perMinute(Measure::Requests, 10)});
        QVERIFY(a.saidSomething("UNAVAILABLE"));
        QCOMPARE(a.drain(), 10);  // one instance seen: its share is the whole
        m_redis->start();
        a.budget->tick();
        QVERIFY(a.budget->status().connected);
    }

    void configuration()
    {
        const auto load = [](const std::string& shared) {
            const std::string text = "{\n  \"providers\": [{\"name\": \"p\", \"flavor\": \"openai\", "
                                     "\"base_url\": \"http://127.0.0.1:1\", \"keys\": [{\"name\": \"k\", \"env\": \"K\"}]}],\n"
                                     "  \"shared\": " + shared + "\n}\n";
            return loadConfig(JsonSource("c.json", text), [](const std::string& name) -> std::optional<std::string> {
                if (name == "K" || name == "REDIS_PW") {
                    return "secret-value";
                }
                return std::nullopt;
            });
        };
        const Config ok = load("{\"redis\": \"redis://10.0.0.5:6380/2\", \"namespace\": \"team-x\",\n"
                                   "                                   \"when_unavailable\": \"stop\", \"password_env\": \"REDIS_PW\"}");
        QVERIFY(ok.shared.has_value());
        QCOMPARE(ok.shared->host, std::string("10.0.0.5"));
        QCOMPARE(ok.shared->port, 6380);
        QCOMPARE(ok.shared->db, 2);
        QCOMPARE(ok.shared->ns, std::string("team-x"));
        QVERIFY(ok.shared->whenUnavailable == WhenUnavailable::Stop);
        QCOMPARE(std::string(ok.shared->password.view()), std::string("secret-value"));
        const Config defaults = load("{\"redis\": \"redis://localhost\", \"namespace\": \"n\"}");
        QCOMPARE(defaults.shared->port, 6379);
        QVERIFY(defaults.shared->whenUnavailable == WhenUnavailable::LocalShare);

        const auto error = [&](const std::string& shared) {
            try {
                load(shared);
            } catch (const InputError& e) {
                return std::string(e.what());
            }
            return std::string();
        };
        std::string e = error("{\"redis\": \"redis://:pw@host:1/0\", \"namespace\": \"n\"}");
        QVERIFY2(e.find("c.json:3: /shared/redis") != std::string::npos, e.c_str());
        QVERIFY(e.find("pw") == std::string::npos || e.find("password_env") != std::string::npos);
        e = error("{\"redis\": \"redis://h:1\", \"namespace\": \"n\", \"when_unavailable\": \"panic\"}");
        QVERIFY2(e.find("/shared/when_unavailable") != std::string::npos, e.c_str());
        e = error("{\"redis\": \"redis://h:1\", \"namespace\": \"bad name\"}");
        QVERIFY2(e.find("/shared/namespace") != std::string::npos, e.c_str());
        e = error("{\"redis\": \"redis://h:1\", \"namespace\": \"n\", \"password_env\": \"UNSET_VAR\"}");
        QVERIFY2(e.find("UNSET_VAR is not set") != std::string::npos, e.c_str());
        e = error("{\"namespace\": \"n\", \"extra\": 1}");
        QVERIFY2(e.find("/shared") != std::string::npos && e.find("redis") != std::string::npos, e.c_str());
    }

    void signalsReachOtherInstances()
    {
        std::mutex m;
        std::vector<SharedSignal> atB;
        std::vector<SharedSignal> atA;
        SignalBus a(m_redis->endpoint(), "sig", "inst-a", [&](const SharedSignal& s) {
            std::lock_guard g(m);
            atA.push_back(s);
        });
        SignalBus b(m_redis->endpoint(), "sig", "inst-b", [&](const SharedSignal& s) {
            std::lock_guard g(m);
            atB.push_back(s);
        });
        QTRY_VERIFY_WITH_TIMEOUT(a.subscribed() && b.subscribed(), 5000);
        SharedSignal s;
        s.kind = SharedSignal::Kind::CoolDown;
        s.provider = "openai";
        s.key = "team-key";
        s.model = "gpt-4o-mini";
        s.untilWallMs = 1234;
        QVERIFY(a.publish(s));
        SharedSignal l;
        l.kind = SharedSignal::Kind::LimitsLearned;
        l.provider = "openai";
        l.limitsJson = "{\"rpm\":500}";
        QVERIFY(a.publish(l));
        QTRY_VERIFY_WITH_TIMEOUT(([&] { std::lock_guard g(m); return atB.size() == 2; }()), 5000);
        std::lock_guard g(m);
        QCOMPARE(atB[0].kind, SharedSignal::Kind::CoolDown);
        QCOMPARE(atB[0].key, std::string("team-key"));
        QCOMPARE(atB[0].untilWallMs, std::int64_t{1234});
        QCOMPARE(atB[0].origin, std::string("inst-a"));
        QCOMPARE(atB[1].kind, SharedSignal::Kind::LimitsLearned);
        QCOMPARE(atB[1].limitsJson, std::string("{\"rpm\":500}"));
        QVERIFY(atA.empty());  // not echoed to its sender
    }

private:
    std::unique_ptr<testing::RedisServerFixture> m_redis;
};

QTEST_APPLESS_MAIN(TestSharedBudget)
#include "tst_shared_budget.moc"
