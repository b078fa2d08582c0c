// Table-driven tests of the admission arithmetic: exact earliest times,
// never-fits, settle refunds and debits, limit changes, all-or-nothing
// across scopes, provider corrections.
#include "admission/ledger.h"
#include "mock/rate_bucket.h"
#include "mock/sliding_window.h"

#include <QtTest>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = TimePoint(Duration(1'000'000'000'000));

Cost tokens(std::int64_t in, std::int64_t out = 0)
{
    Cost c;
    c.inputTokens = in;
    c.outputTokens = out;
    return c;
}

Cost requestOnly()
{
    return Cost{1, 0, 0, 0, 0};
}

struct Fixture {
    Ledger ledger{Duration::zero()};
    ScopeId leaf = Ledger::root();

    explicit Fixture(const std::vector<LimitSpec>& limits)
    {
        leaf = ledger.addScope(Ledger::root(), "scope", limits, kT0);
    }
    Path path() const { return ledger.pathTo(leaf); }
    Check admit(const Cost& c, TimePoint t)
    {
        Hold h;
        return ledger.admit(path(), c, t, h);
    }
    Hold hold(const Cost& c, TimePoint t)
    {
        Hold h;
        const Check r = ledger.admit(path(), c, t, h);
        if (r.verdict != Verdict::Admit) {
            qFatal("fixture: expected admission");
        }
        return h;
    }
    std::int64_t used(int dim, TimePoint t) const
    {
        return ledger.snapshot(leaf, t).dimensions.at(static_cast<std::size_t>(dim)).used;
    }
};

}  // namespace

class TestLedger : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void earliestTime_data();
    void earliestTime();
    void neverFits_data();
    void neverFits();
    void requestAboveBurstWaitsForAFullBucket();
    void arrivalMarginSpacesWholeBucketRequests();
    void pacedEvenlyNeverPutsElevenInOneSecond();
    void aNearMissWhilePacedWidensToWhatItsHintNeeds();
    void pacedTokensNeverOverfillASlidingWindow();
    void aWindowCountsARequestFromWhenItLeftAtItsRealSize();
    void aPacedShareStepsBackAfterQuietTimesThatDouble();
    void newConnectionSpacesTheNextWholeBucketRequest();
    void coldTripsDoNotOvertakeAtFiftyRpm();
    void usedLeavesTheMarginOut();
    void marginNarrowsAfterAQuietPeriod();
    void startBurstIsPaidBackWithinAMinute();
    void nearMissesNarrowTheBurst();
    void settle_data();
    void settle();
    void cancelRefundsInFull();
    void limitChange_data();
    void limitChange();
    void allOrNothingAcrossScopes();
    void bindingNamesScopeAndDimension();
    void concurrencyReleasedOnSettleAndCancel();
    void fixedWindowResetsAtBoundary();
    void providerCorrectionTightensOnly();
    void removedScopeNeverAdmits();
    void badSpecsAreRejectedWithTheField();
};

