// sluice-cli whatif, the real binary: the README's example (a recorded
// JSONL file and a proposed configuration with a lower limit), a workspace
// database with its settings file beside it, and bad input (a missing or
// malformed file, both sources or none, a bad window), each a clear
// message and exit status 2.
#include "metrics/rollup_store.h"
#include "mock/mock_provider.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryDir>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct Run {
    int exitCode = -1;
    QByteArray out;
    QString err;
};

Run cli(const QStringList& args, const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment())
{
    QProcess p;
    p.setWorkingDirectory(QStringLiteral(SLUICE_SOURCE_DIR));
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(SLUICE_CLI_PATH), args);
    Run r;
    if (!p.waitForFinished(120'000)) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("did not finish");
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

Run whatif(const QStringList& args)
{
    return cli(QStringList{QStringLiteral("whatif")} + args);
}

void writeFile(const QString& path, const QByteArray& text)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(text);
}

}  // namespace

class TestWhatIfCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void readmeExampleShowsTheLowerLimitsCost();
    void workspaceDatabaseWithItsSettings();
    void batchStateIsReplayedJobByJob();
    void badInputIsRefusedClearly_data();
    void badInputIsRefusedClearly();
};

void TestWhatIfCli::readmeExampleShowsTheLowerLimitsCost()
{
    const Run r = whatif({QStringLiteral("--input"), QStringLiteral("resources/whatif/recorded.jsonl"),
                          QStringLiteral("--current"), QStringLiteral("resources/config.mock.json"),
                          QStringLiteral("--config"), QStringLiteral("resources/whatif/proposed-rpm120.json"),
                          QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("replaying 1200 requests")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("simulated in")), qPrintable(r.err));
    const QJsonObject doc = QJsonDocument::fromJson(r.out).object();
    const QJsonObject recorded = doc.value(QStringLiteral("recorded")).toObject();
    const QJsonObject simulated = doc.value(QStringLiteral("simulated")).toObject();
    QCOMPARE(recorded.value(QStringLiteral("completed")).toInt(), 1200);
    QCOMPARE(simulated.value(QStringLiteral("requests")).toInt(), 1200);
    // 240 a minute recorded, 120 allowed: paced, so no 429, but the queue
    // grows past the 60 s deadlines.
    QCOMPARE(simulated.value(QStringLiteral("rate_limited")).toInt(), 0);
    QVERIFY(simulated.value(QStringLiteral("wait_p95_ms")).toDouble() > 30'000);
    QVERIFY(simulated.value(QStringLiteral("missed_deadlines")).toInt() > 500);
    QCOMPARE(recorded.value(QStringLiteral("missed_deadlines")).toInt(), 0);
    QVERIFY(simulated.value(QStringLiteral("throughput_per_minute")).toDouble() < 130);
}

void TestWhatIfCli::workspaceDatabaseWithItsSettings()
{
    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("work.db"));
    {
        metrics::RollupStore store(db.toStdString());
        std::vector<metrics::RollupRow> rows;
        for (int m = 0; m < 5; ++m) {
            metrics::RollupRow row;
            row.minute = WallTime(std::chrono::milliseconds(1767225600000)) + std::chrono::minutes(m);
            row.provider = "local-mock";
            row.key = "mock";
            row.model = "gpt-4o-mini";
            row.tally.sent = 100;
            row.tally.completed = 100;
            row.tally.inputTokens = 100 * 80;
            row.tally.outputTokens = 100 * 40;
            row.tally.estimatedOutputTokens = 100 * 60;
            row.tally.spendMicroUsd = 500;
            rows.push_back(row);
        }
        store.addRollups(rows);
    }
    // The workspace's settings file: its configuration under "config".
    QFile config(QStringLiteral(SLUICE_SOURCE_DIR "/resources/config.mock.json"));
    QVERIFY(config.open(QIODevice::ReadOnly));
    const QJsonObject settings{{QStringLiteral("config"), QJsonDocument::fromJson(config.readAll()).object()}};
    writeFile(dir.filePath(QStringLiteral("work.json")), QJsonDocument(settings).toJson());

    const Run r = whatif({QStringLiteral("--workspace"), db, QStringLiteral("--config"),
                          QStringLiteral("resources/whatif/proposed-rpm120.json"), QStringLiteral("--window"),
                          QStringLiteral("1h")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("replaying 500 requests")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("provider limits from ") + dir.filePath(QStringLiteral("work.json"))),
             qPrintable(r.err));
    const QString table = QString::fromUtf8(r.out);
    QVERIFY2(table.contains(QStringLiteral("wait p95")), qPrintable(table));
    QVERIFY2(table.contains(QStringLiteral("$0.0025")), qPrintable(table));  // the recorded spend
}

