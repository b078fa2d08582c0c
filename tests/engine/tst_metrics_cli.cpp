// `sluice-cli batch` and `sluice-cli report` as users run them: the real
// binary against an in-process mock. A known API key goes through a whole
// run (interrupted in flight, then resumed) and is searched for, whole and
// as every 6-character piece, in everything Sluice wrote or printed: the
// results, the rejects, the state database's bytes, every report format,
// the /metrics text, stdout and stderr. The report's counts must match the
// mock's; bad report flags and unusable state files exit 2.
#include "core/clock.h"
#include "mock/mock_provider.h"
#include "store/job_store.h"
#include "store/sqlite.h"
#include "support/cli_run.h"
#include "support/http_client.h"
#include "support/prometheus_text.h"

#include <QtTest>

#include <QDirIterator>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>

#include <nlohmann/json.hpp>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int kTimeoutMs = 60'000;
// Looks like a real key and shares no 6-character piece with anything Sluice
// writes on its own.
const std::string kKey = "sk-proj-Zq8vR2mT4xW9pL6nB3kY7hD5cJ1fG0sA";

QString cli()
{
    return QStringLiteral(SLUICE_CLI_PATH);
}

using Run = testing::CliRun;

Run run(const QStringList& args, const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment())
{
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(cli(), args);
    return testing::finishCli(p, kTimeoutMs);
}

std::string readFile(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        return {};
    }
    return f.readAll().toStdString();
}

void writeFile(const QString& path, const std::string& text)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(text.data(), static_cast<qint64>(text.size()));
}

// The key, or any 6-character piece of it, in `text`: empty when clean.
std::string keyPieceIn(const std::string& text)
{
    for (std::size_t i = 0; i + 6 <= kKey.size(); ++i) {
        const std::string piece = kKey.substr(i, 6);
        if (text.find(piece) != std::string::npos) {
            return piece;
        }
    }
    return {};
}

std::size_t lineCount(const std::string& text)
{
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

class TestMetricsCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void batchRecordsMetricsAndLeaksNoKey();
    void badReportFlagsExitTwo_data();
    void badReportFlagsExitTwo();
    void badMetricsAddressExitsTwo();
};

