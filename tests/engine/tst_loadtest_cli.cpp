// `sluice-cli loadtest` as a user runs it: the real binary, briefly, against
// its in-process mock, with the report it writes, its exit statuses, and
// its refusal to send real traffic unasked.
#include <QtTest>

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>

namespace {

constexpr int kRunMs = 60'000;

QString cli()
{
    return QStringLiteral(SLUICE_CLI_PATH);
}

void write(const QString& path, const QByteArray& text)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(text);
}

// Not a raw string: moc takes the "//" of a URL inside one for a comment.
const QByteArray kConfig =
    "{\"providers\": [{\"name\": \"openai\", \"flavor\": \"openai\", \"base_url\": \"https://api.openai.com\",\n"
    " \"models\": {\"gpt-4o-mini\": {\"limits\": {\"rpm\": 600, \"tpm\": 100000, \"granularity_s\": 1}}},\n"
    " \"keys\": [{\"name\": \"main\", \"env\": \"SLUICE_TEST_OPENAI_KEY\"}]}]}";

const QByteArray kWorkload = R"({
  "name": "cli smoke",
  "duration_s": 1,
  "seed": 2,
  "arrival": {"process": "constant", "rate": 10},
  "mix": {"models": ["gpt-4o-mini"], "prompt_tokens": 50, "max_tokens": 20}
})";

// A mock that answers at once, so the run takes as long as its arrivals.
const QByteArray kQuickMock = R"({"latency": {"baseMs": 5, "perOutputTokenMs": 0, "firstTokenMs": 5}})";

struct Run {
    int exitCode = -1;
    QString out;
    QString err;
};

Run run(const QStringList& args, const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment())
{
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(cli(), QStringList{QStringLiteral("loadtest")} + args);
    p.closeWriteChannel();  // stdin is not a terminal, and gives no answer
    Run r;
    if (!p.waitForFinished(kRunMs)) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("did not finish");
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

}  // namespace

class TestLoadtestCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init();
    void mockRunWritesTheReport();
    void badInputExitsTwoWithNothingStarted_data();
    void badInputExitsTwoWithNothingStarted();
    void realTrafficNeedsAConfirmation();

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    QString path(const char* name) const { return m_dir->filePath(QString::fromLatin1(name)); }
};

void TestLoadtestCli::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    write(path("config.json"), kConfig);
    write(path("workload.json"), kWorkload);
    write(path("mock.json"), kQuickMock);
}

void TestLoadtestCli::mockRunWritesTheReport()
{
    const Run r = run({QStringLiteral("--config"), path("config.json"), QStringLiteral("--workload"), path("workload.json"),
                       QStringLiteral("--mock"), QStringLiteral("--mock-config"), path("mock.json"),
                       QStringLiteral("--compare-naive"), QStringLiteral("2"), QStringLiteral("--report"),
                       path("report.json"), QStringLiteral("--progress"), QStringLiteral("never")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains(QStringLiteral("naive x2")) && r.out.contains(QStringLiteral("latency p50/p95/p99")),
             qPrintable(r.out));
    QFile f(path("report.json"));
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QJsonObject report = QJsonDocument::fromJson(f.readAll()).object();
    QCOMPARE(report.value(QStringLiteral("report")).toString(), QStringLiteral("sluice-loadtest"));
    QCOMPARE(report.value(QStringLiteral("mock")).toBool(), true);
    const QJsonArray runs = report.value(QStringLiteral("runs")).toArray();
    QCOMPARE(runs.size(), 2);
    QCOMPARE(runs[0].toObject().value(QStringLiteral("label")).toString(), QStringLiteral("sluice"));
    QCOMPARE(runs[1].toObject().value(QStringLiteral("label")).toString(), QStringLiteral("naive x2"));
    QCOMPARE(runs[1].toObject().value(QStringLiteral("target")).toString(), QStringLiteral("naive"));
    for (const auto& v : runs) {
        const QJsonObject one = v.toObject();
        const QJsonObject requests = one.value(QStringLiteral("requests")).toObject();
        QCOMPARE(requests.value(QStringLiteral("submitted")).toInt(), 10);
        QCOMPARE(requests.value(QStringLiteral("completed")).toInt(), 10);
        QCOMPARE(one.value(QStringLiteral("attempts")).toObject().value(QStringLiteral("sent")).toInt(), 10);
        QCOMPARE(one.value(QStringLiteral("latency_s")).toObject().value(QStringLiteral("count")).toInt(), 10);
        QCOMPARE(one.value(QStringLiteral("limits")).toObject().value(QStringLiteral("tpm")).toInt(), 100000);
        QVERIFY(one.value(QStringLiteral("tokens")).toObject().value(QStringLiteral("input")).toInt() >= 500);
        QVERIFY(!one.value(QStringLiteral("series")).toArray().isEmpty());
    }
}

void TestLoadtestCli::badInputExitsTwoWithNothingStarted_data()
{
    QTest::addColumn<QByteArray>("workload");
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<QString>("message");
    QTest::newRow("bad rate") << QByteArray("{\n  \"duration_s\": 1,\n  \"arrival\": {\"process\": \"constant\", \"rate\": -2},\n"
                                            "  \"mix\": {\"models\": [\"gpt-4o-mini\"]}\n}")
                              << QStringList{} << "workload.json:3: /arrival/rate: must be between";
    QTest::newRow("unknown model") << QByteArray("{\"duration_s\": 1, \"arrival\": {\"process\": \"constant\", \"rate\": 1},\n"
                                                 " \"mix\": {\"models\": [\"gpt-9\"]}}")
                                   << QStringList{} << "workload.json:2: /mix/models/0: no provider in";
    QTest::newRow("bad duration") << kWorkload << QStringList{QStringLiteral("--duration"), QStringLiteral("soon")}
                                  << "--duration: must be a duration";
    QTest::newRow("mock config without mock")
        << kWorkload << QStringList{QStringLiteral("--mock-config"), QStringLiteral("x.json")} << "--mock-config needs --mock";
}

void TestLoadtestCli::badInputExitsTwoWithNothingStarted()
{
    QFETCH(QByteArray, workload);
    QFETCH(QStringList, extra);
    QFETCH(QString, message);
    write(path("workload.json"), workload);
    QStringList args{QStringLiteral("--config"), path("config.json"), QStringLiteral("--workload"), path("workload.json"),
                     QStringLiteral("--report"), path("report.json")};
    if (!extra.contains(QStringLiteral("--mock-config"))) {
        args << QStringLiteral("--mock");
    }
    const Run r = run(args + extra);
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(message), qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
    QVERIFY(!QFile::exists(path("report.json")));
}

void TestLoadtestCli::realTrafficNeedsAConfirmation()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SLUICE_TEST_OPENAI_KEY"), QStringLiteral("sk-not-a-real-key"));
    const Run r = run({QStringLiteral("--config"), path("config.json"), QStringLiteral("--workload"), path("workload.json"),
                       QStringLiteral("--report"), path("report.json")},
                      env);
    QCOMPARE(r.exitCode, 2);
    // The estimate first: 10 requests of 50 prompt tokens, at most 20 output each.
    QVERIFY2(r.err.contains(QStringLiteral("sends real traffic to openai (https://api.openai.com)")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("10 requests (10 arrivals), about 500 input tokens and at most 200 output tokens")),
             qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("refusing to send real traffic without a confirmation")), qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
    QVERIFY(!QFile::exists(path("report.json")));
}

QTEST_APPLESS_MAIN(TestLoadtestCli)
#include "tst_loadtest_cli.moc"
