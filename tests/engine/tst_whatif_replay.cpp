// The what-if replay (engine/simulate) on small recorded histories whose
// answers are known: halving a limit halves the throughput and makes the
// waits grow as the backlog does, with no 429 (Sluice paces); a limit
// raised above what the provider enforces meets 429s; removing one of two
// keys doubles the load on the other; deadlines missed are counted; the
// per-minute rollups of a real workspace database read back as traffic;
// the recorded failure mix (5xx, 429s, timeouts) is drawn again at its
// rates, and a provider-wide limit (the provider's own "limits", over all
// its keys) binds a proposal that would exceed it.
// Everything runs on the simulated clock: no test waits for real time.
#include "core/json_source.h"
#include "metrics/rollup_store.h"
#include "simulate/provider_model.h"
#include "simulate/recorded_traffic.h"
#include "simulate/replay.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace sluice;
using namespace sluice::simulate;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kStartMs = 1767225600000;  // 2026-01-01T00:00:00Z

std::string configText(int rpm, int keys = 1, const std::string& extra = "")
{
    std::string k;
    for (int i = 0; i < keys; ++i) {
        k += std::string(i > 0 ? "," : "") + R"({"name": "key-)" + std::to_string(i) + R"(", "env": "KEY_)" +
             std::to_string(i) + R"("})";
    }
    // One line per literal: moc does not follow raw strings across lines.
    return std::string(R"({"providers": [{"name": "openai", "flavor": "openai", "base_url": "https://x.invalid",)") +
           R"("learn_limits": false, "keys": [)" + k + R"(], "models": {"gpt-4o-mini": {"limits": {"rpm": )" +
           std::to_string(rpm) + R"(}}}}])" + extra + "}";
}

Config config(int rpm, int keys = 1, const std::string& extra = "")
{
    return loadSimConfig(JsonSource("proposed.json", configText(rpm, keys, extra)));
}

// `perSecond` requests a second for `seconds`, evenly spaced.
std::string writeTraffic(const QTemporaryDir& dir, int perSecond, int seconds, const std::string& more = "")
{
    const std::string path = dir.filePath(QStringLiteral("recorded.jsonl")).toStdString();
    std::ofstream out(path);
    for (int i = 0; i < perSecond * seconds; ++i) {
        out << R"({"at_ms": )" << kStartMs + static_cast<std::int64_t>(i) * 1000 / perSecond
            << R"(, "model": "gpt-4o-mini", "input_tokens": 50, "output_tokens": 10, "wait_ms": 0, "status": 200)"
            << more << "}\n";
    }
    return path;
}

double secondsOf(std::optional<Duration> d)
{
    return d ? std::chrono::duration<double>(*d).count() : -1.0;
}

}  // namespace

class TestWhatIfReplay : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sameConfigReplaysWithoutWaiting();
    void halvingRpmHalvesThroughputWithoutAny429();
    void aLimitAboveTheProvidersMeets429s();
    void removingAKeyMovesItsLoad();
    void missedDeadlinesAreCounted();
    void rollupsReadBackAsTraffic();
    void badRecordedLineNamesFileAndLine();
    void recordedFailureMixIsReplayed();
    void providerWideLimitBindsAcrossKeys();
};

void TestWhatIfReplay::sameConfigReplaysWithoutWaiting()
{
    QTemporaryDir dir;
    const auto traffic = readRecordedJsonl(writeTraffic(dir, 9, 120), 24h);
    QCOMPARE(traffic.requests.size(), std::size_t{1080});
    QCOMPARE(traffic.recorded.completed, std::int64_t{1080});
    const Config current = config(600);
    const Comparison c = replay(traffic, current, current);
    QCOMPARE(c.simulated.requests, std::int64_t{1080});
    QCOMPARE(c.simulated.completed, std::int64_t{1080});
    QCOMPARE(c.simulated.rateLimited, std::int64_t{0});
    // A record without failures replays without any.
    QCOMPARE(c.simulated.serverErrors, std::int64_t{0});
    QCOMPARE(c.simulated.timeouts, std::int64_t{0});
    QCOMPARE(c.simulated.providerLimited, std::int64_t{0});
    // 9/s against 600 RPM enforced per second: each request goes at once.
    // (Traffic at exactly the limit would queue: Sluice paces 0.5-2% under
    // it, the arrival margin.)
    QVERIFY2(secondsOf(c.simulated.waitP95) < 0.5, qPrintable(QString::number(secondsOf(c.simulated.waitP95))));
    QVERIFY2(c.simulatedTime >= 120s && c.simulatedTime < 130s, qPrintable(QString::number(std::chrono::duration<double>(c.simulatedTime).count())));
    QVERIFY(!c.cancelled);
}