void TestMetricsCli::batchRecordsMetricsAndLeaksNoKey()
{
    QTemporaryDir dir;
    SystemClock clock;
    mock::MockConfig mc = mock::MockConfig::defaults();
    mc.keys.clear();
    mc.keys[kKey] = mock::MockKey{};
    mc.limitsEnabled = false;
    // First run: every answer takes ten minutes, so all requests are in flight
    // when the test looks, and still are when it interrupts the batch.
    mc.latency.baseMs = 600'000;
    mc.latency.firstTokenMs = 600'000;
    mc.latency.perOutputTokenMs = 0;
    mock::MockProvider mock(clock, mc);
    mock.start();

    // All twelve requests must go out at once, and the first answer takes ten
    // minutes: no slow-start probe (learn_limits off).
    const json config = {
        {"providers",
         json::array({{{"name", "openai-mock"},
                       {"flavor", "openai"},
                       {"base_url", mock.baseUrl()},
                       {"learn_limits", false},
                       {"keys", json::array({{{"name", "team-key"}, {"env", "SLUICE_TEST_KEY"}}})}},
                      {{"name", "anthropic-mock"},
                       {"flavor", "anthropic"},
                       {"base_url", mock.baseUrl()},
                       {"learn_limits", false},
                       {"keys", json::array({{{"name", "team-key"}, {"env", "SLUICE_TEST_KEY"}}})}}})},
        {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.05}}}};
    writeFile(dir.filePath(QStringLiteral("config.json")), config.dump(2));
    const auto line = [](const std::string& id, const char* url, const char* model, bool stream) {
        return json{{"custom_id", id},
                    {"method", "POST"},
                    {"url", url},
                    {"body",
                     {{"model", model},
                      {"max_tokens", 20},
                      {"stream", stream},
                      {"messages", json::array({{{"role", "user"}, {"content", "hello " + id}}})}}}}
                   .dump() +
               "\n";
    };
    std::string input;
    for (int i = 0; i < 8; ++i) {
        input += line("o" + std::to_string(i), "/v1/chat/completions", "gpt-4o-mini", i % 2 == 0);
    }
    for (int i = 0; i < 4; ++i) {
        input += line("a" + std::to_string(i), "/v1/messages", "claude-haiku-4-5", i % 2 == 1);
    }
    input += R"({"custom_id":"bad","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini"}})"
             "\n";
    writeFile(dir.filePath(QStringLiteral("input.jsonl")), input);

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SLUICE_TEST_KEY"), QString::fromStdString(kKey));
    const QStringList batchArgs = {QStringLiteral("batch"),
                                   QStringLiteral("--config"), dir.filePath(QStringLiteral("config.json")),
                                   QStringLiteral("--input"), dir.filePath(QStringLiteral("input.jsonl")),
                                   QStringLiteral("--output"), dir.filePath(QStringLiteral("out.jsonl")),
                                   QStringLiteral("--state"), dir.filePath(QStringLiteral("state.db")),
                                   QStringLiteral("--progress"), QStringLiteral("never")};
    std::vector<std::pair<std::string, std::string>> printed;  // (what, text) to search

    // ---- first run: serve /metrics, look while everything is in flight, interrupt
    QProcess first;
    first.setProcessEnvironment(env);
    first.setReadChannel(QProcess::StandardError);
    first.start(cli(), batchArgs + QStringList{QStringLiteral("--metrics"), QStringLiteral("127.0.0.1:0")});
    QVERIFY(first.waitForStarted(kTimeoutMs));
    std::string firstErr;
    std::string metricsUrl;
    const QRegularExpression urlLine(QStringLiteral("metrics at (http://127\\.0\\.0\\.1:[0-9]+)/metrics"));
    while (metricsUrl.empty()) {
        QVERIFY2(first.waitForReadyRead(kTimeoutMs), firstErr.c_str());
        firstErr += first.readAllStandardError().toStdString();
        const auto m = urlLine.match(QString::fromStdString(firstErr));
        if (m.hasMatch()) {
            metricsUrl = m.captured(1).toStdString();
        }
    }
    QVERIFY2(firstErr.find("12 requests to send, estimated spend at most $") != std::string::npos, firstErr.c_str());
    test::HttpClient http(metricsUrl);
    std::string metricsText;
    const auto inFlight = [&] {
        metricsText = http.get("/metrics").body;
        return test::parsePrometheusText(metricsText).value("sluice_in_flight").value_or(-1);
    };
    QTRY_COMPARE_WITH_TIMEOUT(inFlight(), 12.0, kTimeoutMs);
    const test::PromText prom = test::parsePrometheusText(metricsText);
    QVERIFY2(prom.errors.empty(), prom.errors.empty() ? "" : prom.errors.front().c_str());
    QCOMPARE(*prom.value("sluice_requests_sent_total", {{"key", "team-key"}}), 12.0);
    QCOMPARE(*prom.value("sluice_in_flight", {{"provider", "anthropic-mock"}}), 4.0);
    printed.emplace_back("/metrics", metricsText);
    QTRY_COMPARE_WITH_TIMEOUT(mock.stats().requests, std::int64_t{12}, kTimeoutMs);  // all of them arrived
    first.terminate();  // SIGTERM: the batch stops, keeping its progress
    QVERIFY(first.waitForFinished(kTimeoutMs));
    QCOMPARE(first.exitCode(), 1);
    firstErr += first.readAllStandardError().toStdString();
    QVERIFY2(firstErr.find("interrupted") != std::string::npos, firstErr.c_str());
    printed.emplace_back("first run's stderr", firstErr);
    printed.emplace_back("first run's stdout", first.readAllStandardOutput().toStdString());

    // ---- second run: answers at once; the batch resumes and finishes
    mock.applyPatch(R"({"latency":{"baseMs":0,"firstTokenMs":0}})");
    const Run second = run(batchArgs, env);
    QCOMPARE(second.exitCode, 1);  // the bad line is rejected
    printed.emplace_back("second run's stderr", second.err);
    printed.emplace_back("second run's stdout", second.out);
    QVERIFY2(second.err.find("12 completed, 0 dead-lettered, 1 rejected") != std::string::npos, second.err.c_str());
    QCOMPARE(lineCount(readFile(dir.filePath(QStringLiteral("out.jsonl")))), std::size_t{12});
    QCOMPARE(lineCount(readFile(dir.filePath(QStringLiteral("out.jsonl.rejects.jsonl")))), std::size_t{1});

    // ---- reports in every format and grouping
    const QString state = dir.filePath(QStringLiteral("state.db"));
    const std::vector<std::pair<QString, QString>> reports = {
        {QStringLiteral("key"), QStringLiteral("json")},   {QStringLiteral("model"), QStringLiteral("csv")},
        {QStringLiteral("provider"), QStringLiteral("html")}, {QStringLiteral("hour"), QStringLiteral("csv")},
        {QStringLiteral("day"), QStringLiteral("json")},   {QStringLiteral("model"), QStringLiteral("html")}};
    for (const auto& [by, format] : reports) {
        const QString file = dir.filePath(QStringLiteral("report-%1.%2").arg(by, format));
        const Run r = run({QStringLiteral("report"), QStringLiteral("--state"), state, QStringLiteral("--by"), by,
                           QStringLiteral("--output"), file});
        QVERIFY2(r.exitCode == 0, r.err.c_str());
        QVERIFY(r.out.empty());
        printed.emplace_back("report stderr", r.err);
    }
    const json byKey = json::parse(readFile(dir.filePath(QStringLiteral("report-key.json"))));
    const mock::MockStats m = mock.stats();
    QCOMPARE(byKey["total"]["requests"].get<std::int64_t>(), m.requests);  // 12 abandoned + 12 answered
    QCOMPARE(byKey["total"]["completed"].get<std::int64_t>(), m.accepted - 12);
    QCOMPARE(byKey["total"]["failures"]["cancelled"]["count"].get<int>(), 12);
    QCOMPARE(byKey["total"]["tokens"]["output"].get<std::int64_t>(), m.outputTokens);
    QCOMPARE(byKey["rows"].size(), std::size_t{2});  // team-key on each provider
    QCOMPARE(byKey["rows"][0]["key"].get<std::string>(), std::string("team-key"));
    const std::string html = readFile(dir.filePath(QStringLiteral("report-model.html")));
    QVERIFY(html.find("<svg") != std::string::npos && html.find("http") == std::string::npos);
    const Run toStdout = run({QStringLiteral("report"), QStringLiteral("--state"), state, QStringLiteral("--format"),
                              QStringLiteral("csv")});
    QCOMPARE(toStdout.exitCode, 0);
    QVERIFY(toStdout.out.rfind("provider,model,requests,", 0) == 0);
    printed.emplace_back("report stdout", toStdout.out);

    // ---- the key is nowhere: files (the database's bytes too), metrics, output
    QDirIterator files(dir.path(), QDir::Files | QDir::Hidden);
    int searched = 0;
    while (files.hasNext()) {
        const QString path = files.next();
        const std::string piece = keyPieceIn(readFile(path));
        QVERIFY2(piece.empty(), qPrintable(path + QStringLiteral(" holds \"") + QString::fromStdString(piece) +
                                           QStringLiteral("\" of the API key")));
        ++searched;
    }
    QVERIFY2(searched >= 10, qPrintable(QString::number(searched)));  // config, input, output, rejects, state, reports
    for (const auto& [what, text] : printed) {
        const std::string piece = keyPieceIn(text);
        QVERIFY2(piece.empty(), (what + " holds \"" + piece + "\" of the API key").c_str());
    }
    // The check can fail: the key is in the environment the batch was given.
    QVERIFY(!keyPieceIn(env.value(QStringLiteral("SLUICE_TEST_KEY")).toStdString()).empty());
}