void TestWhatIfCli::batchStateIsReplayedJobByJob()
{
    // A real batch against the mock on loopback fills a state database's
    // job store; its jobs are the record, each with its own wait.
    QTemporaryDir dir;
    SystemClock clock;
    mock::MockConfig mc = mock::MockConfig::defaults();
    mc.keys.clear();
    mc.keys["sk-whatif-test"] = mock::MockKey{};
    mc.latency.baseMs = 30;
    mc.latency.perOutputTokenMs = 0;
    mock::MockProvider mock(clock, mc);
    mock.start();
    const auto configWith = [&](int rpm) {
        return nlohmann::json{
            {"providers",
             nlohmann::json::array({{{"name", "openai-mock"},
                                     {"flavor", "openai"},
                                     {"base_url", mock.baseUrl()},
                                     {"learn_limits", false},
                                     {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", rpm}}}}}}},
                                     {"keys", nlohmann::json::array({{{"name", "k"}, {"env", "WHATIF_TEST_KEY"}}})}}})}}
            .dump(2);
    };
    writeFile(dir.filePath(QStringLiteral("config.json")), QByteArray::fromStdString(configWith(600)));
    writeFile(dir.filePath(QStringLiteral("slow.json")), QByteArray::fromStdString(configWith(60)));
    std::string input;
    for (int i = 0; i < 20; ++i) {
        input += nlohmann::json{{"custom_id", "r" + std::to_string(i)},
                                {"method", "POST"},
                                {"url", "/v1/chat/completions"},
                                {"body",
                                 {{"model", "gpt-4o-mini"},
                                  {"max_tokens", 20},
                                  {"messages", nlohmann::json::array({{{"role", "user"}, {"content", "hello"}}})}}}}
                     .dump() +
                 "\n";
    }
    writeFile(dir.filePath(QStringLiteral("input.jsonl")), QByteArray::fromStdString(input));
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("WHATIF_TEST_KEY"), QStringLiteral("sk-whatif-test"));
    const QString state = dir.filePath(QStringLiteral("state.db"));
    const Run batch = cli({QStringLiteral("batch"), QStringLiteral("--config"), dir.filePath(QStringLiteral("config.json")),
                           QStringLiteral("--input"), dir.filePath(QStringLiteral("input.jsonl")), QStringLiteral("--output"),
                           dir.filePath(QStringLiteral("out.jsonl")), QStringLiteral("--state"), state,
                           QStringLiteral("--progress"), QStringLiteral("never")},
                          env);
    QVERIFY2(batch.exitCode == 0, qPrintable(batch.err));

    // No key in the environment now: the replay reads none.
    const Run r = whatif({QStringLiteral("--workspace"), state, QStringLiteral("--current"),
                          dir.filePath(QStringLiteral("config.json")), QStringLiteral("--config"),
                          dir.filePath(QStringLiteral("slow.json")), QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("state.db (jobs)")), qPrintable(r.err));
    const QJsonObject doc = QJsonDocument::fromJson(r.out).object();
    const QJsonObject recorded = doc.value(QStringLiteral("recorded")).toObject();
    const QJsonObject simulated = doc.value(QStringLiteral("simulated")).toObject();
    QCOMPARE(recorded.value(QStringLiteral("requests")).toInt(), 20);
    QCOMPARE(recorded.value(QStringLiteral("completed")).toInt(), 20);
    QVERIFY(!recorded.value(QStringLiteral("wait_p50_ms")).isNull());  // jobs record their waits
    QCOMPARE(simulated.value(QStringLiteral("completed")).toInt(), 20);
    QCOMPARE(simulated.value(QStringLiteral("rate_limited")).toInt(), 0);
    // All twenty arrived at once; at 60 a minute (one a second after the
    // first second's burst of one) the last waits ~19 s.
    QVERIFY2(simulated.value(QStringLiteral("wait_p95_ms")).toDouble() > 15'000, r.out.constData());
}

void TestWhatIfCli::badInputIsRefusedClearly_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("message");
    const QString cfg = QStringLiteral("resources/config.mock.json");
    QTest::newRow("missing input") << QStringList{QStringLiteral("--input"), QStringLiteral("/nonexistent/rec.jsonl"),
                                                  QStringLiteral("--config"), cfg}
                                   << QStringLiteral("/nonexistent/rec.jsonl: cannot be read");
    QTest::newRow("bad line") << QStringList{QStringLiteral("--input"), QStringLiteral("@BAD@"), QStringLiteral("--config"), cfg}
                              << QStringLiteral("bad.jsonl:2: \"output_tokens\"");
    QTest::newRow("no source") << QStringList{QStringLiteral("--config"), cfg} << QStringLiteral("--workspace DB or --input");
    QTest::newRow("both sources") << QStringList{QStringLiteral("--input"), QStringLiteral("x"), QStringLiteral("--workspace"),
                                                 QStringLiteral("y"), QStringLiteral("--config"), cfg}
                                  << QStringLiteral("one of them");
    QTest::newRow("bad window") << QStringList{QStringLiteral("--input"), QStringLiteral("resources/whatif/recorded.jsonl"),
                                               QStringLiteral("--config"), cfg, QStringLiteral("--window"), QStringLiteral("an hour")}
                                << QStringLiteral("--window");
    QTest::newRow("bad config") << QStringList{QStringLiteral("--input"), QStringLiteral("resources/whatif/recorded.jsonl"),
                                               QStringLiteral("--config"), QStringLiteral("@BADCONFIG@")}
                                << QStringLiteral("broken.json");
    QTest::newRow("not a workspace") << QStringList{QStringLiteral("--workspace"), QStringLiteral("/nonexistent/w.db"),
                                                    QStringLiteral("--config"), cfg}
                                     << QStringLiteral("/nonexistent/w.db: no such workspace database");
}

void TestWhatIfCli::badInputIsRefusedClearly()
{
    QFETCH(QStringList, args);
    QFETCH(QString, message);
    QTemporaryDir dir;
    const QString bad = dir.filePath(QStringLiteral("bad.jsonl"));
    writeFile(bad, "{\"at_ms\": 1, \"model\": \"gpt-4o-mini\", \"input_tokens\": 5, \"output_tokens\": 5}\n"
                   "{\"at_ms\": 2, \"model\": \"gpt-4o-mini\", \"input_tokens\": 5, \"output_tokens\": \"five\"}\n");
    const QString broken = dir.filePath(QStringLiteral("broken.json"));
    writeFile(broken, "{\"providers\": [");
    args.replaceInStrings(QStringLiteral("@BAD@"), bad);
    args.replaceInStrings(QStringLiteral("@BADCONFIG@"), broken);
    const Run r = whatif(args);
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(message), qPrintable(r.err));
    QVERIFY2(r.out.isEmpty(), r.out.constData());
}

QTEST_GUILESS_MAIN(TestWhatIfCli)
#include "tst_whatif_cli.moc"