void TestWhatIfReplay::halvingRpmHalvesThroughputWithoutAny429()
{
    QTemporaryDir dir;
    const auto traffic = readRecordedJsonl(writeTraffic(dir, 10, 120), 24h);
    const Comparison c = replay(traffic, config(600), config(300));
    QCOMPARE(c.simulated.completed, std::int64_t{1200});
    // Sluice paces at the proposed limit: nothing is refused.
    QCOMPARE(c.simulated.rateLimited, std::int64_t{0});
    // 1,200 requests at 5/s take 240 s; request i arrives at i/10 s and
    // goes at i/5 s, so it waits i/10 s: the median ~60 s, p95 ~114 s.
    const double span = std::chrono::duration<double>(c.simulated.span).count();
    QVERIFY2(span > 235 && span < 250, qPrintable(QString::number(span)));
    const double p50 = secondsOf(c.simulated.waitP50);
    const double p95 = secondsOf(c.simulated.waitP95);
    QVERIFY2(p50 > 55 && p50 < 65, qPrintable(QString::number(p50)));
    QVERIFY2(p95 > 108 && p95 < 120, qPrintable(QString::number(p95)));
    QVERIFY(c.simulated.throughputPerMinute() > 290 && c.simulated.throughputPerMinute() < 310);
}

void TestWhatIfReplay::aLimitAboveTheProvidersMeets429s()
{
    QTemporaryDir dir;
    // 20/s for a minute against a provider that takes 600 RPM (10/s).
    const auto traffic = readRecordedJsonl(writeTraffic(dir, 20, 60), 24h);
    const Config current = config(600);
    const Comparison paced = replay(traffic, current, current);
    QCOMPARE(paced.simulated.rateLimited, std::int64_t{0});
    QCOMPARE(paced.simulated.completed, std::int64_t{1200});
    const Comparison raised = replay(traffic, current, config(1200));
    // Sluice now sends faster than the provider admits: the provider's
    // buckets refuse, and the 429s are real, retried, and all complete.
    QVERIFY2(raised.simulated.rateLimited > 50, qPrintable(QString::number(raised.simulated.rateLimited)));
    QCOMPARE(raised.simulated.completed, std::int64_t{1200});
    QVERIFY(raised.simulated.attempts > paced.simulated.attempts);
}

void TestWhatIfReplay::removingAKeyMovesItsLoad()
{
    QTemporaryDir dir;
    // 15/s for a minute: two keys at 600 RPM each carry it, one cannot.
    const auto traffic = readRecordedJsonl(writeTraffic(dir, 15, 60), 24h);
    const Config both = config(600, 2);
    const Comparison kept = replay(traffic, both, both);
    QCOMPARE(kept.simulated.completed, std::int64_t{900});
    QVERIFY2(secondsOf(kept.simulated.waitP95) < 1.0, qPrintable(QString::number(secondsOf(kept.simulated.waitP95))));
    const Comparison removed = replay(traffic, both, config(600, 1));
    QCOMPARE(removed.simulated.completed, std::int64_t{900});
    QCOMPARE(removed.simulated.rateLimited, std::int64_t{0});
    // 900 at 10/s take 90 s: the last waits ~30 s.
    QVERIFY2(secondsOf(removed.simulated.waitP95) > 20, qPrintable(QString::number(secondsOf(removed.simulated.waitP95))));
}

void TestWhatIfReplay::missedDeadlinesAreCounted()
{
    QTemporaryDir dir;
    // Each request must be answered within 30 s of arriving.
    const auto traffic = readRecordedJsonl(writeTraffic(dir, 10, 120, R"(, "deadline_s": 30)"), 24h);
    QCOMPARE(traffic.recorded.missedDeadlines.value_or(-1), std::int64_t{0});
    const Comparison same = replay(traffic, config(600), config(600));
    QCOMPARE(same.simulated.missedDeadlines.value_or(-1), std::int64_t{0});
    const Comparison halved = replay(traffic, config(600), config(300));
    // Request i waits ~i/10 s: those after the 300th miss 30 s.
    const std::int64_t missed = halved.simulated.missedDeadlines.value_or(-1);
    QVERIFY2(missed > 850 && missed < 920, qPrintable(QString::number(missed)));
}