void TestMetricsCli::badReportFlagsExitTwo_data()
{
    QTest::addColumn<QString>("stateKind");  // none, missing, text, foreign, newer, good
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("message");
    const QStringList withState = {QStringLiteral("--state"), QStringLiteral("{state}")};
    QTest::newRow("no --state") << "good" << QStringList{} << "--state is required";
    QTest::newRow("--by week") << "good" << withState + QStringList{QStringLiteral("--by"), QStringLiteral("week")}
                               << "--by";
    QTest::newRow("--format pdf") << "good"
                                  << withState + QStringList{QStringLiteral("--format"), QStringLiteral("pdf")}
                                  << "--format";
    QTest::newRow("--from not a time") << "good"
                                       << withState + QStringList{QStringLiteral("--from"), QStringLiteral("yesterday")}
                                       << "--from: \"yesterday\" is not a date";
    QTest::newRow("--from after --to") << "good"
                                       << withState + QStringList{QStringLiteral("--from"), QStringLiteral("2026-02-01"),
                                                                  QStringLiteral("--to"), QStringLiteral("2026-01-01")}
                                       << "--from must be before --to";
    QTest::newRow("unknown flag") << "good" << withState + QStringList{QStringLiteral("--colour")} << "--colour";
    QTest::newRow("missing state file") << "missing" << withState << "no such state file";
    QTest::newRow("not a database") << "text" << withState << "not an SQLite database";
    QTest::newRow("another application's") << "foreign" << withState << "not a Sluice job store";
    QTest::newRow("newer schema") << "newer" << withState << "newer Sluice";
}

