// The console host's records on their own: LimitHistory keeps changes only
// and answers "what was in force from T" (the dashboard's step lines);
// originChanges finds the providers queued jobs would no longer reach as
// queued; QueueOrigin keeps its record in a real workspace database.
#include "core/clock.h"
#include "host/limit_history.h"
#include "host/queue_origin.h"
#include "store/job_store.h"

#include <QTemporaryDir>
#include <QtTest>

using namespace sluice;
using namespace std::chrono_literals;

class TestHostRecords : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void historyKeepsChangesAndWhatWasInForce();
    void historyIsBounded();
    void originChangesFindGoneAndMovedProviders();
    void originRecordRoundTripsThroughTheDatabase();
};

namespace {

host::CapacityLines rpm(std::int64_t v)
{
    host::CapacityLines l;
    l.requestsPerMinute = v;
    return l;
}

nlohmann::json providersDoc(const std::string& openaiUrl, bool withAnthropic)
{
    nlohmann::json providers = nlohmann::json::array(
        {{{"name", "openai"}, {"flavor", "openai"}, {"base_url", openaiUrl}, {"keys", nlohmann::json::array()}}});
    if (withAnthropic) {
        providers.push_back({{"name", "anthropic"}, {"flavor", "anthropic"}, {"base_url", "https://api.anthropic.com"}});
    }
    return {{"providers", providers}};
}

}  // namespace

void TestHostRecords::historyKeepsChangesAndWhatWasInForce()
{
    const TimePoint t0{};
    host::LimitHistory h;
    h.record(t0 + 1s, rpm(600));
    h.record(t0 + 2s, rpm(600));  // unchanged: nothing added
    h.record(t0 + 5s, rpm(300));
    auto all = h.between(t0, t0 + 10s);
    QCOMPARE(all.size(), std::size_t{2});
    QCOMPARE(all[0].lines.requestsPerMinute.value_or(-1), std::int64_t{600});
    QCOMPARE(all[1].lines.requestsPerMinute.value_or(-1), std::int64_t{300});
    // From 3 s: the 600 in force then, and the change at 5 s.
    auto from3 = h.between(t0 + 3s, t0 + 10s);
    QCOMPARE(from3.size(), std::size_t{2});
    QCOMPARE(from3[0].at, t0 + 1s);
    // From 6 s: only the 300 in force.
    auto from6 = h.between(t0 + 6s, t0 + 10s);
    QCOMPARE(from6.size(), std::size_t{1});
    QCOMPARE(from6[0].lines.requestsPerMinute.value_or(-1), std::int64_t{300});
    // Before anything was recorded: nothing.
    QVERIFY(h.between(t0, t0 + 500ms).empty());
}

void TestHostRecords::historyIsBounded()
{
    host::LimitHistory h(3);
    for (int i = 0; i < 10; ++i) {
        h.record(TimePoint{} + std::chrono::seconds(i), rpm(i + 1));
    }
    const auto all = h.between(TimePoint{}, TimePoint{} + 1h);
    QCOMPARE(all.size(), std::size_t{3});
    QCOMPARE(all.back().lines.requestsPerMinute.value_or(-1), std::int64_t{10});
}

void TestHostRecords::originChangesFindGoneAndMovedProviders()
{
    const auto recorded = host::providerOrigins(providersDoc("http://127.0.0.1:0", false));
    QCOMPARE(recorded.size(), std::size_t{1});
    // Same place, a provider added: nothing queued is affected.
    QVERIFY(host::originChanges(recorded, host::providerOrigins(providersDoc("http://127.0.0.1:0", true))).empty());
    // Moved.
    const auto moved = host::originChanges(recorded, host::providerOrigins(providersDoc("https://api.openai.com", false)));
    QCOMPARE(moved.size(), std::size_t{1});
    QVERIFY(!moved[0].removed);
    QCOMPARE(moved[0].now.baseUrl, std::string("https://api.openai.com"));
    // Gone.
    const auto gone = host::originChanges(recorded, {});
    QCOMPARE(gone.size(), std::size_t{1});
    QVERIFY(gone[0].removed);
    // The fingerprint separates its parts.
    QVERIFY(host::originFingerprint("ab", "c", "d") != host::originFingerprint("a", "bc", "d"));
}

void TestHostRecords::originRecordRoundTripsThroughTheDatabase()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::filesystem::path db = dir.filePath(QStringLiteral("w.db")).toStdString();
    SystemClock clock;
    {
        store::JobStore created(db, clock);
    }
    const host::QueueOrigin origin(db);
    QVERIFY(origin.recorded().empty());
    const auto first = host::providerOrigins(providersDoc("http://127.0.0.1:0", true));
    origin.record(first);
    auto back = origin.recorded();
    QCOMPARE(back.size(), std::size_t{2});
    QCOMPARE(back[0].provider, std::string("anthropic"));  // by name
    QCOMPARE(back[1].baseUrl, std::string("http://127.0.0.1:0"));
    // A second record replaces the first.
    origin.record(host::providerOrigins(providersDoc("https://api.openai.com", false)));
    back = origin.recorded();
    QCOMPARE(back.size(), std::size_t{1});
    QCOMPARE(back[0].baseUrl, std::string("https://api.openai.com"));
}

QTEST_APPLESS_MAIN(TestHostRecords)
#include "tst_host_records.moc"
