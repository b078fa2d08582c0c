// LimitLearner's reading of 429s (learnFrom429): near misses teach the
// arrival margin, and 429s at a pace the bucket model allowed teach that the
// provider counts a window, after which the scope paces evenly. The last
// case runs Sluice's Admission against the mock's own sliding window on a
// ManualClock, with a sender that wakes late and requests that arrive late.
#include "admission/admission.h"
#include "dispatch/limit_learner.h"
#include "mock/sliding_window.h"

#include <QtTest>

#include <array>
#include <vector>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = TimePoint(std::chrono::hours(1));

Cost oneRequest()
{
    return Cost{1, 0, 0, 0, 1};
}

}  // namespace

Q_DECLARE_METATYPE(std::vector<sluice::Duration>)

class TestLimitLearner : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void nearMissWidensTheAbsoluteMargin();
    void aWindow429PacesEvenly();
    void nearMissesThatGoOnPaceEvenly();
    void aSlidingMinuteOfLargeRequests();
    void slidingWindowAtTheRateWithoutRefusals_data();
    void slidingWindowAtTheRateWithoutRefusals();
};

void TestLimitLearner::nearMissWidensTheAbsoluteMargin()
{
    ManualClock clock(kT0, WallTime{});
    Admission admission(clock, nullptr, 6ms);
    const ScopeId s = admission.addScope(Admission::root(), "k", {perMinute(Measure::Requests, 50, 1)});
    LearnedLimits state;
    QVERIFY(!learnFrom429(admission, s, state, 2ms, true, clock.now()));
    // 6 ms already between them, 2 ms early: 8 ms of difference, 12 ms learned.
    Decision first = admission.tryAcquireAt(admission.pathTo(s), oneRequest(), clock.now());
    QCOMPARE(first.verdict, Verdict::Admit);
    admission.settle(std::move(first.reservation), oneRequest());
    QCOMPARE(admission.check(admission.pathTo(s), oneRequest()).notBefore - kT0, Duration(1212ms));
    // A near miss a period after the last is not evidence of a window.
    clock.advance(61s);
    QVERIFY(!learnFrom429(admission, s, state, 2ms, true, clock.now()));
    QVERIFY(!admission.paced(s));
    // No hint: nothing to learn from.
    QVERIFY(!learnFrom429(admission, s, state, std::nullopt, false, clock.now()));
}

void TestLimitLearner::aWindow429PacesEvenly()
{
    ManualClock clock(kT0, WallTime{});
    Admission admission(clock);
    const ScopeId s = admission.addScope(Admission::root(), "k", {perMinute(Measure::Requests, 600, 10)});
    LearnedLimits state;
    // Near misses say nothing about a window.
    QVERIFY(!learnFrom429(admission, s, state, 3ms, true, clock.now()));
    QVERIFY(!admission.paced(s));
    // "Try again in 900ms" at a pace the bucket allowed: a window.
    clock.advance(61s);
    QVERIFY(learnFrom429(admission, s, state, 900ms, false, clock.now()));
    QVERIFY(admission.paced(s));
    QCOMPARE(state.windowEvidenceAt, std::optional<TimePoint>(clock.now()));
    QVERIFY(!learnFrom429(admission, s, state, 700ms, false, clock.now()));
    // Paced: a burst of one, the next request 1/rate later (plus its margin).
    Decision d = admission.tryAcquireAt(admission.pathTo(s), oneRequest(), clock.now());
    QCOMPARE(d.verdict, Verdict::Admit);
    admission.settle(std::move(d.reservation), oneRequest());
    const Check next = admission.check(admission.pathTo(s), oneRequest());
    QCOMPARE(next.verdict, Verdict::Wait);
    QVERIFY(next.notBefore - clock.now() > 80ms);
}

