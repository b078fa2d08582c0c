// Randomized properties of admission over many generated arrival sequences:
//  - in every sliding window, admitted cost stays within capacity + refill
//    for every rolling dimension of every scope; per-day windows never exceed
//    their limit; concurrency never exceeds its limit;
//  - verdicts agree with an independent floating-point token-bucket model
//    (nothing that fits is refused, nothing that does not fit is admitted);
//  - every "not before T" answer is exact;
//  - with blocking acquire at equal priority, every request that fits is
//    eventually admitted (no starvation).
#include "admission/admission.h"

#include <QtTest>

#include <atomic>
#include <cmath>
#include <map>
#include <queue>
#include <random>
#include <thread>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = TimePoint(Duration(5'000'000'000'000));

struct Event {
    TimePoint at;
    Cost cost;  // what the request really used, counted at admission
};

struct DimRef {
    ScopeId scope;
    LimitSpec spec;
    // Independent reference state: level of a leaky bucket in units.
    long double level = 0;
    TimePoint last{};
    std::int64_t inFlight = 0;
};

LimitSpec randomRolling(std::mt19937_64& rng, Measure m)
{
    std::uniform_int_distribution<int> limitDist(m == Measure::Requests ? 60 : 5'000,
                                                 m == Measure::Requests ? 600 : 200'000);
    std::uniform_int_distribution<int> periodDist(1, 4);
    LimitSpec s;
    s.measure = m;
    s.limit = limitDist(rng);
    s.period = std::chrono::seconds(15 * periodDist(rng));  // 15..60 s
    std::bernoulli_distribution hasBurst(0.5);
    if (hasBurst(rng)) {
        std::uniform_int_distribution<std::int64_t> burstDist(std::max<std::int64_t>(2, s.limit / 5), s.limit);
        s.burst = burstDist(rng);
    }
    return s;
}

// Sum of amounts admitted in [t, t + w) for every admission time t.
bool windowsHold(const std::vector<Event>& events, Measure m, Duration w, long double bound, QString& why)
{
    std::size_t j = 0;
    long double sum = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        while (j < events.size() && events[j].at < events[i].at + w) {
            sum += static_cast<long double>(events[j].cost.amount(m));
            ++j;
        }
        if (sum > bound + 1e-9L) {
            why = QStringLiteral("window of %1 ms from event %2 holds %3 > %4")
                      .arg(std::chrono::duration_cast<std::chrono::milliseconds>(w).count())
                      .arg(i)
                      .arg(static_cast<double>(sum))
                      .arg(static_cast<double>(bound));
            return false;
        }
        sum -= static_cast<long double>(events[i].cost.amount(m));
    }
    return true;
}

}  // namespace

class TestAdmissionProperty : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void ledgerHonoursEveryWindow_data();
    void ledgerHonoursEveryWindow();
    void blockingAcquireStarvesNoOne_data();
    void blockingAcquireStarvesNoOne();
};

void TestAdmissionProperty::ledgerHonoursEveryWindow_data()
{
    QTest::addColumn<quint64>("seed");
    for (quint64 seed = 1; seed <= 120; ++seed) {
        QTest::addRow("seed %llu", seed) << seed;
    }
}

