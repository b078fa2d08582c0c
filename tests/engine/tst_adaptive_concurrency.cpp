// AdaptiveConcurrency on ManualClock with synthetic latency sequences and
// closed-loop servers (hidden rate limit, latency knee); the config's
// "concurrency": "auto".
#include "config/config.h"
#include "core/json_source.h"
#include "admission/admission.h"
#include "dispatch/adaptive_concurrency.h"
#include "dispatch/adaptive_controller.h"

#include <QtTest>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

using Kind = ConcurrencySample::Kind;

AdaptiveConcurrencyOptions opts(std::int64_t initial, std::int64_t max = 256)
{
    AdaptiveConcurrencyOptions o;
    o.initial = initial;
    o.max = max;
    return o;
}

// Feeds `n` successes of `latency` each, sent at the current time with the
// limit filled, advancing the clock by latency / limit per answer.
void successes(AdaptiveConcurrency& a, ManualClock& clock, int n, Duration latency, std::int64_t inFlight = -1)
{
    for (int i = 0; i < n; ++i) {
        const std::int64_t l = a.limit();
        clock.advance(latency / l);
        a.onSample(clock.now(), ConcurrencySample{Kind::Success, clock.now() - latency, latency,
                                                  inFlight < 0 ? l : inFlight, std::nullopt});
    }
}

Config parse(const std::string& limits)
{
    const std::string text = R"({"providers": [{"name": "p", "flavor": "openai", "base_url": "http://127.0.0.1:1", "limits": )" + limits +
                             R"(, "keys": [{"name": "k", "env": "HOME"}]}]})";
    return loadConfig(JsonSource("cfg.json", text), [](const std::string&) { return std::optional<std::string>("x"); });
}

}  // namespace

class TestAdaptiveConcurrency : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sequences_data();
    void sequences();
    void rateLimitedOncePerEpisode();
    void retryAfterIsReported();
    void boundsHold();
    void hiddenRateLimit();
    void latencyKnee();
    void configAuto();
    void configAutoRejects_data();
    void configAutoRejects();
    void controllerAppliesThroughSetLimits();
};

void TestAdaptiveConcurrency::sequences_data()
{
    QTest::addColumn<int>("initial");
    QTest::addColumn<QList<int>>("latenciesMs");  // one window's latency each
    QTest::addColumn<int>("inFlight");            // -1: the limit, filled
    QTest::addColumn<int>("lowest");
    QTest::addColumn<int>("highest");
    QTest::newRow("flat latency, demand fills: grows") << 4 << QList<int>(12, 100) << -1 << 30 << 256;
    QTest::newRow("flat latency, demand short: stays") << 4 << QList<int>(12, 100) << 1 << 4 << 4;
    QTest::newRow("latency within tolerance: grows") << 10 << QList<int>{100, 110, 115, 118, 119, 119} << -1 << 13 << 40;
    QTest::newRow("latency doubles: falls") << 40 << QList<int>{100, 200, 200, 200} << -1 << 1 << 25;
    // The first window (the baseline) raises 40 by √40 to 46.3.
    QTest::newRow("latency +50%: falls by 1.2/1.5 a window") << 40 << QList<int>{100, 150} << -1 << 37 << 37;
    QTest::newRow("latency x10: halves at most a window") << 40 << QList<int>{100, 1000} << -1 << 23 << 23;
}

void TestAdaptiveConcurrency::sequences()
{
    QFETCH(int, initial);
    QFETCH(QList<int>, latenciesMs);
    QFETCH(int, inFlight);
    QFETCH(int, lowest);
    QFETCH(int, highest);
    ManualClock clock;
    AdaptiveConcurrency a(opts(initial));
    for (int ms : latenciesMs) {
        // One window: max(10, limit) samples.
        const int n = static_cast<int>(std::max<std::int64_t>(10, a.limit()));
        successes(a, clock, n, std::chrono::milliseconds(ms), inFlight);
    }
    QVERIFY2(a.limit() >= lowest && a.limit() <= highest,
             qPrintable(QStringLiteral("limit %1 not in [%2, %3]").arg(a.limit()).arg(lowest).arg(highest)));
}

void TestAdaptiveConcurrency::rateLimitedOncePerEpisode()
{
    ManualClock clock;
    AdaptiveConcurrency a(opts(40));
    const TimePoint sent = clock.now();
    clock.advance(500ms);
    auto d = a.onSample(clock.now(), ConcurrencySample{Kind::RateLimited, sent, 500ms, 40, std::nullopt});
    QCOMPARE(d.limit, 36);
    QVERIFY(d.changed);
    // More answers to requests sent before the decrease: the same episode.
    for (int i = 0; i < 10; ++i) {
        clock.advance(1ms);
        d = a.onSample(clock.now(), ConcurrencySample{Kind::RateLimited, sent, 500ms, 40, std::nullopt});
    }
    QCOMPARE(d.limit, 36);
    QVERIFY(!d.changed);
    // A request sent after it and refused again: a new episode.
    const TimePoint later = clock.now();
    clock.advance(500ms);
    d = a.onSample(clock.now(), ConcurrencySample{Kind::RateLimited, later, 500ms, 36, std::nullopt});
    QCOMPARE(d.limit, 32);  // 36 × 0.9 = 32.4
    // Successes sent before a decrease do not count towards growth.
    successes(a, clock, 0, 1ms);
    for (int i = 0; i < 100; ++i) {
        a.onSample(clock.now(), ConcurrencySample{Kind::Success, sent, 10ms, 40, std::nullopt});
    }
    QCOMPARE(a.limit(), 32);
}