// A provider that counts fixed windows answers "try again in a moment" to
// a request that overfills one just before its end: near misses, one after
// another, however far the margin widens and the burst narrows. The second
// within a period paces the scope evenly, each token entry logged for the
// window and the learned margin, which near misses against a bucket had
// grown to hundreds of milliseconds and is cut back to 10 ms, as it grows
// from then on too (Ledger::kMostWindowMarginNs): 240,000 TPM against fixed
// seconds of 4,000 read 58-66% before, each entry counted for 1.65 s.
void TestLimitLearner::nearMissesThatGoOnPaceEvenly()
{
    ManualClock clock(kT0, WallTime{});
    Admission admission(clock, nullptr, 6ms);
    const ScopeId s = admission.addScope(Admission::root(), "k", {perMinute(Measure::TotalTokens, 240'000, 3'800)});
    LearnedLimits state;
    QVERIFY(!learnFrom429(admission, s, state, 200ms, true, clock.now()));
    QVERIFY(!admission.paced(s));
    clock.advance(10s);
    QVERIFY(learnFrom429(admission, s, state, 240ms, true, clock.now()));
    QVERIFY(admission.paced(s));
    QCOMPARE(state.windowEvidenceAt, std::optional<TimePoint>(clock.now()));
    // The log starts full; a window and its margin later a request of 3,900
    // tokens (of 4,000 less the 0.5% share) goes, 10 ms late at most.
    const Cost big{0, 3'900, 0, 0, 1};
    const Check first = admission.check(admission.pathTo(s), big);
    QVERIFY(first.verdict == Verdict::Wait);
    QVERIFY2(first.notBefore - clock.now() <= 1'011ms,
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(first.notBefore - clock.now()).count()).c_str());
    // Near misses from now on add at most those 10 ms.
    QVERIFY(!learnFrom429(admission, s, state, 240ms, true, clock.now()));
    const Check after = admission.check(admission.pathTo(s), big);
    QVERIFY2(after.notBefore - clock.now() <= 1'011ms,
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(after.notBefore - clock.now()).count()).c_str());
}

// 600 RPM against a provider counting a sliding one-second window of 10
// (the mock's SlidingWindow), demand always waiting. The start's burst draws
// a 429 whose hint says "a window"; from then on the scope paces evenly, and
// in the following two minutes no request is refused and the provider
// accepts the share of its limit the row names. Jittery: the sender wakes
// 0-9 ms late and each request reaches the provider 0-5 ms after it left,
// and a late sender's lost time is most of what is lost. Calm (a loopback
// trip, a timer on time): the window's tolerance is all it costs, 0.5% of
// the limit (2% before near misses taught otherwise cost 2%).
void TestLimitLearner::slidingWindowAtTheRateWithoutRefusals_data()
{
    QTest::addColumn<std::vector<Duration>>("wakeLate");
    QTest::addColumn<std::vector<Duration>>("trip");
    QTest::addColumn<double>("leastShare");
    QTest::newRow("jittery") << std::vector<Duration>{0ms, 9ms, 1ms, 4ms, 0ms, 2ms, 6ms}
                             << std::vector<Duration>{0ms, 5ms, 1ms, 3ms, 0ms} << 0.97;
    QTest::newRow("calm") << std::vector<Duration>{0us, 120us, 40us, 300us, 60us}
                          << std::vector<Duration>{200us, 450us, 230us, 1100us, 210us, 260us} << 0.99;
}

