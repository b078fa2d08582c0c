// The budget script (engine/shared/budget_script.*) against the local ledger
// (engine/admission/ledger.*) on the same randomized sequences of operations
// at the same times, on a real redis-server: every verdict agrees, and every
// "not before" agrees to the microsecond (the script counts in µs, the ledger
// in ns). Also: concurrency leases of an instance that stops renewing them
// lapse, and the script refuses nothing it should admit across instances.
#include "admission/ledger.h"
#include "shared/budget_script.h"
#include "support/redis_server.h"

#include <QtTest>

#include <map>
#include <random>

using namespace sluice;
using namespace sluice::shared;
using namespace std::chrono_literals;

namespace {

struct Model {
    std::vector<ScopeId> ids;                         // by scope index
    std::vector<std::vector<LimitSpec>> limits;       // by scope index
    std::vector<Path> paths;                          // the leaves' paths
};

std::int64_t us(Duration d)
{
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

ScriptDim dimFor(const LimitSpec& spec, int scope, int index, std::int64_t a, std::int64_t b,
                 std::int32_t marginPer10k = 0, std::int64_t leastMarginUs = 0)
{
    ScriptDim d;
    d.kind = spec.measure == Measure::Concurrency ? 'c' : spec.window == Window::Fixed ? 'f' : 'r';
    d.limit = spec.limit;
    d.periodUs = us(spec.period);
    d.cap = spec.capacity();
    d.a = a;
    d.b = b;
    d.offsetUs = us(spec.utcOffset);
    d.marginPer10k = marginPer10k;
    d.leastMarginUs = leastMarginUs;
    d.key = "{t}:d:" + std::to_string(scope) + ":" + std::to_string(index);
    d.weightKey = d.key + ":w";
    return d;
}

LimitSpec fixedWindow(Measure m, std::int64_t limit, Duration period)
{
    LimitSpec s;
    s.measure = m;
    s.limit = limit;
    s.period = period;
    s.window = Window::Fixed;
    return s;
}

}  // namespace

class TestSharedScript : public QObject {
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

    void matchesLedger_data()
    {
        QTest::addColumn<unsigned>("seed");
        // With margins: the ledger's arrival margin (10 ms, as Admission's
        // default), which the script is handed as Admission hands it.
        QTest::addColumn<bool>("margins");
        // Learned: the ledger has learned from 429s (narrowed bursts, wider
        // margins; paced: a window) and told the script with learn(), and
        // the script is handed the margins of an instance that learned
        // nothing: what it enforces must still be the ledger's. Within one
        // quiet period (of the shortest limit's), so nothing relaxes.
        QTest::addColumn<int>("learned");
        for (unsigned seed : {1u, 7u, 42u, 1234u, 99991u}) {
            QTest::newRow(qPrintable(QStringLiteral("seed %1").arg(seed))) << seed << false << 0;
        }
        for (unsigned seed : {3u, 77u, 4242u}) {
            QTest::newRow(qPrintable(QStringLiteral("seed %1, margins").arg(seed))) << seed << true << 0;
        }
        for (unsigned seed : {5u, 555u}) {
            QTest::newRow(qPrintable(QStringLiteral("seed %1, learned from 429s").arg(seed))) << seed << true << 1;
            QTest::newRow(qPrintable(QStringLiteral("seed %1, learned a window").arg(seed))) << seed << true << 2;
        }
    }

    // Tells the script what the ledger learned about every scope, as
    // RedisBudget::learned does after a 429.
    static void tellScript(const BudgetScript& script, RedisConnection& c, const Ledger& ledger,
                           const std::vector<ScopeId>& ids, const std::vector<std::vector<LimitSpec>>& limits,
                           std::int64_t nowUs)
    {
        for (std::size_t sc = 0; sc < limits.size(); ++sc) {
            const Ledger::LearnedDims learned = ledger.learned(ids[sc]);
            std::vector<ScriptDim> dims;
            for (std::size_t k = 0; k < limits[sc].size(); ++k) {
                if (learned[k]) {
                    const LimitSpec& spec = limits[sc][k];
                    std::int64_t flags = kLearnRestartsQuiet | kLearnRestartsNearMiss;
                    flags |= learned[k]->paced ? kLearnPaced : 0;
                    flags |= spec.measure == Measure::Requests ? kLearnCountsRequests : 0;
                    dims.push_back(dimFor(spec, static_cast<int>(sc), static_cast<int>(k), flags,
                                          learned[k]->burstHalvings, learned[k]->marginPer10k,
                                          us(learned[k]->leastMargin)));
                }
            }
            if (!dims.empty()) {
                script.learn(c, dims, "teacher", nowUs);
            }
        }
    }