// Admit `prior` units at t0 in `prior/chunk` requests, then ask for `ask`
// units at t0 + askAfter: the answer must be exactly t0 + expected.
void TestLedger::earliestTime_data()
{
    QTest::addColumn<int>("measure");
    QTest::addColumn<qint64>("limit");
    QTest::addColumn<qint64>("burst");
    QTest::addColumn<qint64>("prior");
    QTest::addColumn<qint64>("ask");
    QTest::addColumn<qint64>("askAfterMs");
    QTest::addColumn<qint64>("expectedNs");  // -1: admitted

    const int req = static_cast<int>(Measure::Requests);
    const int in = static_cast<int>(Measure::InputTokens);
    QTest::newRow("60 rpm burst 1: second request one second later")
        << req << qint64(60) << qint64(1) << qint64(1) << qint64(1) << qint64(0) << qint64(1'000'000'000);
    QTest::newRow("60 rpm full burst: 61st request one second later")
        << req << qint64(60) << qint64(0) << qint64(60) << qint64(1) << qint64(0) << qint64(1'000'000'000);
    QTest::newRow("60 rpm, half a second later, still waits to 1s")
        << req << qint64(60) << qint64(1) << qint64(1) << qint64(1) << qint64(500) << qint64(1'000'000'000);
    QTest::newRow("7 per minute: interval rounds up to the next ns")
        << req << qint64(7) << qint64(0) << qint64(7) << qint64(1) << qint64(0) << qint64(8'571'428'572);
    QTest::newRow("1000 tpm full, 500 more after 10s: at 30s")
        << in << qint64(1000) << qint64(0) << qint64(1000) << qint64(500) << qint64(10'000) << qint64(30'000'000'000);
    QTest::newRow("1000 tpm full, 500 more after 30s: admitted")
        << in << qint64(1000) << qint64(0) << qint64(1000) << qint64(500) << qint64(30'000) << qint64(-1);
    QTest::newRow("1000 tpm half used: 500 fits now")
        << in << qint64(1000) << qint64(0) << qint64(500) << qint64(500) << qint64(0) << qint64(-1);
    QTest::newRow("600 rpm as 10/s: 11th in the same instant waits 100ms")
        << req << qint64(600) << qint64(10) << qint64(10) << qint64(1) << qint64(0) << qint64(100'000'000);
}

void TestLedger::earliestTime()
{
    QFETCH(int, measure);
    QFETCH(qint64, limit);
    QFETCH(qint64, burst);
    QFETCH(qint64, prior);
    QFETCH(qint64, ask);
    QFETCH(qint64, askAfterMs);
    QFETCH(qint64, expectedNs);

    const auto m = static_cast<Measure>(measure);
    Fixture f({perMinute(m, limit, burst)});
    const bool perRequest = m == Measure::Requests;
    for (qint64 i = 0; i < (perRequest ? prior : 1); ++i) {
        Cost c = perRequest ? requestOnly() : tokens(prior);
        QCOMPARE(f.admit(c, kT0).verdict, Verdict::Admit);
    }
    const Cost askCost = perRequest ? Cost{ask, 0, 0, 0, 1} : tokens(ask);
    const TimePoint at = kT0 + std::chrono::milliseconds(askAfterMs);
    const Check c = f.ledger.check(f.path(), askCost, at);
    if (expectedNs < 0) {
        QCOMPARE(c.verdict, Verdict::Admit);
        return;
    }
    QCOMPARE(c.verdict, Verdict::Wait);
    QVERIFY(!c.waitsForRelease);
    QCOMPARE((c.notBefore - kT0).count(), expectedNs);
    // Exact: one nanosecond earlier still waits, at the answer it fits.
    QCOMPARE(f.ledger.check(f.path(), askCost, c.notBefore - 1ns).verdict, Verdict::Wait);
    QCOMPARE(f.admit(askCost, c.notBefore).verdict, Verdict::Admit);
}

void TestLedger::neverFits_data()
{
    QTest::addColumn<LimitSpec>("spec");
    QTest::addColumn<qint64>("amount");
    QTest::addColumn<bool>("never");

    QTest::newRow("tpm: one over the whole bucket") << perMinute(Measure::TotalTokens, 1000) << qint64(1001) << true;
    QTest::newRow("tpm: exactly the bucket fits") << perMinute(Measure::TotalTokens, 1000) << qint64(1000) << false;
    // A provider's bucket takes a request above its burst when it is full,
    // so only the whole per-minute limit bounds one request.
    QTest::newRow("burst smaller than limit: larger request fits a full bucket")
        << perMinute(Measure::TotalTokens, 6000, 100) << qint64(101) << false;
    QTest::newRow("burst smaller than limit: over the whole limit never fits")
        << perMinute(Measure::TotalTokens, 6000, 100) << qint64(6001) << true;
    QTest::newRow("zero limit refuses any cost") << perMinute(Measure::TotalTokens, 0) << qint64(1) << true;
    QTest::newRow("per-day budget") << perDay(Measure::TotalTokens, 5000) << qint64(5001) << true;
}

void TestLedger::neverFits()
{
    QFETCH(LimitSpec, spec);
    QFETCH(qint64, amount);
    QFETCH(bool, never);
    Fixture f({spec});
    const Check c = f.admit(tokens(amount), kT0);
    QCOMPARE(c.verdict, never ? Verdict::Never : Verdict::Admit);
    if (never) {
        QCOMPARE(c.binding.scope, f.leaf);
        QCOMPARE(c.binding.dimension, 0);
        QCOMPARE(f.used(0, kT0), 0);  // a refusal leaves no debit
    }
}

void TestLedger::requestAboveBurstWaitsForAFullBucket()
{
    // 6,000 TPM enforced as 100 tokens at once: one unit is 10 ms.
    Fixture f({perMinute(Measure::TotalTokens, 6000, 100)});
    QCOMPARE(f.admit(tokens(250), kT0).verdict, Verdict::Admit);
    // 250 units of debt drain at kT0 + 2.5 s; a small request fits as soon as
    // its own 10 units leave the debt within the 100-unit burst.
    const Check small = f.ledger.check(f.path(), tokens(10), kT0);
    QCOMPARE(small.verdict, Verdict::Wait);
    QCOMPARE(small.notBefore - kT0, Duration(1600ms));
    // Another large one waits for the bucket to be full again, not for ever.
    const Check large = f.ledger.check(f.path(), tokens(250), kT0);
    QCOMPARE(large.verdict, Verdict::Wait);
    QCOMPARE(large.notBefore - kT0, Duration(2500ms));
    QCOMPARE(f.admit(tokens(250), kT0 + 2500ms).verdict, Verdict::Admit);
}

void TestLedger::arrivalMarginSpacesWholeBucketRequests()
{
    Ledger ledger(Duration::zero(), 6ms);
    // 50 RPM in one-second buckets: each request takes the whole bucket,
    // one per 1.2 s.
    const ScopeId slow = ledger.addScope(Ledger::root(), "slow", {perMinute(Measure::Requests, 50, 1)}, kT0);
    // 600 RPM in one-second buckets: ten at once.
    const ScopeId fast = ledger.addScope(Ledger::root(), "fast", {perMinute(Measure::Requests, 600, 10)}, kT0);
    Hold h;
    QCOMPARE(ledger.admit(ledger.pathTo(slow), requestOnly(), kT0, h).verdict, Verdict::Admit);
    // The absolute margin alone (a bucket of one has no burst to pay back):
    // 6 ms, not 2% (24 ms), which would cap the pace at 98% of the limit.
    QCOMPARE(ledger.check(ledger.pathTo(slow), requestOnly(), kT0).notBefore - kT0, Duration(1206ms));
    // 3 RPM: the same 6 ms of a 20 s refill.
    const ScopeId slowest = ledger.addScope(Ledger::root(), "slowest", {perMinute(Measure::Requests, 3, 1)}, kT0);
    QCOMPARE(ledger.admit(ledger.pathTo(slowest), requestOnly(), kT0, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.check(ledger.pathTo(slowest), requestOnly(), kT0).notBefore - kT0, Duration(20'006ms));
    // Requests below the burst are spaced by a share of their 100 ms: 10%
    // while the full bucket's burst is paid back; the burst itself stays ten.
    for (int i = 0; i < 10; ++i) {
        QCOMPARE(ledger.admit(ledger.pathTo(fast), requestOnly(), kT0, h).verdict, Verdict::Admit);
    }
    QCOMPARE(ledger.check(ledger.pathTo(fast), requestOnly(), kT0).notBefore - kT0, Duration(110ms));
    QCOMPARE(ledger.admit(ledger.pathTo(fast), requestOnly(), kT0 + 110ms, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.check(ledger.pathTo(fast), requestOnly(), kT0).notBefore - kT0, Duration(220ms));

    // A near miss ("try again in 3ms") with 6 ms already between the
    // requests: their trips differed by 9 ms; the margin learns 13.5 ms,
    // and costs at most 1% of the refill time (12 ms at 50 RPM).
    QVERIFY(ledger.noteNearMiss(slow, 3ms, kT0 + 1s));
    QCOMPARE(ledger.nearMissMargin(slow, Measure::Requests), Duration(13'500us));
    QCOMPARE(ledger.admit(ledger.pathTo(slow), requestOnly(), kT0 + 1206ms, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.check(ledger.pathTo(slow), requestOnly(), kT0).notBefore - kT0, Duration(2418ms));
    // At 3 RPM the same evidence costs its 13.5 ms in full.
    QVERIFY(ledger.noteNearMiss(slowest, 3ms, kT0 + 1s));
    QCOMPARE(ledger.admit(ledger.pathTo(slowest), requestOnly(), kT0 + 20'006ms, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.check(ledger.pathTo(slowest), requestOnly(), kT0).notBefore - kT0, Duration(40'019'500us));
    // A hint of nothing more than the margin already covers adds nothing.
    QVERIFY(ledger.noteNearMiss(slowest, 0ms, kT0 + 2s));  // 13.5 → 20.25: it still arrived early
    // Quiet periods narrow it by a quarter at a time, back to the start.
    TimePoint t = kT0 + 40'019'500us;
    while (t < kT0 + 900s) {
        QCOMPARE(ledger.admit(ledger.pathTo(slowest), requestOnly(), t, h).verdict, Verdict::Admit);
        t = ledger.check(ledger.pathTo(slowest), requestOnly(), t).notBefore;
    }
    QCOMPARE(ledger.nearMissMargin(slowest, Measure::Requests), Duration(6ms));
    QCOMPARE(ledger.admit(ledger.pathTo(slowest), requestOnly(), t, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.check(ledger.pathTo(slowest), requestOnly(), t).notBefore - t, Duration(20'006ms));
}

// A request that opened its own connection is counted by the provider later
// than its departure by what no hook of ours sees (accept, routing, a cold
// worker); the next request, on a warm connection, would overtake that. A
// whole-bucket request's successor keeps 100 ms from it (at most 10% of the
// refill time); a request below the burst, or one on a warm connection,
// keeps only the usual margin.
void TestLedger::newConnectionSpacesTheNextWholeBucketRequest()
{
    Ledger ledger(Duration::zero(), 6ms);
    const ScopeId slow = ledger.addScope(Ledger::root(), "slow", {perMinute(Measure::Requests, 50, 1)}, kT0);
    const Path p = ledger.pathTo(slow);
    Hold h;
    QCOMPARE(ledger.admit(p, requestOnly(), kT0, h).verdict, Verdict::Admit);
    ledger.departed(h, kT0 + 2ms, true);
    QCOMPARE(ledger.check(p, requestOnly(), kT0).notBefore - kT0, Duration(1302ms));
    // On a warm connection: the learned margin alone, from its departure.
    QCOMPARE(ledger.admit(p, requestOnly(), kT0 + 1302ms, h).verdict, Verdict::Admit);
    ledger.departed(h, kT0 + 1303ms, false);
    QCOMPARE(ledger.check(p, requestOnly(), kT0).notBefore - kT0, Duration(2509ms));
    // Leaving at once still counts the new connection.
    QCOMPARE(ledger.admit(p, requestOnly(), kT0 + 2509ms, h).verdict, Verdict::Admit);
    ledger.departed(h, kT0 + 2509ms, true);
    QCOMPARE(ledger.check(p, requestOnly(), kT0).notBefore - kT0, Duration(3809ms));

    // 3 RPM: the same 100 ms of a 20 s refill.
    const ScopeId slowest = ledger.addScope(Ledger::root(), "slowest", {perMinute(Measure::Requests, 3, 1)}, kT0);
    QCOMPARE(ledger.admit(ledger.pathTo(slowest), requestOnly(), kT0, h).verdict, Verdict::Admit);
    ledger.departed(h, kT0, true);
    QCOMPARE(ledger.check(ledger.pathTo(slowest), requestOnly(), kT0).notBefore - kT0, Duration(20'100ms));

    // Paced at 600 RPM (a bucket of one, 100 ms per request): at most 10 ms
    // (against the 0.5 ms share on a warm connection), less the window's
    // catch-up slack of 2.5 ms (half the share over the window of 10).
    const ScopeId paced = ledger.addScope(Ledger::root(), "paced", {perMinute(Measure::Requests, 600, 10)}, kT0);
    QVERIFY(ledger.paceEvenly(paced, kT0));
    QCOMPARE(ledger.admit(ledger.pathTo(paced), requestOnly(), kT0, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.check(ledger.pathTo(paced), requestOnly(), kT0).notBefore - kT0, Duration(98ms));
    ledger.departed(h, kT0, true);
    QCOMPARE(ledger.check(ledger.pathTo(paced), requestOnly(), kT0).notBefore - kT0, Duration(107500us));

    // Below the burst the bucket's room absorbs it: nothing more.
    const ScopeId fast = ledger.addScope(Ledger::root(), "fast", {perMinute(Measure::Requests, 600, 10)}, kT0);
    for (int i = 0; i < 10; ++i) {
        QCOMPARE(ledger.admit(ledger.pathTo(fast), requestOnly(), kT0, h).verdict, Verdict::Admit);
        ledger.departed(h, kT0, true);
    }
    // (110 ms: the next pays its own 10% while the full bucket's burst is
    // paid back, as without the new connections.)
    QCOMPARE(ledger.check(ledger.pathTo(fast), requestOnly(), kT0).notBefore - kT0, Duration(110ms));

    // Margins off (an exact ledger): nothing added.
    Ledger exact{Duration::zero()};
    const ScopeId e = exact.addScope(Ledger::root(), "e", {perMinute(Measure::Requests, 50, 1)}, kT0);
    QCOMPARE(exact.admit(exact.pathTo(e), requestOnly(), kT0, h).verdict, Verdict::Admit);
    exact.departed(h, kT0 + 2ms, true);
    QCOMPARE(exact.check(exact.pathTo(e), requestOnly(), kT0).notBefore - kT0, Duration(1202ms));
}

// The start of a 50 RPM run against a provider that counts a bucket of one
// (the mock's RateBucket): the first two requests open connections (the
// first is still in flight when the second goes), and a request on a new
// connection reaches the provider's limiter 40 ms after it left, one on a
// warm connection 0.3 ms after. The sender wakes 0–3 ms late. Nothing is
// refused, from the first request on, and the pace stays ≥ 99% of the limit.
void TestLedger::coldTripsDoNotOvertakeAtFiftyRpm()
{
    Ledger ledger(Duration::zero(), 6ms);
    const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::Requests, 50, 1)}, kT0);
    const Path p = ledger.pathTo(s);
    mock::RateBucket provider(50, 1min, 1, kT0);
    const std::array<Duration, 4> late{0ms, 3ms, 1ms, 2ms};
    TimePoint t = kT0;
    TimePoint firstArrival{};
    TimePoint lastArrival{};
    int refused = 0;
    constexpr int kRequests = 150;
    for (int i = 0; i < kRequests; ++i) {
        Hold h;
        QCOMPARE(ledger.admit(p, requestOnly(), t, h).verdict, Verdict::Admit);
        const bool newConnection = i < 2;
        const TimePoint leftAt = t + 200us;
        ledger.departed(h, leftAt, newConnection);
        const TimePoint arrival = leftAt + (newConnection ? Duration(40ms) : Duration(300us));
        if (provider.waitFor(1, arrival) > Duration::zero()) {
            ++refused;
        } else {
            provider.take(1, arrival);
        }
        firstArrival = i == 0 ? arrival : firstArrival;
        lastArrival = arrival;
        t = ledger.check(p, requestOnly(), t).notBefore + late[static_cast<std::size_t>(i) % late.size()];
    }
    QCOMPARE(refused, 0);
    const double minutes = std::chrono::duration<double>(lastArrival - firstArrival).count() / 60.0;
    const double perMinute = (kRequests - 1) / minutes;
    QVERIFY2(perMinute >= 0.99 * 50, qPrintable(QString::number(perMinute)));
}

// A provider that counts a sliding one-second window of 10 (600 RPM) refuses
// the eleventh request in any second. Paced evenly, the ledger never lets
// eleven out within a second, however late the sender wakes, and keeps
// within 2% of the rate.
void TestLedger::pacedEvenlyNeverPutsElevenInOneSecond()
{
    Ledger ledger(Duration::zero(), 6ms);
    const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::Requests, 600, 10)}, kT0);
    const Path p = ledger.pathTo(s);
    QVERIFY(!ledger.paced(s));
    QVERIFY(ledger.paceEvenly(s, kT0));
    QVERIFY(!ledger.paceEvenly(s, kT0));
    QVERIFY(ledger.paced(s));
    Hold h;
    std::vector<TimePoint> sent;
    TimePoint t = kT0;
    // A sender that wakes up to 9 ms late, in a repeating pattern.
    const std::array<Duration, 5> late{0ms, 9ms, 1ms, 4ms, 0ms};
    for (std::size_t i = 0; sent.size() < 1200; ++i) {
        const Check c = ledger.admit(p, requestOnly(), t, h);
        if (c.verdict == Verdict::Admit) {
            sent.push_back(t);
            continue;
        }
        t = c.notBefore + late[i % late.size()];
    }
    for (std::size_t i = 10; i < sent.size(); ++i) {
        QVERIFY2(sent[i] - sent[i - 10] >= 1s, qPrintable(QString::number(i)));
    }
    // 1,200 requests at 600 RPM take two minutes; 2% margin, a little lateness.
    const double minutes = std::chrono::duration<double>(sent.back() - sent.front()).count() / 60.0;
    QVERIFY2(1199.0 / minutes >= 0.97 * 600, qPrintable(QString::number(1199.0 / minutes)));
    // Quiet periods never narrow the share below its start: it is the
    // window's tolerance.
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kPacedMarginPer10k);
    // Near misses at that pace double it, up to the most a window is given.
    QVERIFY(ledger.widenMargin(s, t));
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), 2 * Ledger::kPacedMarginPer10k);
    QVERIFY(ledger.widenMargin(s, t));
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMostPacedMarginPer10k);
    QVERIFY(!ledger.widenMargin(s, t));
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMostPacedMarginPer10k);
}

// A provider that counts 6,000 tokens in any sliding second (360,000 TPM)
// refuses a request whenever the second before it holds too many. Paced at
// the rate, requests of 40 to 520 tokens overfilled a window in every few
// (the last one in each by its whole size): the paced ledger now admits
// only what fits in its own log of the window, so the provider (the mock's
// own sliding window, arrivals up to 3 ms late) refuses nothing, and the
// throughput stays within 5% of the limit.
void TestLedger::pacedTokensNeverOverfillASlidingWindow()
{
    Ledger ledger(Duration::zero(), 6ms);
    // The burst configuration gives a granularity of one second:
    // 6,000 less 50 ms of the rate.
    const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::InputTokens, 360'000, 5'700)}, kT0);
    const Path p = ledger.pathTo(s);
    QVERIFY(ledger.paceEvenly(s, kT0));
    // Pacing starts on a 429: the provider's window is full then.
    mock::SlidingWindow provider(360'000, 1s, 6'000, kT0);
    provider.take(6'000, kT0);
    const std::array<Duration, 5> late{0ms, 9ms, 1ms, 4ms, 0ms};
    const std::array<Duration, 4> trip{1ms, 3ms, 0ms, 2ms};
    TimePoint t = kT0;
    std::int64_t sent = 0;
    std::int64_t refused = 0;
    TimePoint last = kT0;
    for (std::size_t i = 0; t < kT0 + 120s; ++i) {
        const std::int64_t size = 40 + static_cast<std::int64_t>((i * 7919) % 481);
        Hold h;
        const Check c = ledger.admit(p, tokens(size), t, h);
        if (c.verdict != Verdict::Admit) {
            QCOMPARE(c.verdict, Verdict::Wait);
            t = c.notBefore + late[i % late.size()];
            continue;
        }
        const TimePoint arrives = t + trip[i % trip.size()];
        if (provider.waitFor(size, arrives) > Duration::zero()) {
            ++refused;
            ledger.cancel(h, arrives);
            continue;
        }
        provider.take(size, arrives);
        sent += size;
        last = t;
    }
    QCOMPARE(refused, 0);
    const double perSecond = static_cast<double>(sent) / std::chrono::duration<double>(last - (kT0 + 1s)).count();
    QVERIFY2(perSecond >= 0.95 * 6'000, qPrintable(QString::number(perSecond)));
}

// The window holds a request from when it left, not from its admission,
// and at what it really cost once settled.
void TestLedger::aWindowCountsARequestFromWhenItLeftAtItsRealSize()
{
    Ledger ledger(Duration::zero(), 1ms);
    const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::InputTokens, 60'000, 950)}, kT0);
    const Path p = ledger.pathTo(s);
    QVERIFY(ledger.paceEvenly(s, kT0));
    // Pacing starts with the window taken as full: the provider has just
    // refused a request for it, and what the bucket let out is not logged.
    QCOMPARE(ledger.check(p, tokens(10), kT0).notBefore, kT0 + 1001ms + 1ns);
    const TimePoint t0 = kT0 + 2s;
    Hold first;
    QCOMPARE(ledger.admit(p, tokens(900), t0, first).verdict, Verdict::Admit);
    ledger.departed(first, t0 + 300ms);
    // The bucket refills in 0.9 s, but the window holds the 900 until a
    // second (plus the margin) after they left.
    Hold second;
    const Check wait = ledger.admit(p, tokens(500), t0 + 950ms, second);
    QCOMPARE(wait.verdict, Verdict::Wait);
    QCOMPARE(wait.notBefore, t0 + 1301ms + 1ns);
    // The first really cost 300: 500 more fit beside it now.
    ledger.settle(first, tokens(300), t0 + 950ms);
    QCOMPARE(ledger.admit(p, tokens(500), t0 + 950ms, second).verdict, Verdict::Admit);
    // Without window logs (the shared script's pacing), the same ledger
    // paces at a burst of one and knows no window.
    Ledger bare(Duration::zero(), 1ms, false);
    const ScopeId b = bare.addScope(Ledger::root(), "s", {perMinute(Measure::InputTokens, 60'000, 950)}, kT0);
    QVERIFY(bare.paceEvenly(b, kT0));
    QCOMPARE(bare.check(bare.pathTo(b), tokens(10), kT0).verdict, Verdict::Admit);
}

// Paced against a one-second window, half the share over the window is
// the jitter it holds (5 ms at 0.5%). A near miss that says how early it
// came widens the share at once to hold half as much again: one refusal,
// not one per doubling.
void TestLedger::aNearMissWhilePacedWidensToWhatItsHintNeeds()
{
    const auto pacedScope = [](Ledger& ledger) {
        const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::Requests, 600, 10)}, kT0);
        ledger.paceEvenly(s, kT0);
        return s;
    };
    {
        Ledger ledger(Duration::zero(), 6ms);
        const ScopeId s = pacedScope(ledger);
        ledger.noteNearMiss(s, 1ms, kT0);  // 1.5 ms: within the 5 ms it holds
        QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kPacedMarginPer10k);
        ledger.noteNearMiss(s, 2ms, kT0);  // 3 ms × 2 of a second: 0.6%, so 1%
        QCOMPARE(ledger.marginPer10k(s, Measure::Requests), 2 * Ledger::kPacedMarginPer10k);
    }
    {
        Ledger ledger(Duration::zero(), 6ms);
        const ScopeId s = pacedScope(ledger);
        ledger.noteNearMiss(s, 8ms, kT0);  // 2.4%: as far as a window goes, at once
        QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMostPacedMarginPer10k);
        ledger.noteNearMiss(s, 40ms, kT0);
        QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMostPacedMarginPer10k);
    }
    {
        // Not paced (a bucket): the share is the bucket's business, the hint
        // only widens the absolute margin.
        Ledger ledger(Duration::zero(), 6ms);
        const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::Requests, 600, 10)}, kT0);
        const std::int32_t before = ledger.marginPer10k(s, Measure::Requests);
        ledger.noteNearMiss(s, 8ms, kT0);
        QCOMPARE(ledger.marginPer10k(s, Measure::Requests), before);
    }
}

// A spell of jitter widens a paced share; it does not keep it wide: after
// a quiet time with no 429 (a quarter of the period) it halves, and each
// step after that waits twice as long as the last (counted from the end of
// the last), down to the start share. A 429 in between restarts the quiet
// time, and the steps already taken keep the waits long.
void TestLedger::aPacedShareStepsBackAfterQuietTimesThatDouble()
{
    Ledger ledger(Duration::zero(), 6ms);
    const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::Requests, 600, 10)}, kT0);
    const Path p = ledger.pathTo(s);
    ledger.paceEvenly(s, kT0);
    ledger.widenMargin(s, kT0);
    ledger.widenMargin(s, kT0);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMostPacedMarginPer10k);
    const auto shareAt = [&](TimePoint t) {
        Hold h;
        (void)ledger.admit(p, requestOnly(), t, h);  // a step back is taken as a request is asked for
        return ledger.marginPer10k(s, Measure::Requests);
    };
    // A minute's period: quiet times of 15 s, then 30 s, 60 s, ...
    const auto quiet = [](int steps) { return Ledger::pacedQuiet(1min, steps); };
    QCOMPARE(quiet(0), Duration(15s));
    QCOMPARE(quiet(1), Duration(30s));
    QCOMPARE(quiet(9), 16 * Duration(1min));  // at most sixteen periods
    QCOMPARE(shareAt(kT0 + quiet(0) - 1ns), Ledger::kMostPacedMarginPer10k);
    QCOMPARE(shareAt(kT0 + quiet(0)), Ledger::kMostPacedMarginPer10k / 2);
    QCOMPARE(shareAt(kT0 + quiet(0) + quiet(1) - 1ns), Ledger::kMostPacedMarginPer10k / 2);
    QCOMPARE(shareAt(kT0 + quiet(0) + quiet(1)), Ledger::kPacedMarginPer10k);
    QCOMPARE(shareAt(kT0 + 10min), Ledger::kPacedMarginPer10k);  // never below the start

    // Two steps taken: after a 429 the next waits a minute from it.
    const TimePoint miss = kT0 + 10min;
    QVERIFY(ledger.widenMargin(s, miss));
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), 2 * Ledger::kPacedMarginPer10k);
    QCOMPARE(shareAt(miss + quiet(2) - 1ns), 2 * Ledger::kPacedMarginPer10k);
    QCOMPARE(shareAt(miss + quiet(2)), Ledger::kPacedMarginPer10k);
    // A miss whose hint needs more widens at once, and its quiet time
    // (two minutes now) starts then.
    const TimePoint second = miss + quiet(2) + 30s;
    QVERIFY(ledger.noteNearMiss(s, 8ms, second));
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMostPacedMarginPer10k);
    QCOMPARE(shareAt(second + quiet(3) - 1ns), Ledger::kMostPacedMarginPer10k);
    QCOMPARE(shareAt(second + quiet(3)), Ledger::kMostPacedMarginPer10k / 2);
}