void TestAdaptiveConcurrency::retryAfterIsReported()
{
    ManualClock clock;
    AdaptiveConcurrency a(opts(8));
    const auto d = a.onSample(clock.now(), ConcurrencySample{Kind::RateLimited, clock.now(), 10ms, 8, 2s});
    QVERIFY(d.coolUntil.has_value());
    QCOMPARE(*d.coolUntil, clock.now() + 2s);
    const auto other = a.onSample(clock.now(), ConcurrencySample{Kind::Ignored, clock.now(), 10ms, 8, std::nullopt});
    QVERIFY(!other.coolUntil.has_value());
    QCOMPARE(other.limit, 7);  // 8 × 0.9 = 7.2; a server error says nothing
}

void TestAdaptiveConcurrency::boundsHold()
{
    ManualClock clock;
    AdaptiveConcurrency up(opts(4, 8));
    successes(up, clock, 2000, 50ms);
    QCOMPARE(up.limit(), 8);
    AdaptiveConcurrency down(opts(4, 8));
    for (int i = 0; i < 100; ++i) {
        clock.advance(1s);
        down.onSample(clock.now(), ConcurrencySample{Kind::RateLimited, clock.now(), 1ms, 1, std::nullopt});
    }
    QCOMPARE(down.limit(), 1);
    AdaptiveConcurrency slow(opts(4));
    successes(slow, clock, 10, 10ms);
    for (int i = 0; i < 50; ++i) {
        successes(slow, clock, 10, 10s);
    }
    QCOMPARE(slow.limit(), 1);
    QCOMPARE(AdaptiveConcurrency(opts(1000, 16)).limit(), 16);
    QCOMPARE(AdaptiveConcurrency(opts(0, 16)).limit(), 1);
}

// A server that takes `capacity` requests per latency and refuses the rest
// with 429: the limit settles just under the capacity, refusals are rare.
void TestAdaptiveConcurrency::hiddenRateLimit()
{
    constexpr std::int64_t kCapacity = 50;
    ManualClock clock;
    AdaptiveConcurrency a(opts(4));
    std::int64_t sent = 0;
    std::int64_t refused = 0;
    std::int64_t accepted = 0;
    for (int round = 0; round < 400; ++round) {
        const std::int64_t l = a.limit();
        const TimePoint at = clock.now();
        clock.advance(1s);
        for (std::int64_t i = 0; i < l; ++i) {
            const bool ok = i < kCapacity;
            a.onSample(clock.now(), ConcurrencySample{ok ? Kind::Success : Kind::RateLimited, at, 1s, l, std::nullopt});
            if (round >= 50) {
                ++sent;
                refused += ok ? 0 : 1;
                accepted += ok ? 1 : 0;
            }
        }
    }
    const double share = static_cast<double>(refused) / static_cast<double>(sent);
    const double use = static_cast<double>(accepted) / (350.0 * kCapacity);
    QVERIFY2(share <= 0.02, qPrintable(QStringLiteral("429 share %1").arg(share)));
    QVERIFY2(use >= 0.9, qPrintable(QStringLiteral("capacity used %1").arg(use)));
}

// Latency 500 ms up to 16 in flight, +50 ms for each one beyond: the limit
// settles near the knee, where throughput is best.
void TestAdaptiveConcurrency::latencyKnee()
{
    ManualClock clock;
    AdaptiveConcurrency a(opts(4));
    const auto latency = [](std::int64_t inFlight) {
        return 500ms + 50ms * std::max<std::int64_t>(0, inFlight - 16);
    };
    double throughput = 0;
    int rounds = 0;
    for (int round = 0; round < 600; ++round) {
        const std::int64_t l = a.limit();
        const Duration lat = latency(l);
        const TimePoint at = clock.now();
        clock.advance(lat);
        for (std::int64_t i = 0; i < l; ++i) {
            a.onSample(clock.now(), ConcurrencySample{Kind::Success, at, lat, l, std::nullopt});
        }
        if (round >= 100) {
            throughput += static_cast<double>(l) / std::chrono::duration<double>(lat).count();
            ++rounds;
        }
        QVERIFY2(round < 100 || (l >= 15 && l <= 20), qPrintable(QStringLiteral("round %1: limit %2").arg(round).arg(l)));
    }
    const double best = 16 / 0.5;
    QVERIFY2(throughput / rounds >= 0.9 * best, qPrintable(QString::number(throughput / rounds)));
}