void TestAdmissionProperty::ledgerHonoursEveryWindow()
{
    QFETCH(quint64, seed);
    std::mt19937_64 rng(seed);

    // Calendar: kT0 is 2026-01-01T23:50:00Z, so a day boundary falls inside.
    const Duration wallMinusSteady =
        Duration(1'767'225'600LL * 1'000'000'000LL) + 23h + 50min - kT0.time_since_epoch();
    Ledger ledger(wallMinusSteady);

    const std::array<Measure, 4> rateMeasures = {Measure::Requests, Measure::InputTokens, Measure::OutputTokens,
                                                 Measure::TotalTokens};
    std::vector<DimRef> dims;
    ScopeId parent = Ledger::root();
    ScopeId leaf = parent;
    const char* names[] = {"provider", "key", "model"};
    for (const char* name : names) {
        std::vector<LimitSpec> specs;
        std::uniform_int_distribution<int> howMany(1, 3);
        std::vector<Measure> pool(rateMeasures.begin(), rateMeasures.end());
        std::shuffle(pool.begin(), pool.end(), rng);
        const int n = howMany(rng);
        for (int i = 0; i < n; ++i) {
            specs.push_back(randomRolling(rng, pool[static_cast<std::size_t>(i)]));
        }
        if (std::bernoulli_distribution(0.4)(rng)) {
            specs.push_back(concurrency(std::uniform_int_distribution<int>(2, 16)(rng)));
        }
        if (std::bernoulli_distribution(0.3)(rng)) {
            specs.push_back(perDay(Measure::Requests, std::uniform_int_distribution<int>(100, 800)(rng)));
        }
        leaf = ledger.addScope(parent, name, specs, kT0);
        for (const auto& s : specs) {
            dims.push_back(DimRef{leaf, s, 0, kT0, 0});
        }
        parent = leaf;
    }
    const Path path = ledger.pathTo(leaf);

    std::exponential_distribution<double> gapMs(1.0 / std::uniform_real_distribution<double>(20, 300)(rng));
    std::uniform_int_distribution<std::int64_t> inDist(0, 1200);
    std::uniform_int_distribution<std::int64_t> outDist(0, 500);
    std::uniform_int_distribution<int> latencyMs(20, 1500);

    struct Pending {
        TimePoint settleAt;
        Hold hold;
        Cost actual;
        bool operator>(const Pending& o) const { return settleAt > o.settleAt; }
    };
    std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending;
    std::vector<Event> admitted;

    const auto referenceDrain = [&](TimePoint t) {
        for (auto& d : dims) {
            if (d.spec.measure == Measure::Concurrency || d.spec.window == Window::Fixed) {
                continue;
            }
            const long double rate = static_cast<long double>(d.spec.limit) / static_cast<long double>(d.spec.period.count());
            d.level = std::max<long double>(0, d.level - rate * static_cast<long double>((t - d.last).count()));
            d.last = t;
        }
    };
    // Per-day usage for the reference, by UTC day index.
    std::map<std::pair<std::size_t, std::int64_t>, std::int64_t> dayUsed;
    const auto dayOf = [&](TimePoint t) {
        const std::int64_t wall = (t.time_since_epoch() + wallMinusSteady).count();
        return wall / (86'400LL * 1'000'000'000LL);
    };
    // >0: fits with margin, <0: does not fit with margin, 0: too close to call.
    const auto referenceFits = [&](const Cost& c, TimePoint t) {
        referenceDrain(t);
        int verdict = 1;
        for (std::size_t i = 0; i < dims.size(); ++i) {
            const auto& d = dims[i];
            const std::int64_t a = c.amount(d.spec.measure);
            if (a <= 0) {
                continue;
            }
            long double room;
            if (d.spec.measure == Measure::Concurrency) {
                room = static_cast<long double>(d.spec.limit - d.inFlight - a);
            } else if (d.spec.window == Window::Fixed) {
                room = static_cast<long double>(d.spec.limit - dayUsed[{i, dayOf(t)}] - a);
            } else {
                room = static_cast<long double>(d.spec.capacity()) - d.level - static_cast<long double>(a);
            }
            if (room < -1e-6L) {
                return -1;
            }
            if (room < 1e-6L && d.spec.measure != Measure::Concurrency && d.spec.window == Window::Rolling) {
                verdict = 0;
            }
        }
        return verdict;
    };
    const auto referenceApply = [&](const Cost& c, TimePoint t, TimePoint heldAt, int sign, bool concurrencyToo) {
        referenceDrain(t);
        for (std::size_t i = 0; i < dims.size(); ++i) {
            auto& d = dims[i];
            const std::int64_t a = c.amount(d.spec.measure);
            if (d.spec.measure == Measure::Concurrency) {
                if (concurrencyToo) {
                    d.inFlight += sign * a;
                }
            } else if (d.spec.window == Window::Fixed) {
                if (dayOf(heldAt) == dayOf(t)) {
                    dayUsed[{i, dayOf(t)}] += sign * a;
                }
            } else {
                d.level = std::max<long double>(0, d.level + sign * static_cast<long double>(a));
            }
        }
    };
    const auto settleUntil = [&](TimePoint t) {
        while (!pending.empty() && pending.top().settleAt <= t) {
            Pending p = pending.top();
            pending.pop();
            ledger.settle(p.hold, p.actual, p.settleAt);
            Cost refund = p.hold.cost;
            refund.requests -= p.actual.requests;
            refund.inputTokens -= p.actual.inputTokens;
            refund.outputTokens -= p.actual.outputTokens;
            referenceApply(refund, p.settleAt, p.hold.at, -1, false);
            referenceApply(Cost{0, 0, 0, 0, p.hold.cost.weight}, p.settleAt, p.hold.at, -1, true);
        }
    };

    TimePoint t = kT0;
    int admits = 0;
    int waits = 0;
    for (int i = 0; i < 1500; ++i) {
        t += std::chrono::microseconds(static_cast<std::int64_t>(gapMs(rng) * 1000));
        settleUntil(t);
        Cost c;
        c.inputTokens = inDist(rng);
        c.outputTokens = outDist(rng);

        const int expected = referenceFits(c, t);
        Hold hold;
        const Check r = ledger.admit(path, c, t, hold);
        if (expected > 0) {
            QVERIFY2(r.verdict == Verdict::Admit, qPrintable(QStringLiteral("request %1 fits but was refused").arg(i)));
        } else if (expected < 0) {
            QVERIFY2(r.verdict != Verdict::Admit, qPrintable(QStringLiteral("request %1 does not fit but was admitted").arg(i)));
        }
        if (r.verdict == Verdict::Wait && !r.waitsForRelease) {
            // Exact: one ns before still waits; at the answer it fits.
            QCOMPARE(ledger.check(path, c, r.notBefore - 1ns).verdict, Verdict::Wait);
            QCOMPARE(ledger.check(path, c, r.notBefore).verdict, Verdict::Admit);
            ++waits;
        }
        if (r.verdict != Verdict::Admit) {
            continue;
        }
        ++admits;
        Cost actual = c;
        actual.outputTokens = std::uniform_int_distribution<std::int64_t>(0, c.outputTokens)(rng);
        referenceApply(c, t, t, +1, true);
        admitted.push_back(Event{t, actual});
        pending.push(Pending{t + std::chrono::milliseconds(latencyMs(rng)), hold, actual});

        // Concurrency never exceeds its limit.
        for (const auto& d : dims) {
            if (d.spec.measure == Measure::Concurrency) {
                QVERIFY(d.inFlight <= d.spec.limit);
            }
        }
    }
    QVERIFY2(admits > 30, "generator admitted too little to test anything");

    for (std::size_t i = 0; i < dims.size(); ++i) {
        const auto& d = dims[i];
        if (d.spec.measure == Measure::Concurrency) {
            continue;
        }
        if (d.spec.window == Window::Fixed) {
            std::map<std::int64_t, std::int64_t> perDay;
            for (const auto& e : admitted) {
                perDay[dayOf(e.at)] += e.cost.amount(d.spec.measure);
            }
            for (const auto& [day, sum] : perDay) {
                QVERIFY2(sum <= d.spec.limit, qPrintable(QStringLiteral("day %1: %2 > %3").arg(day).arg(sum).arg(d.spec.limit)));
            }
            continue;
        }
        // Windows of a tenth, a half and a whole period: at most the burst
        // capacity plus what refills in the window.
        for (int div : {10, 2, 1}) {
            const Duration w = d.spec.period / div;
            const long double bound = static_cast<long double>(d.spec.capacity()) +
                                      std::ceil(static_cast<long double>(d.spec.limit) / div);
            QString why;
            QVERIFY2(windowsHold(admitted, d.spec.measure, w, bound, why),
                     qPrintable(QStringLiteral("scope %1 %2: %3")
                                    .arg(d.scope)
                                    .arg(QString::fromUtf8(measureName(d.spec.measure).data()))
                                    .arg(why)));
        }
    }
    Q_UNUSED(waits);
}