void TestMetricsCli::badReportFlagsExitTwo()
{
    QFETCH(QString, stateKind);
    QFETCH(QStringList, args);
    QFETCH(QString, message);
    QTemporaryDir dir;
    const QString state = dir.filePath(QStringLiteral("state.db"));
    const std::filesystem::path statePath = state.toStdString();
    if (stateKind == QStringLiteral("good") || stateKind == QStringLiteral("newer")) {
        ManualClock clock;
        store::JobStore s(statePath, clock);
    }
    if (stateKind == QStringLiteral("newer")) {
        store::Database db(statePath, store::OpenMode::ReadWrite);
        db.exec("PRAGMA user_version = 99");
    } else if (stateKind == QStringLiteral("text")) {
        writeFile(state, "these are not the droids\n");
    } else if (stateKind == QStringLiteral("foreign")) {
        store::Database db(statePath, store::OpenMode::ReadWriteCreate);
        db.exec("PRAGMA application_id = 42; CREATE TABLE t (x)");
    }
    args.replaceInStrings(QStringLiteral("{state}"), state);
    const QString output = dir.filePath(QStringLiteral("report.csv"));
    const Run r = run(QStringList{QStringLiteral("report")} + args + QStringList{QStringLiteral("--output"), output});
    QCOMPARE(r.exitCode, 2);
    QVERIFY(r.out.empty());
    QVERIFY2(QString::fromStdString(r.err).contains(message), r.err.c_str());
    QVERIFY(!QFile::exists(output));  // nothing half-written
}

void TestMetricsCli::badMetricsAddressExitsTwo()
{
    QTemporaryDir dir;
    writeFile(dir.filePath(QStringLiteral("config.json")),
              R"({"providers":[{"name":"p","flavor":"openai","base_url":"http://127.0.0.1:9","keys":[{"name":"k","env":"HOME"}]}]})");
    writeFile(dir.filePath(QStringLiteral("in.jsonl")), "");
    const Run r = run({QStringLiteral("batch"), QStringLiteral("--config"), dir.filePath(QStringLiteral("config.json")),
                       QStringLiteral("--input"), dir.filePath(QStringLiteral("in.jsonl")), QStringLiteral("--output"),
                       dir.filePath(QStringLiteral("out.jsonl")), QStringLiteral("--state"),
                       dir.filePath(QStringLiteral("state.db")), QStringLiteral("--metrics"), QStringLiteral("nowhere")});
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.find("--metrics") != std::string::npos, r.err.c_str());
    QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("out.jsonl"))));
}

QTEST_APPLESS_MAIN(TestMetricsCli)
#include "tst_metrics_cli.moc"