void TestAdaptiveConcurrency::configAuto()
{
    Config c = parse(R"({"concurrency": "auto", "rpm": 60})");
    QVERIFY(c.providers[0].autoConcurrency.has_value());
    QCOMPARE(c.providers[0].autoConcurrency->initial, 4);
    QCOMPARE(c.providers[0].autoConcurrency->max, 256);
    // The limiter's starting point is an ordinary limit, beside the others.
    QCOMPARE(c.providers[0].limits.size(), std::size_t(2));
    QCOMPARE(c.providers[0].limits[0], concurrency(4));
    c = parse(R"({"concurrency": {"auto": {"initial": 8, "max": 32}}})");
    QCOMPARE(c.providers[0].autoConcurrency->initial, 8);
    QCOMPARE(c.providers[0].autoConcurrency->max, 32);
    QCOMPARE(c.providers[0].limits[0], concurrency(8));
    c = parse(R"({"concurrency": 12})");
    QVERIFY(!c.providers[0].autoConcurrency.has_value());
}

void TestAdaptiveConcurrency::configAutoRejects_data()
{
    QTest::addColumn<QByteArray>("limits");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("other word") << QByteArray(R"({"concurrency": "fast"})") << QByteArray(R"(cfg.json:1: /providers/0/limits/concurrency: must be a number, "auto")");
    QTest::newRow("initial above max") << QByteArray(R"({"concurrency": {"auto": {"initial": 64, "max": 32}}})")
                                       << QByteArray("/providers/0/limits/concurrency/auto/initial: must not exceed max (32)");
    QTest::newRow("unknown field") << QByteArray(R"({"concurrency": {"auto": {"start": 4}}})") << QByteArray("/providers/0/limits/concurrency/auto");
    QTest::newRow("max zero") << QByteArray(R"({"concurrency": {"auto": {"max": 0}}})") << QByteArray("/providers/0/limits/concurrency/auto/max");
}

void TestAdaptiveConcurrency::configAutoRejects()
{
    QFETCH(QByteArray, limits);
    QFETCH(QByteArray, expected);
    try {
        parse(limits.toStdString());
        QFAIL("accepted");
    } catch (const InputError& e) {
        QVERIFY2(std::string(e.what()).find(expected.toStdString()) != std::string::npos, e.what());
    }
    // Not at the global scope.
    try {
        loadConfig(JsonSource("g.json", R"({"global": {"limits": {"concurrency": "auto"}}, "providers": [{"name": "p", "flavor": "openai",
                       "base_url": "http://127.0.0.1:1", "keys": [{"name": "k", "env": "HOME"}]}]})"),
                   [](const std::string&) { return std::optional<std::string>("x"); });
        QFAIL("accepted at /global");
    } catch (const InputError& e) {
        QVERIFY2(std::string(e.what()).find("/global/limits/concurrency: \"auto\" is allowed only") != std::string::npos, e.what());
    }
}

namespace {
class NullListener : public DispatchListener {
public:
    void onFinished(JobOutcome&&) override {}
};
}  // namespace

// The controller lowers the provider's concurrency through the dispatcher's
// public setLimits, keeps the scope's other limits, and applies at most one
// change per interval.
void TestAdaptiveConcurrency::controllerAppliesThroughSetLimits()
{
    ManualClock clock;
    const Config config = parse(R"({"concurrency": {"auto": {"initial": 20, "max": 64}}, "rpm": 600})");
    Admission admission(clock);
    NullListener sink;
    AdaptiveConcurrencyController adaptive(clock, config, 250ms);
    QVERIFY(!adaptive.empty());
    Dispatcher d(config, clock, admission, sink);
    adaptive.attach(d);
    const auto concurrencyOf = [&]() -> std::int64_t {
        for (const LimitSpec& l : d.config()->providers[0].limits) {
            if (l.measure == Measure::Concurrency) {
                return l.limit;
            }
        }
        return -1;
    };
    const auto refused = [&] {
        const TimePoint sent = clock.now();
        adaptive.onSent(SendReport{"p", "k", "m", "", sent});
        clock.advance(10ms);
        AttemptReport r;
        r.provider = "p";
        r.key = "k";
        r.sentAt = sent;
        r.finishedAt = clock.now();
        r.status = 429;
        r.cls = FailureClass::RateLimited;
        adaptive.onAttempt(r);
    };
    QCOMPARE(concurrencyOf(), 20);
    refused();
    QCOMPARE(concurrencyOf(), 18);
    bool rpmKept = false;
    for (const LimitSpec& l : d.config()->providers[0].limits) {
        rpmKept = rpmKept || (l.measure == Measure::Requests && l.limit == 600);
    }
    QVERIFY(rpmKept);
    refused();  // a new episode (sent after the decrease): 16.2, not applied yet
    QCOMPARE(concurrencyOf(), 18);
    QCOMPARE(adaptive.status().at(0).limit, 16);
    clock.advance(250ms);
    refused();  // 14.6, and the interval has passed
    QCOMPARE(concurrencyOf(), 15);
    QCOMPARE(adaptive.status().at(0).changes, std::uint64_t(2));
}

QTEST_APPLESS_MAIN(TestAdaptiveConcurrency)
#include "tst_adaptive_concurrency.moc"