void TestWhatIfReplay::rollupsReadBackAsTraffic()
{
    QTemporaryDir dir;
    const std::filesystem::path db = dir.filePath(QStringLiteral("work.db")).toStdString();
    {
        metrics::RollupStore store(db);
        std::vector<metrics::RollupRow> rows;
        for (int m = 0; m < 3; ++m) {
            metrics::RollupRow r;
            r.minute = WallTime(std::chrono::milliseconds(kStartMs)) + std::chrono::minutes(m);
            r.provider = "openai";
            r.key = "key-0";
            r.model = "gpt-4o-mini";
            r.tally.sent = 130;
            r.tally.retries = 10;
            r.tally.completed = 120;
            r.tally.failures[static_cast<std::size_t>(FailureClass::RateLimited)] = 10;
            r.tally.inputTokens = 120 * 40;
            r.tally.outputTokens = 120 * 8;
            r.tally.estimatedOutputTokens = 120 * 16;
            r.tally.spendMicroUsd = 1000;
            r.tally.latency.add(400ms);
            rows.push_back(r);
        }
        store.addRollups(rows);
    }
    const RecordedTraffic t = readRollupTraffic(db, 1h);
    QCOMPARE(t.requests.size(), std::size_t{360});
    QCOMPARE(t.recorded.rateLimited, std::int64_t{30});
    QCOMPARE(t.recorded.spendMicroUsd, std::int64_t{3000});
    QCOMPARE(t.recorded.minutes.size(), std::size_t{3});
    QCOMPARE(t.requests.front().inputTokens, std::int64_t{40});
    QCOMPARE(t.requests.front().maxTokens, std::int64_t{16});
    QVERIFY(!t.recorded.waitP50);  // rollups do not record waits
    // 120 a minute against 600 RPM: the limits refuse nothing, so the
    // record's 429s (30 of 390 attempts) were not theirs, and are drawn
    // again at that share; every request still completes.
    const Config current = config(600);
    const Comparison c = replay(t, current, current);
    QCOMPARE(c.simulated.completed, std::int64_t{360});
    QVERIFY2(c.simulated.rateLimited > 10 && c.simulated.rateLimited < 50,
             qPrintable(QString::number(c.simulated.rateLimited)));
    QVERIFY(c.simulated.spendMicroUsd > 0);

    QVERIFY_THROWS_EXCEPTION(RecordedTrafficError, readRollupTraffic(dir.filePath(QStringLiteral("none.db")).toStdString(), 1h));
}

void TestWhatIfReplay::badRecordedLineNamesFileAndLine()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("bad.jsonl")).toStdString();
    {
        std::ofstream out(path);
        out << R"({"at_ms": 1, "model": "m", "input_tokens": 5, "output_tokens": 5})" << "\n";
        out << R"({"at_ms": 2, "model": "m", "input_tokens": -5, "output_tokens": 5})" << "\n";
    }
    try {
        readRecordedJsonl(path, 1h);
        QFAIL("a negative token count was accepted");
    } catch (const RecordedTrafficError& e) {
        const std::string what = e.what();
        QVERIFY2(what.find("bad.jsonl:2:") != std::string::npos, e.what());
        QVERIFY2(what.find("input_tokens") != std::string::npos, e.what());
    }
}