    void matchesLedger()
    {
        QFETCH(unsigned, seed);
        QFETCH(bool, margins);
        QFETCH(int, learned);
        RedisConnection c(m_redis->endpoint());
        c.checked({"FLUSHALL"});
        const BudgetScript script;
        std::mt19937_64 rng(seed);
        const auto pick = [&](std::int64_t lo, std::int64_t hi) {
            return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
        };

        // global → provider → key → two models, with every kind of dimension.
        const std::vector<std::vector<LimitSpec>> limits = {
            {perMinute(Measure::Requests, pick(60, 600), pick(5, 20)), fixedWindow(Measure::TotalTokens, pick(20000, 60000), 10s)},
            {concurrency(pick(2, 6))},
            {perMinute(Measure::InputTokens, pick(3000, 9000), pick(1500, 3000)), perMinute(Measure::OutputTokens, pick(2000, 6000)),
             perMinute(Measure::SpendMicroUsd, pick(100000, 400000))},
            {perMinute(Measure::Requests, pick(30, 120), pick(3, 8)), LimitSpec{Measure::Requests, pick(5, 20), 10s}},
            {perMinute(Measure::Requests, pick(30, 120)), concurrency(pick(1, 3))},
        };
        const std::vector<int> parentOf = {-1, 0, 1, 2, 2};
        const std::int64_t startUs = us(std::chrono::system_clock::now().time_since_epoch());
        // The ledger's steady time is the script's wall time, in ns.
        const Duration arrivalMargin = margins ? Duration(10ms) : Duration::zero();
        // The script paces a token window as the ledger did before its
        // window logs (ARCHITECTURE.md: not shared yet).
        Ledger ledger(Duration::zero(), arrivalMargin, false);
        std::vector<ScopeId> ids(limits.size());
        ids[0] = Ledger::root();
        ledger.setLimits(Ledger::root(), limits[0], TimePoint(std::chrono::microseconds(startUs)));
        for (std::size_t i = 1; i < limits.size(); ++i) {
            ids[i] = ledger.addScope(ids[static_cast<std::size_t>(parentOf[i])], "s" + std::to_string(i), limits[i],
                                     TimePoint(std::chrono::microseconds(startUs)));
        }
        const std::vector<std::vector<int>> paths = {{0, 1, 2, 3}, {0, 1, 2, 4}};
        if (learned > 0) {
            const TimePoint at{std::chrono::microseconds(startUs)};
            // Every scope with a rolling dimension (not the concurrency one).
            for (ScopeId id : ids) {
                const bool rolling = ledger.widenMargin(id, at);
                QCOMPARE(rolling, id != ids[1]);
                ledger.widenMargin(id, at);
                ledger.noteNearMiss(id, 40ms, at);
                if (learned == 2) {
                    QCOMPARE(ledger.paceEvenly(id, at), rolling);
                }
            }
            tellScript(script, c, ledger, ids, limits, startUs);
        }
        // Learned from 429s, everything happens within 9 s (the shortest
        // period is 10 s), so no step relaxes. Paced needs no such bound:
        // pacing never relaxes, its share starts where stepping back ends
        // (paceEvenly), and the least margin it keeps (at most 1% of the
        // refill time) stays below its share.
        const int ops = learned == 1 ? 900 : 3000;
        const std::int64_t mostStepUs = learned == 1 ? 20'000 : 400'000;

        struct Held {
            Hold hold;
            int path;
        };
        std::vector<Held> held;
        std::int64_t nowUs = startUs;
        int admits = 0;
        int waits = 0;
        int nevers = 0;
        int settles = 0;
        bool narrowed = false;  // a share below the payback's was handed over (a burst paid back)
        // After every operation, every dimension's usage agrees too.
        const auto statesAgree = [&](std::int64_t atUs, int op) {
            const TimePoint at{std::chrono::microseconds(atUs)};
            for (std::size_t sc = 0; sc < limits.size(); ++sc) {
                const ScopeState st = ledger.snapshot(ids[sc], at);
                for (std::size_t k = 0; k < limits[sc].size(); ++k) {
                    const LimitSpec& spec = limits[sc][k];
                    const ScriptDim d = dimFor(spec, static_cast<int>(sc), static_cast<int>(k), 0, 0);
                    std::int64_t used = 0;
                    if (spec.measure == Measure::Concurrency) {
                        const RedisReply r = c.checked({"HVALS", d.weightKey});
                        for (std::size_t i = 0; i < r.size(); ++i) {
                            used += r.integerAt(i);
                        }
                    } else if (spec.window == Window::Fixed) {
                        const RedisReply r = c.checked({"HMGET", d.key, "w", "u"});
                        const std::int64_t w = (atUs + us(spec.utcOffset)) / us(spec.period);
                        used = !r.isNil() && r.stringAt(0) == std::to_string(w) ? r.integerAt(1) : 0;
                    } else {
                        const RedisReply r = c.checked({"HMGET", d.key, "t", "d"});
                        if (r.stringAt(0).empty()) {
                            used = 0;
                        } else {
                            const std::int64_t t = r.integerAt(0);
                            std::int64_t debt = r.integerAt(1);
                            debt = std::max<std::int64_t>(debt - std::max<std::int64_t>(atUs - t, 0) * spec.limit, 0);
                            used = (debt + us(spec.period) - 1) / us(spec.period);
                        }
                    }
                    const std::int64_t expected = st.dimensions[k].used;
                    // The ledger's snapshot leaves the arrival margin out (a
                    // full bucket reads as its limit), the script's stored
                    // debt keeps it: with margins on, the script may show up
                    // to the most margin (4% of what is used) and one unit
                    // of rounding more, never less.
                    const std::int64_t slack =
                        arrivalMargin > Duration::zero() && spec.window == Window::Rolling &&
                                spec.measure != Measure::Concurrency
                            ? expected * std::max(Ledger::kMaxMarginPer10k, Ledger::kPaybackPer10k) / 10'000 + 1
                            : 0;
                    if (used < expected || used > expected + slack) {
                        qWarning("seed %u op %d scope %zu limit %zu: script %lld, ledger %lld", seed, op, sc, k,
                                 static_cast<long long>(used), static_cast<long long>(expected));
                        return false;
                    }
                }
            }
            return true;
        };
        for (int op = 0; op < ops; ++op) {
            QVERIFY(statesAgree(nowUs, op));
            nowUs += pick(0, 1) == 0 ? 0 : pick(1, mostStepUs);
            const TimePoint now{std::chrono::microseconds(nowUs)};
            if (!held.empty() && pick(0, 9) < 4) {
                const std::size_t which = static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(held.size()) - 1));
                const Held h = held[which];
                held.erase(held.begin() + static_cast<std::ptrdiff_t>(which));
                Cost actual = h.hold.cost;
                actual.inputTokens = pick(0, h.hold.cost.inputTokens + 50);
                actual.outputTokens = pick(0, h.hold.cost.outputTokens * 2 + 10);
                actual.spendMicroUsd = pick(0, h.hold.cost.spendMicroUsd + 100);
                ledger.settle(h.hold, actual, now);
                std::vector<ScriptDim> dims;
                for (int s : paths[static_cast<std::size_t>(h.path)]) {
                    for (std::size_t k = 0; k < limits[static_cast<std::size_t>(s)].size(); ++k) {
                        const LimitSpec& spec = limits[static_cast<std::size_t>(s)][k];
                        const std::int64_t reserved = h.hold.cost.amount(spec.measure);
                        const std::int64_t delta = spec.measure == Measure::Concurrency
                                                       ? -reserved
                                                       : actual.amount(spec.measure) - reserved;
                        std::int64_t holdWindow = -1;
                        if (spec.window == Window::Fixed && spec.measure != Measure::Concurrency) {
                            const std::int64_t at = us(h.hold.at.time_since_epoch());
                            holdWindow = (at + us(spec.utcOffset)) / us(spec.period);
                        }
                        dims.push_back(dimFor(spec, s, static_cast<int>(k), delta, holdWindow));
                    }
                }
                script.adjust(c, dims, "me", 3'600'000'000LL, nowUs);
                ++settles;
                continue;
            }
            const int p = static_cast<int>(pick(0, 1));
            Cost cost;
            cost.requests = 1;
            cost.inputTokens = pick(0, 1200);
            cost.outputTokens = pick(0, 900);
            cost.spendMicroUsd = pick(0, 20000);
            cost.weight = pick(0, 4) == 0 ? 2 : 1;
            if (pick(0, 50) == 0) {
                cost.inputTokens = 10000;  // above the key's whole per-minute limit: never
            } else if (pick(0, 25) == 0) {
                cost.inputTokens = 3100;  // above the key's burst: waits for a full bucket, then overdraws it
            }
            Path path;
            for (int s : paths[static_cast<std::size_t>(p)]) {
                path.scopes[static_cast<std::size_t>(path.depth++)] = ids[static_cast<std::size_t>(s)];
            }
            Hold hold;
            const Check expected = ledger.admit(path, cost, now, hold);
            // The margins in force once the ledger has narrowed or reset them.
            const Ledger::Margins inForce = ledger.margins(path);
            std::vector<ScriptDim> dims;
            int position = 0;
            for (int s : paths[static_cast<std::size_t>(p)]) {
                for (std::size_t k = 0; k < limits[static_cast<std::size_t>(s)].size(); ++k) {
                    const LimitSpec& spec = limits[static_cast<std::size_t>(s)][k];
                    const std::int64_t amount = cost.amount(spec.measure);
                    if (amount > 0) {
                        std::int32_t m = inForce.per10k[static_cast<std::size_t>(position)][k];
                        std::int64_t least = us(inForce.leastOf[static_cast<std::size_t>(position)][k]);
                        narrowed = narrowed || (m > 0 && m < Ledger::kPaybackPer10k);
                        if (learned > 0 && m > 0) {
                            // An instance that saw no 429: paying a burst
                            // back or at the floor, the base margin.
                            m = m >= Ledger::kPaybackPer10k ? Ledger::kPaybackPer10k : Ledger::kMarginPer10k;
                            least = us(arrivalMargin);
                        }
                        dims.push_back(dimFor(spec, s, static_cast<int>(k), amount, amount, m, least));
                    }
                }
                ++position;
            }
            const ScriptResult got = script.admit(c, dims, "me", 3'600'000'000LL, nowUs);
            const QByteArray where = QStringLiteral("seed %1, op %2").arg(seed).arg(op).toUtf8();
            QCOMPARE(got.nowUs, nowUs);
            switch (expected.verdict) {
            case Verdict::Admit:
                QVERIFY2(got.status == ScriptResult::Status::Admit, where.constData());
                held.push_back(Held{hold, p});
                ++admits;
                break;
            case Verdict::Never:
                QVERIFY2(got.status == ScriptResult::Status::Never, where.constData());
                ++nevers;
                break;
            case Verdict::Wait: {
                QVERIFY2(got.status == ScriptResult::Status::Wait, where.constData());
                QCOMPARE(got.concurrencyFull, expected.waitsForRelease);
                if (got.waitUs >= 0) {
                    const std::int64_t ledgerNs = expected.notBefore.time_since_epoch().count();
                    const std::int64_t scriptNs = (nowUs + got.waitUs) * 1000;
                    QVERIFY2(scriptNs >= ledgerNs && scriptNs - ledgerNs < 1000, where.constData());
                } else {
                    QCOMPARE(expected.notBefore, TimePoint{});
                }
                ++waits;
                break;
            }
            }
        }
        // The sequence exercised every verdict.
        // Learned: 9 s at narrowed bursts, or paced, admit far fewer.
        const bool few = learned > 0;
        QVERIFY2(admits > (few ? 5 : 100), qPrintable(QString::number(admits)));
        QVERIFY2(waits > 50, qPrintable(QString::number(waits)));
        QVERIFY2(nevers > (few ? 0 : 3), qPrintable(QString::number(nevers)));
        QVERIFY2(settles > (few ? 3 : 100), qPrintable(QString::number(settles)));
        if (learned == 0) {
            QCOMPARE(narrowed, margins);  // with margins, a start's payback ended
        }
    }