// What a bucket shows as used is its units, not the margin spacing them:
// ten requests from a full bucket of ten read ten, not eleven.
void TestLedger::usedLeavesTheMarginOut()
{
    Ledger ledger(Duration::zero(), 6ms);
    const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::Requests, 600, 10)}, kT0);
    Hold h;
    for (int i = 0; i < 10; ++i) {
        QCOMPARE(ledger.admit(ledger.pathTo(s), requestOnly(), kT0, h).verdict, Verdict::Admit);
    }
    QCOMPARE(ledger.snapshot(s, kT0).dimensions.at(0).used, std::int64_t{10});
    QCOMPARE(ledger.snapshot(s, kT0).dimensions.at(0).available, std::int64_t{0});
    const ScopeId slow = ledger.addScope(Ledger::root(), "slow", {perMinute(Measure::Requests, 50, 1)}, kT0);
    QCOMPARE(ledger.admit(ledger.pathTo(slow), requestOnly(), kT0, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.snapshot(slow, kT0).dimensions.at(0).used, std::int64_t{1});
}

void TestLedger::marginNarrowsAfterAQuietPeriod()
{
    Ledger ledger(Duration::zero(), 10ms);
    const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::Requests, 600, 10)}, kT0);
    const Path p = ledger.pathTo(s);
    Hold h;
    TimePoint t = kT0;
    const auto runFor = [&](Duration span) {
        const TimePoint end = t + span;
        while (t < end) {
            const Check c = ledger.admit(p, requestOnly(), t, h);
            t = c.verdict == Verdict::Admit ? t : c.notBefore;
        }
    };
    // A full bucket's burst is paid back first (about 11 s at 10%), then
    // the share is the floor.
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kPaybackPer10k);
    runFor(10s);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kPaybackPer10k);
    runFor(2s);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMarginPer10k);
    // Near misses double it, up to the most.
    QVERIFY(ledger.widenMargin(s, t));
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), 2 * Ledger::kMarginPer10k);
    QVERIFY(ledger.widenMargin(s, t));
    QVERIFY(ledger.widenMargin(s, t));
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMaxMarginPer10k);
    // Busy at the rate, with no near miss: each minute halves the margin,
    // down to the floor and no further.
    runFor(59s);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMaxMarginPer10k);
    runFor(2s);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), std::int32_t{200});
    runFor(60s);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), std::int32_t{100});
    runFor(60s);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMarginPer10k);
    runFor(120s);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kMarginPer10k);
    // A near miss restarts the quiet period.
    QVERIFY(ledger.widenMargin(s, t));
    runFor(30s);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), std::int32_t{100});
    // Idle until full for a whole refill: the next burst is paid back
    // again, and the learned share is in force once it is.
    t += 5s;
    QCOMPARE(ledger.admit(p, requestOnly(), t, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), Ledger::kPaybackPer10k);
    runFor(12s);
    QCOMPARE(ledger.marginPer10k(s, Measure::Requests), std::int32_t{100});
}

