// Per-minute rollups survive kill -9 of the real `sluice-cli batch`: the
// recorder writes them incrementally about once a second, so a batch killed
// mid-run has in its state database every completed request but the last
// second or so of them, not the last ten. The batch runs against an
// in-process mock at about ten requests a second (one in flight, 100 ms per
// answer) and is killed once the mock has answered 40, well before a
// ten-second flush would have written anything.
#include "core/clock.h"
#include "metrics/rollup_store.h"
#include "mock/mock_provider.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace sluice;
using nlohmann::json;

namespace {

constexpr int kTimeoutMs = 60'000;
constexpr std::int64_t kKillAfter = 40;
// A second's worth of answers at the test's rate, and as much again for a
// busy machine: more lost than this means rollups waited for a late flush.
constexpr std::int64_t kMostLost = 20;

}  // namespace

class TestRollupsKill : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void killedBatchKeepsItsRollups();
};

void TestRollupsKill::killedBatchKeepsItsRollups()
{
    QTemporaryDir dir;
    SystemClock clock;
    mock::MockConfig mc = mock::MockConfig::defaults();
    mc.keys.clear();
    mc.keys["sk-test-rollups"] = mock::MockKey{};
    mc.limitsEnabled = false;
    mc.latency.baseMs = 100;
    mc.latency.firstTokenMs = 0;
    mc.latency.perOutputTokenMs = 0;
    mock::MockProvider mock(clock, mc);
    mock.start();

    const json config = {{"global", {{"limits", {{"concurrency", 1}}}}},
                         {"providers",
                          json::array({{{"name", "openai-mock"},
                                        {"flavor", "openai"},
                                        {"base_url", mock.baseUrl()},
                                        {"learn_limits", false},
                                        {"keys", json::array({{{"name", "main"}, {"env", "SLUICE_TEST_KEY"}}})}}})}};
    const std::string configPath = dir.filePath(QStringLiteral("config.json")).toStdString();
    std::ofstream(configPath) << config.dump(2);
    const std::string inputPath = dir.filePath(QStringLiteral("input.jsonl")).toStdString();
    {
        std::ofstream in(inputPath);
        for (int i = 0; i < 2000; ++i) {
            in << json{{"custom_id", "r" + std::to_string(i)},
                       {"url", "/v1/chat/completions"},
                       {"body",
                        {{"model", "gpt-4o-mini"},
                         {"max_tokens", 8},
                         {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}}}}
                      .dump()
               << '\n';
        }
    }
    const QString state = dir.filePath(QStringLiteral("state.db"));
    QProcess batch;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SLUICE_TEST_KEY"), QStringLiteral("sk-test-rollups"));
    batch.setProcessEnvironment(env);
    batch.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    batch.start(QStringLiteral(SLUICE_CLI_PATH),
                {QStringLiteral("batch"), QStringLiteral("--config"), QString::fromStdString(configPath),
                 QStringLiteral("--input"), QString::fromStdString(inputPath), QStringLiteral("--output"),
                 dir.filePath(QStringLiteral("out.jsonl")), QStringLiteral("--state"), state,
                 QStringLiteral("--progress"), QStringLiteral("never")});
    QVERIFY(batch.waitForStarted(kTimeoutMs));
    QTRY_VERIFY_WITH_TIMEOUT(mock.stats().accepted >= kKillAfter, kTimeoutMs);
    batch.kill();  // SIGKILL: no handler runs, nothing is flushed on the way out
    QVERIFY(batch.waitForFinished(kTimeoutMs));
    QCOMPARE(batch.exitStatus(), QProcess::CrashExit);
    const std::int64_t answered = mock.stats().accepted;
    mock.stop();

    store::StoreOptions ro;
    ro.readOnly = true;
    const metrics::RollupStore rollups(state.toStdString(), ro);
    std::uint64_t completed = 0;
    std::uint64_t sent = 0;
    for (const metrics::RollupRow& row : rollups.rows(WallTime(), WallTime(std::chrono::hours(24 * 365 * 100)))) {
        completed += row.tally.completed;
        sent += row.tally.sent;
    }
    qInfo("rollups hold %llu completed requests of %lld the mock answered before the kill",
          static_cast<unsigned long long>(completed), static_cast<long long>(answered));
    QVERIFY2(static_cast<std::int64_t>(completed) >= answered - kMostLost,
             qPrintable(QStringLiteral("%1 completed in the rollups of %2 answered").arg(completed).arg(answered)));
    QVERIFY(static_cast<std::int64_t>(completed) <= answered);
    QVERIFY(sent >= completed);
}

QTEST_GUILESS_MAIN(TestRollupsKill)
#include "tst_rollups_kill.moc"
