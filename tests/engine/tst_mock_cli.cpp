// `sluice-cli mock` as a user runs it: the real binary, its first line,
// a request to the address it printed, a clean stop on SIGTERM, and exit
// status 2 with the file and field named for bad configuration.
#include "support/http_client.h"

#include <QtTest>

#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>

using namespace sluice::test;

namespace {

constexpr int kStartMs = 20'000;

QString cli()
{
    return QStringLiteral(SLUICE_CLI_PATH);
}

// Starts the mock and returns the URL from its first line, or an empty
// string (with the process's output in `why`).
QString startMock(QProcess& p, const QStringList& extra, QString& why)
{
    p.start(cli(), QStringList{QStringLiteral("mock"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                               QStringLiteral("--latency-ms"), QStringLiteral("0")} +
                       extra);
    if (!p.waitForStarted(kStartMs)) {
        why = QStringLiteral("did not start");
        return {};
    }
    while (!p.canReadLine()) {
        if (!p.waitForReadyRead(kStartMs)) {
            why = QString::fromUtf8(p.readAllStandardError());
            return {};
        }
    }
    const QString line = QString::fromUtf8(p.readLine()).trimmed();
    const QRegularExpression shape(QStringLiteral("^listening on (http://127\\.0\\.0\\.1:[1-9][0-9]*)$"));
    const auto match = shape.match(line);
    why = line;
    return match.hasMatch() ? match.captured(1) : QString();
}

}  // namespace

class TestMockCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void firstLineServesAndStopsCleanly();
    void configFileIsRead();
    void badConfigurationExitsTwo_data();
    void badConfigurationExitsTwo();
};

void TestMockCli::firstLineServesAndStopsCleanly()
{
    QProcess p;
    QString why;
    const QString url = startMock(p, {}, why);
    QVERIFY2(!url.isEmpty(), qPrintable(why));
    HttpClient http(url.toStdString());
    const auto r = http.post("/v1/chat/completions",
                             R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":5})",
                             openAiHeaders());
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, 200L);
    QVERIFY(r.body.find("chat.completion") != std::string::npos);
    const auto a = http.post("/v1/messages",
                             R"({"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})",
                             anthropicHeaders());
    QCOMPARE(a.status, 200L);

    p.terminate();  // SIGTERM
    QVERIFY(p.waitForFinished(kStartMs));
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 0);
    const QString err = QString::fromUtf8(p.readAllStandardError());
    QVERIFY2(err.contains(QStringLiteral("stopped (SIGTERM): 2 requests, 2 accepted")), qPrintable(err));
}

void TestMockCli::configFileIsRead()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("mock.json"));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(R"({"keys":{"sk-file":{}},"models":{"local-model":{"flavor":"openai","limits":{"rpm":1}}}})");
    f.close();
    QProcess p;
    QString why;
    const QString url = startMock(p, {QStringLiteral("--config"), path}, why);
    QVERIFY2(!url.isEmpty(), qPrintable(why));
    HttpClient http(url.toStdString());
    const std::string body = R"({"model":"local-model","messages":[{"role":"user","content":"hi"}]})";
    QCOMPARE(http.post("/v1/chat/completions", body, openAiHeaders("sk-file")).status, 200L);
    QCOMPARE(http.post("/v1/chat/completions", body, openAiHeaders("sk-file")).status, 429L);
    QCOMPARE(http.post("/v1/chat/completions", body, openAiHeaders("sk-mock")).status, 401L);
    p.terminate();
    QVERIFY(p.waitForFinished(kStartMs));
    QCOMPARE(p.exitCode(), 0);
}

void TestMockCli::badConfigurationExitsTwo_data()
{
    QTest::addColumn<QString>("file");  // written to mock.json when not empty
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("message");
    QTest::newRow("bad field in the file") << R"({"models":{"m":{"flavor":"openai","limits":{"rpm":-5}}}})"
                                           << QStringList{QStringLiteral("--config"), QStringLiteral("{file}")}
                                           << "mock.json:1: /models/m/limits/rpm: must be a whole number";
    QTest::newRow("unknown field") << R"({"latency":{"base":1}})"
                                   << QStringList{QStringLiteral("--config"), QStringLiteral("{file}")}
                                   << "mock.json:1: /latency/base: unknown field";
    QTest::newRow("missing file") << QString()
                                  << QStringList{QStringLiteral("--config"), QStringLiteral("/nonexistent/mock.json")}
                                  << "/nonexistent/mock.json: cannot read";
    QTest::newRow("bad --listen") << QString() << QStringList{QStringLiteral("--listen"), QStringLiteral("nowhere")}
                                  << "--listen: must be HOST:PORT";
    QTest::newRow("bad --threads") << QString() << QStringList{QStringLiteral("--threads"), QStringLiteral("0")}
                                   << "--threads";
}

void TestMockCli::badConfigurationExitsTwo()
{
    QFETCH(QString, file);
    QFETCH(QStringList, args);
    QFETCH(QString, message);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("mock.json"));
    if (!file.isEmpty()) {
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(file.toUtf8());
    }
    args.replaceInStrings(QStringLiteral("{file}"), path);
    QProcess p;
    p.start(cli(), QStringList{QStringLiteral("mock")} + args);
    QVERIFY(p.waitForFinished(kStartMs));
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 2);
    QVERIFY(p.readAllStandardOutput().isEmpty());  // nothing started
    const QString err = QString::fromUtf8(p.readAllStandardError());
    QVERIFY2(err.contains(message), qPrintable(err));
}

QTEST_APPLESS_MAIN(TestMockCli)
#include "tst_mock_cli.moc"