// A near miss at a bucket's burst (a provider counting a sliding window
// allows none beyond the rate) halves the burst; quiet periods restore it.
void TestLedger::nearMissesNarrowTheBurst()
{
    Ledger ledger(Duration::zero(), 10ms);
    const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::Requests, 600, 10)}, kT0);
    const Path p = ledger.pathTo(s);
    Hold h;
    const auto burstAt = [&](TimePoint t) {
        int n = 0;
        while (ledger.admit(p, requestOnly(), t, h).verdict == Verdict::Admit) {
            ++n;
        }
        return n;
    };
    QCOMPARE(burstAt(kT0), 10);
    QVERIFY(ledger.widenMargin(s, kT0));
    QCOMPARE(ledger.snapshot(s, kT0).dimensions.at(0).spec.burst, std::int64_t{10});  // the spec is kept
    QCOMPARE(burstAt(kT0 + 10s), 5);
    QVERIFY(ledger.widenMargin(s, kT0 + 10s));   // 10 → 5 → 2
    QVERIFY(ledger.widenMargin(s, kT0 + 10s));   // the share 0.5% → 1% → 2% → 4%
    QVERIFY(!ledger.widenMargin(s, kT0 + 10s));  // margin at its most, burst at two
    QCOMPARE(burstAt(kT0 + 20s), 2);
    // Each quiet period doubles it back, one step at a time.
    QCOMPARE(burstAt(kT0 + 81s), 5);
    QCOMPARE(burstAt(kT0 + 142s), 10);
    QCOMPARE(burstAt(kT0 + 300s), 10);
}