void TestAdmissionProperty::blockingAcquireStarvesNoOne_data()
{
    QTest::addColumn<quint64>("seed");
    for (quint64 seed = 1; seed <= 6; ++seed) {
        QTest::addRow("seed %llu", seed) << seed;
    }
}

// Several threads acquire requests of mixed sizes through one binding scope
// while the test advances a manual clock only when every live thread is
// blocked. Everyone must finish within the time the limit implies.
void TestAdmissionProperty::blockingAcquireStarvesNoOne()
{
    QFETCH(quint64, seed);
    ManualClock clock;
    Admission a(clock);
    const ScopeId key = a.addScope(Admission::root(), "key", {perMinute(Measure::InputTokens, 6000, 600), concurrency(3)});
    const ScopeId model = a.addScope(key, "model", {perMinute(Measure::Requests, 600, 10)});
    const Path path = a.pathTo(model);

    constexpr int kThreads = 5;
    constexpr int kPerThread = 12;
    std::atomic<int> live{kThreads};
    std::atomic<int> never{0};
    std::mutex eventsMutex;
    std::vector<Event> events;
    std::int64_t totalTokens = 0;
    std::vector<std::vector<Cost>> plans(kThreads);
    std::mt19937_64 rng(seed);
    for (auto& plan : plans) {
        for (int i = 0; i < kPerThread; ++i) {
            Cost c;
            c.inputTokens = std::uniform_int_distribution<std::int64_t>(1, 600)(rng);
            totalTokens += c.inputTokens;
            plan.push_back(c);
        }
    }
    std::vector<std::jthread> threads;
    for (int k = 0; k < kThreads; ++k) {
        threads.emplace_back([&, k](std::stop_token stop) {
            for (const Cost& c : plans[static_cast<std::size_t>(k)]) {
                Acquisition r = a.acquire(path, c, std::nullopt, stop);
                if (r.status != AcquireStatus::Acquired) {
                    ++never;
                    continue;
                }
                {
                    std::lock_guard g(eventsMutex);
                    events.push_back(Event{r.reservation.admittedAt(), c});
                }
                a.settle(std::move(r.reservation), c);
            }
            --live;
        });
    }
    // Generous bound: the whole demand at the refill rate, plus slack.
    const Duration budget = std::chrono::seconds(totalTokens / 100 + 120);
    const TimePoint start = clock.now();
    while (live.load() > 0 && clock.now() - start < budget) {
        // Advance only when every live thread is parked in acquire() and has
        // seen the last advance, so simulated time never outruns the work.
        while (live.load() > 0 && static_cast<int>(a.parked()) < live.load()) {
            std::this_thread::yield();
        }
        clock.advance(50ms);
    }
    const bool starved = live.load() > 0;
    for (auto& th : threads) {
        th.request_stop();  // frees any thread still parked, so the test can fail
        th.join();
    }
    QVERIFY2(!starved, qPrintable(QStringLiteral("a request starved: %1 of %2 admitted by %3 s")
                                      .arg(events.size())
                                      .arg(kThreads * kPerThread)
                                      .arg(std::chrono::duration_cast<std::chrono::seconds>(clock.now() - start).count())));
    QCOMPARE(never.load(), 0);
    QCOMPARE(events.size(), std::size_t(kThreads * kPerThread));
    std::sort(events.begin(), events.end(), [](const Event& x, const Event& y) { return x.at < y.at; });
    QString why;
    QVERIFY2(windowsHold(events, Measure::InputTokens, 60s, 600 + 6000, why), qPrintable(why));
    QVERIFY2(windowsHold(events, Measure::InputTokens, 1s, 600 + 100, why), qPrintable(why));
    QVERIFY2(windowsHold(events, Measure::Requests, 1s, 10 + 10, why), qPrintable(why));
}

QTEST_APPLESS_MAIN(TestAdmissionProperty)
#include "tst_admission_property.moc"