void TestLimitLearner::slidingWindowAtTheRateWithoutRefusals()
{
    QFETCH(std::vector<Duration>, wakeLate);
    QFETCH(std::vector<Duration>, trip);
    QFETCH(double, leastShare);
    ManualClock clock(kT0, WallTime{});
    Admission admission(clock);
    const ScopeId s = admission.addScope(Admission::root(), "k", {perMinute(Measure::Requests, 600, 10)});
    const Path path = admission.pathTo(s);
    mock::SlidingWindow window(600, 1s, 10, clock.now());
    LearnedLimits state;
    TimePoint coolUntil = kT0;
    int refusedBeforePacing = 0;
    int refusedAfter = 0;
    int acceptedAfter = 0;
    std::optional<TimePoint> pacedAt;
    for (std::size_t i = 0; clock.now() < kT0 + 200s; ++i) {
        Decision d = admission.tryAcquireAt(path, oneRequest(), clock.now());
        if (d.verdict != Verdict::Admit) {
            clock.advanceTo(std::max(d.notBefore, coolUntil) + wakeLate[i % wakeLate.size()]);
            continue;
        }
        const TimePoint arrival = clock.now() + trip[i % trip.size()];
        const Duration wait = window.waitFor(1, arrival);
        if (wait == Duration::zero()) {
            window.take(1, arrival);
            admission.settle(std::move(d.reservation), oneRequest());
            if (pacedAt && arrival >= *pacedAt + 10s && arrival < *pacedAt + 130s) {
                ++acceptedAfter;
            }
            continue;
        }
        // Refused: the dispatcher's handling of a 429 with a hint.
        admission.settle(std::move(d.reservation), Cost{0, 0, 0, 0, 1});
        (pacedAt ? refusedAfter : refusedBeforePacing) += 1;
        coolUntil = clock.now() + wait + 10ms;
        learnFrom429(admission, s, state, wait, wait <= 250ms, clock.now());
        if (!pacedAt && admission.paced(s)) {
            pacedAt = clock.now();
        }
    }
    QVERIFY(pacedAt.has_value());
    QVERIFY2(refusedBeforePacing == 1, qPrintable(QString::number(refusedBeforePacing)));
    QCOMPARE(refusedAfter, 0);
    // Two minutes hold 1,200 at the limit.
    QVERIFY2(acceptedAfter >= leastShare * 1200, qPrintable(QString::number(acceptedAfter)));
}

// 10,000 TPM configured as the limits page gives it (a second's worth of
// burst), against a provider that counts a sliding minute (the mock's
// SlidingWindow), with requests of 400 to 700 tokens: each is several
// seconds of the rate, more than the bucket's burst. The bucket lets one go
// into debt from full, so a minute can hold the rate's worth and that
// request: refusals every minute or so, paced or not (a second's window
// log cannot see them). The first refusal says "wait" for seconds, longer
// than any second's window: the token log then spans the minute, and from
// then on nothing is refused while the minute is kept nearly full.
void TestLimitLearner::aSlidingMinuteOfLargeRequests()
{
    ManualClock clock(kT0, WallTime{});
    Admission admission(clock);
    const ScopeId s = admission.addScope(Admission::root(), "k", {perMinute(Measure::TotalTokens, 10'000, 158)});
    const Path path = admission.pathTo(s);
    mock::SlidingWindow minute(10'000, 60s, 10'000, clock.now());
    LearnedLimits state;
    const std::array<std::int64_t, 5> sizes{400, 650, 520, 700, 455};
    TimePoint coolUntil = kT0;
    std::vector<TimePoint> refusals;
    std::int64_t acceptedLate = 0;
    for (std::size_t i = 0; clock.now() < kT0 + 600s;) {
        const Cost cost{0, sizes[i % sizes.size()], 0, 0, 1};
        Decision d = admission.tryAcquireAt(path, cost, clock.now());
        if (d.verdict != Verdict::Admit) {
            clock.advanceTo(std::max(d.notBefore, coolUntil) + 1ms);
            continue;
        }
        const TimePoint arrival = clock.now() + 2ms;
        const Duration wait = minute.waitFor(cost.inputTokens, arrival);
        if (wait == Duration::zero()) {
            minute.take(cost.inputTokens, arrival);
            admission.settle(std::move(d.reservation), cost);
            acceptedLate += arrival >= kT0 + 300s ? cost.inputTokens : 0;
            ++i;
            continue;
        }
        admission.settle(std::move(d.reservation), Cost{0, 0, 0, 0, 1});
        refusals.push_back(clock.now());
        coolUntil = clock.now() + wait + 10ms;
        learnFrom429(admission, s, state, wait, wait <= 250ms, clock.now());
    }
    QVERIFY2(refusals.size() == 1, qPrintable(QString::number(refusals.size())));
    // The last five minutes: 50,000 at the limit.
    QVERIFY2(acceptedLate >= 47'000, qPrintable(QString::number(acceptedLate)));
}

QTEST_APPLESS_MAIN(TestLimitLearner)
#include "tst_limit_learner.moc"