void TestWhatIfReplay::recordedFailureMixIsReplayed()
{
    QTemporaryDir dir;
    // 9/s for two minutes; 5% answered 500, about 4% 429 (under its limit,
    // so not the limits' doing: a neighbour on the key), 2.5% never
    // answered (status 0). The three sets do not overlap.
    const std::string path = dir.filePath(QStringLiteral("faulty.jsonl")).toStdString();
    {
        std::ofstream out(path);
        for (int i = 0; i < 1080; ++i) {
            const int status = i % 20 == 1 ? 500 : i % 25 == 2 ? 429 : i % 40 == 3 ? 0 : 200;
            out << R"({"at_ms": )" << kStartMs + static_cast<std::int64_t>(i) * 1000 / 9
                << R"(, "model": "gpt-4o-mini", "input_tokens": 50, "output_tokens": 10, "status": )" << status
                << "}\n";
        }
    }
    const auto traffic = readRecordedJsonl(path, 24h);
    QCOMPARE(traffic.recorded.serverErrors, std::int64_t{54});
    QCOMPARE(traffic.recorded.rateLimited, std::int64_t{44});
    QCOMPARE(traffic.recorded.timeouts, std::int64_t{27});
    const Config current = config(600);
    const Comparison c = replay(traffic, current, current);
    // Drawn at the recorded shares of the attempts (retries are attempts
    // too): 5% of ~1,150 is ~57, 4% ~46, 2.5% ~29.
    const auto near = [](std::int64_t got, double expected) {
        return static_cast<double>(got) > expected * 0.6 && static_cast<double>(got) < expected * 1.5;
    };
    const double attempts = static_cast<double>(c.simulated.attempts);
    QVERIFY2(near(c.simulated.serverErrors, 0.05 * attempts), qPrintable(QString::number(c.simulated.serverErrors)));
    QVERIFY2(near(c.simulated.rateLimited, 0.0407 * attempts), qPrintable(QString::number(c.simulated.rateLimited)));
    QVERIFY2(near(c.simulated.timeouts, 0.025 * attempts), qPrintable(QString::number(c.simulated.timeouts)));
    QCOMPARE(c.simulated.providerLimited, std::int64_t{0});
    // Sluice retries them: every request still completes, with more
    // attempts than requests, and a timed-out attempt waited its timeout
    // (600 s by default) in simulated time, not real time.
    QCOMPARE(c.simulated.completed, std::int64_t{1080});
    QVERIFY(c.simulated.attempts > 1080 + c.simulated.serverErrors);
    QVERIFY(c.simulatedTime > 600s);
    // The same seed draws the same faults.
    const Comparison again = replay(traffic, current, current);
    QCOMPARE(again.simulated.serverErrors, c.simulated.serverErrors);
    QCOMPARE(again.simulated.timeouts, c.simulated.timeouts);
}

void TestWhatIfReplay::providerWideLimitBindsAcrossKeys()
{
    QTemporaryDir dir;
    // 15/s for a minute; two keys at 600 RPM each for the model, but the
    // provider takes 600 RPM over all its keys (the provider's "limits").
    const auto traffic = readRecordedJsonl(writeTraffic(dir, 15, 60), 24h);
    const auto text = [](bool providerWide) {
        return std::string(R"({"providers": [{"name": "openai", "flavor": "openai", "base_url": "https://x.invalid",)") +
               R"("learn_limits": false, )" + (providerWide ? R"("limits": {"rpm": 600}, )" : "") +
               R"("keys": [{"name": "a", "env": "KEY_A"}, {"name": "b", "env": "KEY_B"}],)" +
               R"("models": {"gpt-4o-mini": {"limits": {"rpm": 600}}}}]})";
    };
    const Config current = loadSimConfig(JsonSource("current.json", text(true)));
    // The configuration it ran with knows the provider's limit: Sluice paces
    // at 10/s and the provider refuses nothing.
    const Comparison paced = replay(traffic, current, current);
    QCOMPARE(paced.simulated.completed, std::int64_t{900});
    QCOMPARE(paced.simulated.rateLimited, std::int64_t{0});
    QCOMPARE(paced.simulated.providerLimited, std::int64_t{0});
    const double pacedSpan = std::chrono::duration<double>(paced.simulated.span).count();
    QVERIFY2(pacedSpan > 85 && pacedSpan < 100, qPrintable(QString::number(pacedSpan)));
    // A proposal that forgets it sends 15/s over the two keys: the
    // provider-wide limit answers 429s, side by side with the record's none.
    const Config forgetful = loadSimConfig(JsonSource("proposed.json", text(false)));
    const Comparison c = replay(traffic, current, forgetful);
    QCOMPARE(c.recorded.rateLimited, std::int64_t{0});
    QVERIFY2(c.simulated.providerLimited > 50, qPrintable(QString::number(c.simulated.providerLimited)));
    QCOMPARE(c.simulated.rateLimited, c.simulated.providerLimited);
    QCOMPARE(c.simulated.completed, std::int64_t{900});
    // Without a provider-wide limit in the configuration it ran with, the
    // two keys carry 15/s: nothing is refused.
    const Comparison free = replay(traffic, forgetful, forgetful);
    QCOMPARE(free.simulated.rateLimited, std::int64_t{0});
}

QTEST_APPLESS_MAIN(TestWhatIfReplay)
#include "tst_whatif_replay.moc"