// A provider that counts a sliding minute (or fixed minutes) refuses
// anything beyond the limit in any 60 s. A bucket of a second's worth lets
// a second's burst out at the start and then runs at the rate: without
// the burst paid back, the first minute holds the limit plus the burst.
void TestLedger::startBurstIsPaidBackWithinAMinute()
{
    Ledger ledger(Duration::zero(), 10ms);
    const std::int64_t limit = 5000;
    const ScopeId s = ledger.addScope(Ledger::root(), "s", {perMinute(Measure::Requests, limit, 79)}, kT0);
    const Path p = ledger.pathTo(s);
    std::vector<TimePoint> sent;
    TimePoint t = kT0;
    Hold h;
    while (t < kT0 + 180s) {
        const Check c = ledger.admit(p, requestOnly(), t, h);
        if (c.verdict == Verdict::Admit) {
            sent.push_back(t);
        } else {
            t = c.notBefore;
        }
    }
    // The most in any 60 s span, and the rate kept over the run.
    std::size_t most = 0;
    std::size_t first = 0;
    for (std::size_t i = 0; i < sent.size(); ++i) {
        while (sent[i] - sent[first] >= 60s) {
            ++first;
        }
        most = std::max(most, i - first + 1);
    }
    QVERIFY2(most <= static_cast<std::size_t>(limit), qPrintable(QString::number(most)));
    QVERIFY(sent.size() >= static_cast<std::size_t>(limit * 3 * 97 / 100));
    // The burst (79 requests, under a second at the rate) is paid back in
    // the first seconds, not over minutes: from 15 s on, the rate less the
    // floor's half a percent.
    const auto from = std::lower_bound(sent.begin(), sent.end(), kT0 + 15s);
    const auto to = std::lower_bound(sent.begin(), sent.end(), kT0 + 75s);
    const auto steady = static_cast<double>(to - from);
    QVERIFY2(steady >= 0.994 * static_cast<double>(limit), qPrintable(QString::number(steady)));
    // Paying back: the first 11 s run at 10% below the rate.
    const auto early = static_cast<double>(std::lower_bound(sent.begin(), sent.end(), kT0 + 10s) - sent.begin());
    QVERIFY2(early <= 79 + 10.0 / 60 * static_cast<double>(limit) / 1.09, qPrintable(QString::number(early)));
}

