// The mock's latency knee: answers past `inFlight` at once take
// `perExtraMs` longer each, on ManualClock; and its configuration.
#include "core/json_source.h"
#include "mock/latency_knee.h"
#include "mock/mock_config.h"

#include <QtTest>

using namespace sluice;
using namespace std::chrono_literals;

class TestMockKnee : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void belowAndBeyondTheKnee();
    void answersThatEndLeave();
    void offByDefault();
    void config();
    void configRejects();
};

void TestMockKnee::belowAndBeyondTheKnee()
{
    ManualClock clock;
    mock::LatencyKnee k;
    const mock::LatencyModel::Knee knee{4, 50};
    for (int i = 1; i <= 4; ++i) {
        QCOMPARE(k.admit(clock.now(), 500ms, knee), Duration::zero());
    }
    QCOMPARE(k.admit(clock.now(), 500ms, knee), Duration(50ms));   // the 5th
    QCOMPARE(k.admit(clock.now(), 500ms, knee), Duration(100ms));  // the 6th
    QCOMPARE(k.inFlight(clock.now()), std::size_t(6));
}

void TestMockKnee::answersThatEndLeave()
{
    ManualClock clock;
    mock::LatencyKnee k;
    const mock::LatencyModel::Knee knee{2, 10};
    k.admit(clock.now(), 100ms, knee);
    k.admit(clock.now(), 300ms, knee);
    QCOMPARE(k.admit(clock.now(), 100ms, knee), Duration(10ms));  // ends at 110 ms
    clock.advance(100ms);
    QCOMPARE(k.inFlight(clock.now()), std::size_t(2));  // the first ended at 100 ms exactly
    clock.advance(11ms);
    QCOMPARE(k.inFlight(clock.now()), std::size_t(1));
    QCOMPARE(k.admit(clock.now(), 100ms, knee), Duration::zero());
}

void TestMockKnee::offByDefault()
{
    ManualClock clock;
    mock::LatencyKnee k;
    for (int i = 0; i < 100; ++i) {
        QCOMPARE(k.admit(clock.now(), 1s, mock::MockConfig::defaults().latency.knee), Duration::zero());
    }
}

void TestMockKnee::config()
{
    const mock::MockConfig c =
        mock::parseMockConfig(R"({"latency": {"baseMs": 500, "knee": {"inFlight": 16, "perExtraMs": 50}}})", "m.json");
    QCOMPARE(c.latency.knee.inFlight, std::int64_t(16));
    QCOMPARE(c.latency.knee.perExtraMs, 50.0);
    QCOMPARE(c.latency.baseMs, 500.0);
}

void TestMockKnee::configRejects()
{
    try {
        mock::parseMockConfig(R"({"latency": {"knee": {"inFlight": -1}}})", "m.json");
        QFAIL("accepted");
    } catch (const mock::ConfigError& e) {
        QVERIFY2(std::string(e.what()).find("/latency/knee/inFlight") != std::string::npos, e.what());
    }
    try {
        mock::parseMockConfig(R"({"latency": {"knee": {"at": 3}}})", "m.json");
        QFAIL("accepted");
    } catch (const mock::ConfigError& e) {
        QVERIFY2(std::string(e.what()).find("/latency/knee") != std::string::npos, e.what());
    }
}

QTEST_APPLESS_MAIN(TestMockKnee)
#include "tst_mock_knee.moc"