    // What was learned relaxes a step per quiet period (the limit's period)
    // with no 429, as the ledger's own does: the burst doubles back, the
    // least margin narrows by a quarter; pacing stays. Learning joins what
    // is kept (the larger of each), and a 429 restarts the quiet period.
    void learnedRelaxesAfterQuietPeriods()
    {
        RedisConnection c(m_redis->endpoint());
        c.checked({"FLUSHALL"});
        const BudgetScript script;
        const std::int64_t t = 1'000'000'000'000'000;
        const std::int64_t minute = 60'000'000;
        const LimitSpec spec = perMinute(Measure::Requests, 600, 16);  // 16 refill in 1.6 s
        const auto burst = [&](int scope, std::int64_t at) {
            int n = 0;
            while (script.admit(c, {dimFor(spec, scope, 0, 1, 1)}, "b", 1'000'000, at).status ==
                   ScriptResult::Status::Admit) {
                ++n;
            }
            return n;
        };
        // Margins off here (m = 0) to count the burst alone.
        script.learn(c, {dimFor(spec, 0, 0, kLearnRestartsQuiet, 2)}, "a", t);
        script.learn(c, {dimFor(spec, 0, 0, kLearnRestartsQuiet, 1)}, "a", t);  // the larger stays
        QCOMPARE(burst(0, t), 4);
        QCOMPARE(burst(0, t + minute - 1), 4);
        QCOMPARE(burst(0, t + minute + 2'000'000), 8);
        QCOMPARE(burst(0, t + 2 * minute + 4'000'000), 16);
        // A 429 restarts the quiet period: halved again, for a whole period.
        script.learn(c, {dimFor(spec, 0, 0, kLearnRestartsQuiet, 1)}, "a", t + 3 * minute);
        QCOMPARE(burst(0, t + 4 * minute - 1), 8);

        // Paced: one at a time, however long it has been quiet.
        script.learn(c, {dimFor(spec, 1, 0, kLearnPaced | kLearnCountsRequests, 0)}, "a", t);
        QCOMPARE(burst(1, t + 30 * minute), 1);

        // A whole-bucket request (6 RPM, a burst of one) is spaced by the
        // least margin learned: 80 ms, within 1% of its 10 s refill time;
        // a quiet period later 60 ms.
        const LimitSpec slow = perMinute(Measure::Requests, 6, 1);
        script.learn(c, {dimFor(slow, 2, 0, kLearnRestartsQuiet | kLearnRestartsNearMiss, 0, 200, 80'000)}, "a", t);
        const auto waitAfterOne = [&](std::int64_t at) {
            script.admit(c, {dimFor(slow, 2, 0, 1, 1, 200, 0)}, "b", 1'000'000, at);
            return script.admit(c, {dimFor(slow, 2, 0, 1, 1, 200, 0)}, "b", 1'000'000, at).waitUs;
        };
        QCOMPARE(waitAfterOne(t), std::int64_t{10'080'000});
        QCOMPARE(waitAfterOne(t + minute + 20'000'000), std::int64_t{10'060'000});
    }

    // A paced share steps back as the ledger's does (Ledger::pacedQuiet):
    // a quarter of the period after the 429 that widened it, it halves; the
    // next step waits twice as long; never below the start share. Seen in
    // the spacing of a 6 RPM limit paced one at a time: its 10 s, plus the
    // share of them, less the catch-up slack of half the share.
    void pacedShareStepsBack()
    {
        RedisConnection c(m_redis->endpoint());
        c.checked({"FLUSHALL"});
        const BudgetScript script;
        const std::int64_t t = 1'000'000'000'000'000;
        const LimitSpec slow = perMinute(Measure::Requests, 6, 1);
        // Each on a scope of its own: learned at t (paced, the most share),
        // then two asked for at `at` by an instance at the start share.
        const auto learnAt = [&](int scope, std::int64_t flags, std::int64_t at) {
            script.learn(c, {dimFor(slow, scope, 0, kLearnPaced | kLearnCountsRequests | flags, 0,
                                    Ledger::kMostPacedMarginPer10k)},
                         "a", at);
        };
        const auto askTwice = [&](int scope, std::int64_t at) {
            script.admit(c, {dimFor(slow, scope, 0, 1, 1, Ledger::kPacedMarginPer10k)}, "b", 1'000'000, at);
            return script.admit(c, {dimFor(slow, scope, 0, 1, 1, Ledger::kPacedMarginPer10k)}, "b", 1'000'000, at)
                .waitUs;
        };
        const auto spacingAt = [&](int scope, std::int64_t at) {
            learnAt(scope, kLearnRestartsQuiet, t);
            return askTwice(scope, at);
        };
        const auto spacing = [](std::int64_t share) { return 10'000'000 + share * 1000 - share * 500; };
        // The ledger's quiet times for the limit's minute: 15 s, 30 s, ...
        const auto quiet = [](int steps) { return us(Ledger::pacedQuiet(1min, steps)); };
        QCOMPARE(spacingAt(0, t), spacing(Ledger::kMostPacedMarginPer10k));
        QCOMPARE(spacingAt(1, t + quiet(0) - 1), spacing(Ledger::kMostPacedMarginPer10k));
        QCOMPARE(spacingAt(2, t + quiet(0)), spacing(Ledger::kMostPacedMarginPer10k / 2));
        QCOMPARE(spacingAt(3, t + quiet(0) + quiet(1) - 1), spacing(Ledger::kMostPacedMarginPer10k / 2));
        QCOMPARE(spacingAt(4, t + quiet(0) + quiet(1)), spacing(Ledger::kPacedMarginPer10k));
        QCOMPARE(spacingAt(5, t + 600'000'000), spacing(Ledger::kPacedMarginPer10k));
        // A share that grows again (a near miss just after the first step)
        // restarts the quiet time, the one step taken kept: the next waits
        // quiet(1) from the miss.
        const std::int64_t miss = t + quiet(0) + 1'000'000;
        const auto afterMissAt = [&](int scope, std::int64_t at) {
            learnAt(scope, kLearnRestartsQuiet, t);
            learnAt(scope, kLearnRestartsNearMiss, miss);
            return askTwice(scope, at);
        };
        QCOMPARE(afterMissAt(6, miss + quiet(1) - 1), spacing(Ledger::kMostPacedMarginPer10k));
        QCOMPARE(afterMissAt(7, miss + quiet(1)), spacing(Ledger::kMostPacedMarginPer10k / 2));
        // An instance that does not pace yet (it met no window's 429 of its
        // own) widens a bucket's margin to 4%: paced, the share kept is 2%
        // all the same, so the first step still halves it.
        const auto besideUnpacedAt = [&](int scope, std::int64_t at) {
            learnAt(scope, kLearnRestartsQuiet, t);
            script.learn(c, {dimFor(slow, scope, 0, kLearnCountsRequests | kLearnRestartsQuiet, 4,
                                    Ledger::kMaxMarginPer10k)},
                         "c", t);
            return askTwice(scope, at);
        };
        QCOMPARE(besideUnpacedAt(8, t), spacing(Ledger::kMostPacedMarginPer10k));
        QCOMPARE(besideUnpacedAt(9, t + quiet(0)), spacing(Ledger::kMostPacedMarginPer10k / 2));
    }

    // A lease of capacity: the script grants up to `want` when there is room,
    // never less than `need`, and never more than the capacity in total.
    void grantsSlices()
    {
        RedisConnection c(m_redis->endpoint());
        c.checked({"FLUSHALL"});
        const BudgetScript script;
        const std::int64_t t = 1'000'000'000'000'000;
        const LimitSpec spec = perMinute(Measure::Requests, 60, 10);
        ScriptResult r = script.admit(c, {dimFor(spec, 0, 0, 1, 4)}, "a", 1'000'000, t);
        QVERIFY(r.status == ScriptResult::Status::Admit);
        QCOMPARE(r.grants.at(0), 4);
        r = script.admit(c, {dimFor(spec, 0, 0, 1, 8)}, "b", 1'000'000, t);
        QCOMPARE(r.grants.at(0), 6);  // only 6 left of the burst of 10
        r = script.admit(c, {dimFor(spec, 0, 0, 1, 1)}, "a", 1'000'000, t);
        QVERIFY(r.status == ScriptResult::Status::Wait);
        QCOMPARE(r.waitUs, 1'000'000);  // one request per second refills
        // Giving back a slice makes room at once.
        script.adjust(c, {dimFor(spec, 0, 0, -3, -1)}, "a", 1'000'000, t);
        r = script.admit(c, {dimFor(spec, 0, 0, 3, 3)}, "b", 1'000'000, t);
        QVERIFY(r.status == ScriptResult::Status::Admit);
    }

    // Booking: a need that fits within the horizon is admitted at the time
    // it fits, its debit taken now, so the next caller is told the slot
    // after it (in the order they asked); beyond the horizon, with a fixed
    // window short or with concurrency full, a plain wait that writes
    // nothing.
    void booksTheSlotWhenItFits()
    {
        RedisConnection c(m_redis->endpoint());
        c.checked({"FLUSHALL"});
        const BudgetScript script;
        const std::int64_t t = 1'000'000'000'000'000;
        const LimitSpec spec = perMinute(Measure::Requests, 60, 1);  // one a second, no burst
        const auto one = [&](const std::string& who, std::int64_t at, std::int64_t ahead,
                             std::vector<ScriptDim> more = {}) {
            std::vector<ScriptDim> dims{dimFor(spec, 0, 0, 1, 4)};
            dims.insert(dims.end(), more.begin(), more.end());
            return script.admit(c, dims, who, 1'000'000, at, ahead);
        };
        QVERIFY(one("a", t, 2'000'000).status == ScriptResult::Status::Admit);
        ScriptResult b = one("b", t + 100'000, 2'000'000);
        QVERIFY(b.status == ScriptResult::Status::Booked);
        QCOMPARE(b.waitUs, 900'000);
        QCOMPARE(b.grants.at(0), 1);  // the need, not a slice
        ScriptResult a = one("a", t + 200'000, 2'000'000);
        QVERIFY(a.status == ScriptResult::Status::Booked);
        QCOMPARE(a.waitUs, 1'800'000);  // behind b's slot
        // Beyond the horizon: a wait, nothing written.
        ScriptResult far = one("a", t + 200'000, 1'000'000);
        QVERIFY(far.status == ScriptResult::Status::Wait);
        QCOMPARE(far.waitUs, 2'800'000);
        QCOMPARE(one("b", t + 200'000, 0).waitUs, 2'800'000);
        // A fixed window that is full, or concurrency that is, is polled.
        const LimitSpec window = fixedWindow(Measure::Requests, 1, 10s);
        QVERIFY(script.admit(c, {dimFor(window, 1, 0, 1, 1)}, "a", 1'000'000, t).status ==
                ScriptResult::Status::Admit);
        QVERIFY(one("b", t + 300'000, 10'000'000, {dimFor(window, 1, 0, 1, 1)}).status == ScriptResult::Status::Wait);
        const LimitSpec conc = concurrency(1);
        QVERIFY(script.admit(c, {dimFor(conc, 2, 0, 1, 1)}, "a", 1'000'000, t).status == ScriptResult::Status::Admit);
        QVERIFY(one("b", t + 300'000, 10'000'000, {dimFor(conc, 2, 0, 1, 1)}).status == ScriptResult::Status::Wait);
        QVERIFY(one("b", t + 300'000, 10'000'000).status == ScriptResult::Status::Booked);
    }

    // Slots of an instance that stops renewing come back when its lease
    // lapses; a renewed lease holds.
    void concurrencyLeasesLapse()
    {
        RedisConnection c(m_redis->endpoint());
        c.checked({"FLUSHALL"});
        const BudgetScript script;
        const std::int64_t t = 1'000'000'000'000'000;
        const std::int64_t lease = 2'000'000;
        const LimitSpec spec = concurrency(4);
        QVERIFY(script.admit(c, {dimFor(spec, 0, 0, 3, 3)}, "dead", lease, t).status == ScriptResult::Status::Admit);
        QVERIFY(script.admit(c, {dimFor(spec, 0, 0, 1, 1)}, "live", lease, t).status == ScriptResult::Status::Admit);
        ScriptResult r = script.admit(c, {dimFor(spec, 0, 0, 2, 2)}, "other", lease, t + 1'000'000);
        QVERIFY(r.status == ScriptResult::Status::Wait);
        QVERIFY(r.concurrencyFull);
        // "live" renews at t+1.5 s (the heartbeat's job); "dead" does not.
        script.renew(c, {dimFor(spec, 0, 0, 0, 0)}, "live", lease, t + 1'500'000);
        // At t+2.5 s "dead"'s 3 slots have lapsed; "live"'s one has not.
        r = script.admit(c, {dimFor(spec, 0, 0, 3, 3)}, "other", lease, t + 2'500'000);
        QVERIFY(r.status == ScriptResult::Status::Admit);
        r = script.admit(c, {dimFor(spec, 0, 0, 1, 1)}, "other", lease, t + 2'600'000);
        QVERIFY(r.status == ScriptResult::Status::Wait);
    }

private:
    std::unique_ptr<testing::RedisServerFixture> m_redis;
};

QTEST_APPLESS_MAIN(TestSharedScript)
#include "tst_shared_script.moc"