void TestLedger::settle_data()
{
    QTest::addColumn<qint64>("reserved");
    QTest::addColumn<qint64>("actual");
    QTest::addColumn<qint64>("settleAfterMs");
    QTest::addColumn<qint64>("usedAfter");

    // TPM 6000 = 100 tokens per second of refill.
    QTest::newRow("refund at once") << qint64(800) << qint64(300) << qint64(0) << qint64(300);
    QTest::newRow("extra debit at once") << qint64(300) << qint64(800) << qint64(0) << qint64(800);
    QTest::newRow("refund after 2s drain") << qint64(800) << qint64(300) << qint64(2000) << qint64(100);
    QTest::newRow("refund cannot overfill the bucket") << qint64(800) << qint64(100) << qint64(9000) << qint64(0);
    QTest::newRow("extra debit after the bucket drained") << qint64(300) << qint64(800) << qint64(9000) << qint64(500);
    QTest::newRow("debit past capacity is kept") << qint64(6000) << qint64(9000) << qint64(0) << qint64(9000);
    QTest::newRow("exact estimate changes nothing") << qint64(500) << qint64(500) << qint64(1000) << qint64(400);
}

void TestLedger::settle()
{
    QFETCH(qint64, reserved);
    QFETCH(qint64, actual);
    QFETCH(qint64, settleAfterMs);
    QFETCH(qint64, usedAfter);
    Fixture f({perMinute(Measure::TotalTokens, 6000)});
    const Hold h = f.hold(tokens(reserved), kT0);
    const TimePoint at = kT0 + std::chrono::milliseconds(settleAfterMs);
    f.ledger.settle(h, tokens(actual), at);
    QCOMPARE(f.used(0, at), usedAfter);
}

void TestLedger::cancelRefundsInFull()
{
    Fixture f({perMinute(Measure::Requests, 10), perMinute(Measure::TotalTokens, 1000), concurrency(1)});
    const Hold h = f.hold(Cost{1, 700, 200, 0, 1}, kT0);
    QCOMPARE(f.used(0, kT0), 1);
    QCOMPARE(f.used(1, kT0), 900);
    QCOMPARE(f.used(2, kT0), 1);
    f.ledger.cancel(h, kT0);
    QCOMPARE(f.used(0, kT0), 0);
    QCOMPARE(f.used(1, kT0), 0);
    QCOMPARE(f.used(2, kT0), 0);
}

void TestLedger::limitChange_data()
{
    QTest::addColumn<qint64>("newLimit");
    QTest::addColumn<qint64>("usedAfterChange");
    QTest::addColumn<qint64>("available");
    QTest::addColumn<qint64>("waitForOneNs");  // -1: one more token fits now

    // 800 of 1000 used when the limit changes.
    QTest::newRow("lowered below usage binds at once")
        << qint64(500) << qint64(800) << qint64(0) << qint64(36'120'000'000);  // 301 tokens at 500/min
    QTest::newRow("raised grants only the added capacity") << qint64(2000) << qint64(800) << qint64(1200) << qint64(-1);
    QTest::newRow("unchanged keeps usage") << qint64(1000) << qint64(800) << qint64(200) << qint64(-1);
}

void TestLedger::limitChange()
{
    QFETCH(qint64, newLimit);
    QFETCH(qint64, usedAfterChange);
    QFETCH(qint64, available);
    QFETCH(qint64, waitForOneNs);
    Fixture f({perMinute(Measure::TotalTokens, 1000), perMinute(Measure::Requests, 100)});
    f.hold(tokens(800), kT0);
    f.ledger.setLimits(f.leaf, {perMinute(Measure::Requests, 100), perMinute(Measure::TotalTokens, newLimit)}, kT0);
    const auto snap = f.ledger.snapshot(f.leaf, kT0);
    QCOMPARE(snap.dimensions.at(1).used, usedAfterChange);
    QCOMPARE(snap.dimensions.at(1).available, available);
    QCOMPARE(snap.dimensions.at(0).used, 1);  // the request count carried over too
    const Check c = f.ledger.check(f.path(), tokens(1), kT0);
    if (waitForOneNs < 0) {
        QCOMPARE(c.verdict, Verdict::Admit);
        QCOMPARE(f.ledger.check(f.path(), tokens(available + 1), kT0).verdict, Verdict::Wait);
    } else {
        QCOMPARE(c.verdict, Verdict::Wait);
        QCOMPARE((c.notBefore - kT0).count(), waitForOneNs);
    }
}

void TestLedger::allOrNothingAcrossScopes()
{
    Ledger ledger;
    const ScopeId provider = ledger.addScope(Ledger::root(), "openai", {perMinute(Measure::Requests, 2)}, kT0);
    const ScopeId key = ledger.addScope(provider, "key-a", {perMinute(Measure::TotalTokens, 10'000)}, kT0);
    const ScopeId model = ledger.addScope(key, "gpt-4o", {perMinute(Measure::TotalTokens, 1000), concurrency(5)}, kT0);
    const Path path = ledger.pathTo(model);
    QCOMPARE(path.depth, 4);

    Hold h;
    QCOMPARE(ledger.admit(path, tokens(100), kT0, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.admit(path, tokens(100), kT0, h).verdict, Verdict::Admit);
    // The provider's RPM is exhausted: the key and model must not be debited.
    const Check c = ledger.admit(path, tokens(100), kT0, h);
    QCOMPARE(c.verdict, Verdict::Wait);
    QCOMPARE(c.binding.scope, provider);
    QCOMPARE(ledger.snapshot(key, kT0).dimensions.at(0).used, 200);
    QCOMPARE(ledger.snapshot(model, kT0).dimensions.at(0).used, 200);
    QCOMPARE(ledger.snapshot(model, kT0).dimensions.at(1).used, 2);

    // Too large for the model: never, and nothing anywhere is debited.
    const Check never = ledger.admit(path, tokens(1001), kT0 + 1min, h);
    QCOMPARE(never.verdict, Verdict::Never);
    QCOMPARE(never.binding.scope, model);
    QCOMPARE(ledger.snapshot(provider, kT0 + 1min).dimensions.at(0).used, 0);
}

void TestLedger::bindingNamesScopeAndDimension()
{
    Ledger ledger;
    const ScopeId key = ledger.addScope(Ledger::root(), "key", {perMinute(Measure::Requests, 1000)}, kT0);
    const ScopeId model = ledger.addScope(
        key, "m", {perMinute(Measure::Requests, 1000), perMinute(Measure::InputTokens, 600), perMinute(Measure::OutputTokens, 60)}, kT0);
    const Path path = ledger.pathTo(model);
    Hold h;
    QCOMPARE(ledger.admit(path, tokens(600, 60), kT0, h).verdict, Verdict::Admit);
    // Input refills 10/s, output 1/s: asking 10 of each binds on output (10 s).
    const Check c = ledger.check(path, tokens(10, 10), kT0);
    QCOMPARE(c.verdict, Verdict::Wait);
    QCOMPARE(c.binding.scope, model);
    QCOMPARE(c.binding.dimension, 2);
    QCOMPARE(c.binding.measure, Measure::OutputTokens);
    QCOMPARE((c.notBefore - kT0).count(), qint64(10'000'000'000));
}

void TestLedger::concurrencyReleasedOnSettleAndCancel()
{
    Fixture f({concurrency(2)});
    const Hold a = f.hold(Cost{1, 0, 0, 0, 1}, kT0);
    const Hold b = f.hold(Cost{1, 0, 0, 0, 1}, kT0);
    Check c = f.ledger.check(f.path(), Cost{1, 0, 0, 0, 1}, kT0);
    QCOMPARE(c.verdict, Verdict::Wait);
    QVERIFY(c.waitsForRelease);
    QCOMPARE(c.binding.measure, Measure::Concurrency);
    f.ledger.settle(a, Cost{1, 0, 0, 0, 1}, kT0 + 1s);
    QCOMPARE(f.ledger.check(f.path(), Cost{1, 0, 0, 0, 1}, kT0 + 1s).verdict, Verdict::Admit);
    QCOMPARE(f.ledger.check(f.path(), Cost{1, 0, 0, 0, 2}, kT0 + 1s).verdict, Verdict::Wait);
    f.ledger.cancel(b, kT0 + 1s);
    QCOMPARE(f.ledger.check(f.path(), Cost{1, 0, 0, 0, 2}, kT0 + 1s).verdict, Verdict::Admit);
    QCOMPARE(f.ledger.check(f.path(), Cost{1, 0, 0, 0, 3}, kT0 + 1s).verdict, Verdict::Never);
}

void TestLedger::fixedWindowResetsAtBoundary()
{
    // The ledger's steady time kT0 is 2026-01-01T10:00:00Z on the calendar.
    const Duration wallMinusSteady =
        Duration(1'767'225'600LL * 1'000'000'000LL) + 10h - kT0.time_since_epoch();
    Ledger ledger(wallMinusSteady);
    const ScopeId s = ledger.addScope(Ledger::root(), "day", {perDay(Measure::Requests, 3)}, kT0);
    const Path path = ledger.pathTo(s);
    Hold h;
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(ledger.admit(path, requestOnly(), kT0, h).verdict, Verdict::Admit);
    }
    const Check c = ledger.check(path, requestOnly(), kT0);
    QCOMPARE(c.verdict, Verdict::Wait);
    QCOMPARE(c.notBefore - kT0, Duration(14h));  // next UTC midnight
    QCOMPARE(ledger.admit(path, requestOnly(), kT0 + 14h, h).verdict, Verdict::Admit);

    // With a -8h offset the day starts at 08:00Z: 22h after 10:00Z.
    const ScopeId pacific = ledger.addScope(Ledger::root(), "pacific", {perDay(Measure::Requests, 1, -8h)}, kT0);
    QCOMPARE(ledger.admit(ledger.pathTo(pacific), requestOnly(), kT0, h).verdict, Verdict::Admit);
    QCOMPARE(ledger.check(ledger.pathTo(pacific), requestOnly(), kT0).notBefore - kT0, Duration(22h));
}

void TestLedger::providerCorrectionTightensOnly()
{
    Fixture f({perMinute(Measure::TotalTokens, 60'000)});
    f.hold(tokens(1000), kT0);
    // Provider says 50,000 remain: it has counted 10,000.
    QVERIFY(f.ledger.correct(f.leaf, Measure::TotalTokens, {60'000, 50'000, std::nullopt}, kT0));
    QCOMPARE(f.used(0, kT0), 10'000);
    // A looser view (it has not seen our in-flight work) changes nothing.
    QVERIFY(!f.ledger.correct(f.leaf, Measure::TotalTokens, {60'000, 59'000, std::nullopt}, kT0));
    QCOMPARE(f.used(0, kT0), 10'000);
    // Time-to-full of 30 s at 1,000/s means 30,000 counted.
    QVERIFY(f.ledger.correct(f.leaf, Measure::TotalTokens, {std::nullopt, std::nullopt, Duration(30s)}, kT0));
    QCOMPARE(f.used(0, kT0), 30'000);
    // No dimension for that measure: nothing to correct.
    QVERIFY(!f.ledger.correct(f.leaf, Measure::Requests, {10, 0, std::nullopt}, kT0));
}

void TestLedger::removedScopeNeverAdmits()
{
    Ledger ledger;
    const ScopeId key = ledger.addScope(Ledger::root(), "key", {}, kT0);
    const ScopeId model = ledger.addScope(key, "m", {concurrency(1)}, kT0);
    Hold h;
    QCOMPARE(ledger.admit(ledger.pathTo(model), requestOnly(), kT0, h).verdict, Verdict::Admit);
    const Path path = ledger.pathTo(model);
    ledger.removeScope(key);
    const Check c = ledger.check(path, requestOnly(), kT0);
    QCOMPARE(c.verdict, Verdict::Never);
    QCOMPARE(c.binding.dimension, -1);
    ledger.settle(h, requestOnly(), kT0);  // harmless after removal
    QVERIFY(!ledger.findScope(Ledger::root(), "key"));
}

void TestLedger::badSpecsAreRejectedWithTheField()
{
    Ledger ledger;
    LimitSpec bad = perMinute(Measure::Requests, -1);
    try {
        ledger.addScope(Ledger::root(), "k", {bad}, kT0);
        QFAIL("negative limit accepted");
    } catch (const std::invalid_argument& e) {
        QVERIFY2(QByteArray(e.what()).contains("limit: must not be negative"), e.what());
    }
    LimitSpec noPeriod = perMinute(Measure::Requests, 5);
    noPeriod.period = Duration::zero();
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, ledger.addScope(Ledger::root(), "k", {noPeriod}, kT0));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                             ledger.addScope(Ledger::root(), "k",
                                             {perMinute(Measure::Requests, 5), perMinute(Measure::Requests, 6)}, kT0));
    QCOMPARE(ledger.scopeCount(), std::size_t{1});
}

QTEST_APPLESS_MAIN(TestLedger)
#include "tst_ledger.moc"
