// The real `sluice-cli batch` binary against an in-process mock provider:
// Batch API output, rejects with line numbers, exit statuses, --explain, and
// resume after kill -9 at several points of a run — every custom_id ends with
// exactly one result line, none duplicated, none missing, and a resumed run
// sends only what was not done.
#include "mock/mock_provider.h"
#include "store/job_store.h"
#include "store/sqlite.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <unistd.h>

using namespace sluice;
using nlohmann::json;

namespace {

mock::MockConfig quietMock(double latencyMs)
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.limitsEnabled = false;
    m.latency.baseMs = latencyMs;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = latencyMs;
    return m;
}

struct Run {
    int exitCode = -1;
    QString err;
    QString out;
};

QByteArray fileBytes(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

class Fixture {
public:
    explicit Fixture(double latencyMs = 0) : provider(clock, quietMock(latencyMs)) { provider.start(); }
    explicit Fixture(const mock::MockConfig& config) : provider(clock, config) { provider.start(); }
    ~Fixture() { provider.stop(); }

    QString path(const QString& name) const { return dir.filePath(name); }

    void writeConfig(const json& extraRoot = json::object(), const std::string& keyEnv = "MOCK_KEY")
    {
        json root = {{"providers",
                      json::array({{{"name", "mock"},
                                    {"flavor", "openai"},
                                    {"base_url", provider.baseUrl()},
                                    {"models", {{"gpt-4o-mini", json::object()}}},
                                    {"keys", json::array({{{"name", "main"}, {"env", keyEnv}}})}}})},
                     {"retry", {{"base_delay_s", 0.01}, {"max_delay_s", 0.05}}}};
        root.merge_patch(extraRoot);
        std::ofstream(path(QStringLiteral("config.json")).toStdString()) << root.dump(2);
    }

    // n good lines, then the extra raw lines.
    void writeInput(int n, const std::vector<std::string>& extra = {})
    {
        std::ofstream out(path(QStringLiteral("in.jsonl")).toStdString());
        for (int i = 0; i < n; ++i) {
            out << json{{"custom_id", "req-" + std::to_string(i)},
                        {"method", "POST"},
                        {"url", "/v1/chat/completions"},
                        {"body",
                         {{"model", "gpt-4o-mini"},
                          {"max_tokens", 16},
                          {"messages", json::array({{{"role", "user"}, {"content", "line " + std::to_string(i)}}})}}}}
                       .dump()
                << '\n';
        }
        for (const auto& line : extra) {
            out << line << '\n';
        }
    }

    QStringList batchArgs() const
    {
        return {QStringLiteral("batch"),  QStringLiteral("--config"), path(QStringLiteral("config.json")),
                QStringLiteral("--input"), path(QStringLiteral("in.jsonl")), QStringLiteral("--output"),
                path(QStringLiteral("out.jsonl")), QStringLiteral("--state"), statePath(), QStringLiteral("--seed"),
                QStringLiteral("3")};
    }
    QString statePath() const { return path(QStringLiteral("state.db")); }

    void prepare(QProcess& p) const
    {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("MOCK_KEY"), QStringLiteral("sk-mock"));
        env.insert(QStringLiteral("XDG_DATA_HOME"), path(QStringLiteral("xdg")));
        p.setProcessEnvironment(env);
        p.setProgram(QStringLiteral(SLUICE_CLI_PATH));
    }

    Run run(const QStringList& args, const QString& keyValue = QStringLiteral("sk-mock"))
    {
        QProcess p;
        prepare(p);
        QProcessEnvironment env = p.processEnvironment();
        env.insert(QStringLiteral("MOCK_KEY"), keyValue);
        p.setProcessEnvironment(env);
        p.setArguments(args);
        p.start();
        if (!p.waitForFinished(120000)) {
            p.kill();
            p.waitForFinished();
        }
        return Run{p.exitCode(), QString::fromUtf8(p.readAllStandardError()), QString::fromUtf8(p.readAllStandardOutput())};
    }

    // batchArgs() with one flag's value replaced (or the flag added).
    QStringList argsWith(const QString& flag, const QString& value) const
    {
        QStringList a = batchArgs();
        const qsizetype i = a.indexOf(flag);
        if (i >= 0) {
            a[i + 1] = value;
        } else {
            a << flag << value;
        }
        return a;
    }

    std::vector<json> output(const QString& name = QStringLiteral("out.jsonl")) const
    {
        std::vector<json> lines;
        std::ifstream in(path(name).toStdString());
        std::string line;
        while (std::getline(in, line)) {
            lines.push_back(json::parse(line));
        }
        return lines;
    }

    store::Counts stateCounts() const
    {
        if (!QFile::exists(statePath())) {
            return {};
        }
        try {
            store::StoreOptions o;
            o.readOnly = true;
            return store::JobStore(statePath().toStdString(), clock, o).counts();
        } catch (const std::exception&) {
            return {};  // not created yet
        }
    }

    SystemClock clock;
    QTemporaryDir dir;
    mock::MockProvider provider;
};

// Exactly one line per custom_id, in input order, each a 200.
void verifyCompleteOutput(const Fixture& f, int n)
{
    const auto lines = f.output();
    QCOMPARE(static_cast<int>(lines.size()), n);
    std::set<std::string> seen;
    for (int i = 0; i < n; ++i) {
        const json& l = lines[static_cast<std::size_t>(i)];
        QCOMPARE(QString::fromStdString(l["custom_id"].get<std::string>()), QStringLiteral("req-%1").arg(i));
        QVERIFY(seen.insert(l["custom_id"].get<std::string>()).second);
        QCOMPARE(l["response"]["status_code"].get<int>(), 200);
        QVERIFY(l["error"].is_null());
        QVERIFY(l["response"]["body"]["choices"].is_array());
        QVERIFY(l["id"].get<std::string>().rfind("batch_req_", 0) == 0);
    }
}

}  // namespace

class TestBatchCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void runsAFileAndRejectsBadLines();
    void badConfigStartsNothing();
    void rerunSendsNothingNew();
    void deadLettersExitNonZeroAndExplain();
    void secondRunnerIsRefused();
    void killNineAndResume_data();
    void killNineAndResume();
    // Issue 13.
    void refusesToWriteOverTheInput_data();
    void refusesToWriteOverTheInput();
    void invalidUtf8LinesAreRejectedLines();
    void foreignStateFileIsLeftAsItWas();
    void inputDirectoryIsRefused();
    void missingOutputDirectoryIsFoundBeforeSending_data();
    void missingOutputDirectoryIsFoundBeforeSending();
    void outputFailureAtTheEndSaysHowToWriteItOut();
    void readmeBatchCommandsWorkAsWritten();
    void retryDeadLettersRequeuesThem();
    void zeroAndHugeLimitsAreRefused();
    void badStandardFieldsAndRepeatsAreRejectedLocally();
    void explainTellsRefusalsApartFromAttempts();
    void reportFormatAndSource();
    void fullDiskStopsAndResumes();
    void tooLargeNamesTheLimitFigures();
    // Issue 12: state-file compaction.
    void compactAfterOutputShrinksTheStateAndKeepsReruns();
    void responsesAndEmbeddingsLinesRun();
};

void TestBatchCli::runsAFileAndRejectsBadLines()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(40, {"{not json", R"({"custom_id":"x","url":"/v1/completions","body":{}})",
                      R"({"custom_id":"req-3","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"other"}]}})",
                      R"({"custom_id":"nomodel","url":"/v1/chat/completions","body":{"model":"nope","messages":[{"role":"user","content":"x"}]}})"});
    const Run r = f.run(f.batchArgs());
    QCOMPARE(r.exitCode, 1);  // rejects make the run non-zero, after the rest ran
    verifyCompleteOutput(f, 40);
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:41: not valid JSON")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:42: url: unknown endpoint")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:43: custom_id: \"req-3\" repeats line 4 with a different body")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:44: body.model: no openai provider in the config serves model \"nope\"")), qPrintable(r.err));
    std::ifstream rejects(f.path(QStringLiteral("out.jsonl.rejects.jsonl")).toStdString());
    std::vector<json> rj;
    std::string line;
    while (std::getline(rejects, line)) {
        rj.push_back(json::parse(line));
    }
    QCOMPARE(rj.size(), std::size_t{4});
    QCOMPARE(rj[0]["line"].get<int>(), 41);
    QCOMPARE(QString::fromStdString(rj[3]["custom_id"].get<std::string>()), QStringLiteral("nomodel"));
    QCOMPARE(f.provider.stats().accepted, std::int64_t{40});
}

void TestBatchCli::badConfigStartsNothing()
{
    Fixture f;
    f.writeConfig(json::object(), "UNSET_KEY_VARIABLE");
    f.writeInput(5);
    const Run r = f.run(f.batchArgs());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(QStringLiteral("config.json:")) &&
                 r.err.contains(QStringLiteral("/providers/0/keys/0/env: environment variable UNSET_KEY_VARIABLE is not set")),
             qPrintable(r.err));
    QVERIFY(!QFile::exists(f.path(QStringLiteral("out.jsonl"))));
    QCOMPARE(f.provider.stats().requests, std::int64_t{0});
}

void TestBatchCli::rerunSendsNothingNew()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(30);
    QCOMPARE(f.run(f.batchArgs()).exitCode, 0);
    QCOMPARE(f.provider.stats().accepted, std::int64_t{30});
    const Run again = f.run(f.batchArgs());
    QCOMPARE(again.exitCode, 0);
    QVERIFY2(again.err.contains(QStringLiteral("nothing left to send")), qPrintable(again.err));
    QCOMPARE(f.provider.stats().accepted, std::int64_t{30});
    verifyCompleteOutput(f, 30);
}

void TestBatchCli::deadLettersExitNonZeroAndExplain()
{
    Fixture f;
    f.provider.applyPatch(R"({"faults":{"http500":1}})");
    f.writeConfig({{"retry", {{"max_attempts", 2}}}});
    f.writeInput(3);
    const Run r = f.run(f.batchArgs());
    QCOMPARE(r.exitCode, 1);
    const auto lines = f.output();
    QCOMPARE(lines.size(), std::size_t{3});
    for (const json& l : lines) {
        QCOMPARE(QString::fromStdString(l["error"]["code"].get<std::string>()), QStringLiteral("server_error"));
        QCOMPARE(l["response"]["status_code"].get<int>(), 500);
    }
    const Run explain = f.run({QStringLiteral("batch"), QStringLiteral("--state"), f.statePath(),
                               QStringLiteral("--explain"), QStringLiteral("req-1")});
    QCOMPARE(explain.exitCode, 0);
    QProcess p;
    f.prepare(p);
    p.setArguments({QStringLiteral("batch"), QStringLiteral("--state"), f.statePath(), QStringLiteral("--explain"),
                    QStringLiteral("req-1")});
    p.start();
    QVERIFY(p.waitForFinished());
    const QString text = QString::fromUtf8(p.readAllStandardOutput());
    QVERIFY2(text.contains(QStringLiteral("req-1: dead")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("HTTP 500")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("retry_scheduled")), qPrintable(text));
    QVERIFY2(text.count(QStringLiteral("server_error")) >= 2, qPrintable(text));  // both attempts
    const Run unknown = f.run({QStringLiteral("batch"), QStringLiteral("--state"), f.statePath(),
                               QStringLiteral("--explain"), QStringLiteral("nope")});
    QCOMPARE(unknown.exitCode, 2);
}

void TestBatchCli::secondRunnerIsRefused()
{
    Fixture f(2000);
    f.writeConfig();
    f.writeInput(5);
    QProcess first;
    f.prepare(first);
    first.setArguments(f.batchArgs());
    first.start();
    QTRY_VERIFY_WITH_TIMEOUT(f.provider.stats().requests >= 1, 20000);
    const Run second = f.run(f.batchArgs());
    QCOMPARE(second.exitCode, 1);
    QVERIFY2(second.err.contains(QStringLiteral("another run holds this state file")), qPrintable(second.err));
    QVERIFY(first.waitForFinished(60000));
    QCOMPARE(first.exitCode(), 0);
}

void TestBatchCli::killNineAndResume_data()
{
    QTest::addColumn<int>("point");
    QTest::newRow("before the first send") << 0;
    QTest::newRow("mid-flight, leases out") << 1;
    QTest::newRow("while writing results") << 2;
}

void TestBatchCli::killNineAndResume()
{
    QFETCH(int, point);
    constexpr int kJobs = 300;
    Fixture f(point == 1 ? 150 : 0);
    // Before the first send: the provider holds the slow-start probe, so
    // nothing else goes out while the run is killed.
    if (point == 0) {
        f.provider.applyPatch(R"({"latency":{"baseMs":60000}})");
    }
    f.writeConfig({{"global", {{"limits", {{"concurrency", 64}}}}}});
    f.writeInput(kJobs);

    QProcess victim;
    f.prepare(victim);
    victim.setArguments(f.batchArgs());
    victim.start();
    QVERIFY(victim.waitForStarted());
    switch (point) {
    case 0:
        QTRY_VERIFY_WITH_TIMEOUT(f.stateCounts().total() == kJobs && f.stateCounts().leased > 0, 20000);
        QVERIFY(f.provider.stats().accepted <= 1);
        break;
    case 1:
        QTRY_VERIFY_WITH_TIMEOUT(f.stateCounts().done >= kJobs / 3, 30000);
        break;
    default:
        QTRY_VERIFY_WITH_TIMEOUT(f.stateCounts().done == kJobs, 30000);
        break;
    }
    victim.kill();  // SIGKILL
    QVERIFY(victim.waitForFinished());
    QCOMPARE(victim.exitStatus(), QProcess::CrashExit);

    const store::Counts atKill = f.stateCounts();
    QCOMPARE(atKill.total(), std::int64_t{kJobs});
    QVERIFY(atKill.done < kJobs || point == 2);
    if (point != 2) {
        QVERIFY2(atKill.done < kJobs, "the run finished before it could be killed");
    }
    f.provider.setConfig(quietMock(0));
    const std::int64_t sentBefore = f.provider.stats().accepted;

    const Run resumed = f.run(f.batchArgs());
    QCOMPARE(resumed.exitCode, 0);
    verifyCompleteOutput(f, kJobs);
    // Only what was not done was sent again.
    QCOMPARE(f.provider.stats().accepted - sentBefore, kJobs - atKill.done);
    const store::Counts after = f.stateCounts();
    QCOMPARE(after.done, std::int64_t{kJobs});
    QCOMPARE(after.pending + after.leased + after.dead, std::int64_t{0});
}

void TestBatchCli::refusesToWriteOverTheInput_data()
{
    QTest::addColumn<QString>("flag");
    QTest::addColumn<int>("link");  // 0: the path itself, 1: a symbolic link, 2: a hard link
    QTest::newRow("--output same path") << QStringLiteral("--output") << 0;
    QTest::newRow("--output symlink") << QStringLiteral("--output") << 1;
    QTest::newRow("--output hard link") << QStringLiteral("--output") << 2;
    QTest::newRow("--rejects same path") << QStringLiteral("--rejects") << 0;
    QTest::newRow("--rejects hard link") << QStringLiteral("--rejects") << 2;
    QTest::newRow("--state same path") << QStringLiteral("--state") << 0;
}

void TestBatchCli::refusesToWriteOverTheInput()
{
    QFETCH(QString, flag);
    QFETCH(int, link);
    Fixture f;
    f.writeConfig();
    f.writeInput(5, {"{not json"});
    const QString in = f.path(QStringLiteral("in.jsonl"));
    const QByteArray before = fileBytes(in);
    QString target = in;
    if (link == 1) {
        target = f.path(QStringLiteral("via-symlink.jsonl"));
        QVERIFY(::symlink(in.toLocal8Bit().constData(), target.toLocal8Bit().constData()) == 0);
    } else if (link == 2) {
        target = f.path(QStringLiteral("via-hardlink.jsonl"));
        QVERIFY(::link(in.toLocal8Bit().constData(), target.toLocal8Bit().constData()) == 0);
    }
    const Run r = f.run(f.argsWith(flag, target));
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(QStringLiteral("is the input file")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("Nothing was sent")), qPrintable(r.err));
    QCOMPARE(fileBytes(in), before);
    QCOMPARE(f.provider.stats().requests, std::int64_t{0});
}

void TestBatchCli::invalidUtf8LinesAreRejectedLines()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(5, {std::string("{\"custom_id\":\"bad-utf8\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":"
                                 "\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xC3\x28\"}]}}"),
                     std::string("\x89PNG\r\n\x1a\x00\x00\xff\xfe binary garbage", 27)});
    // A good line after the bad ones still runs.
    {
        std::ofstream out(f.path(QStringLiteral("in.jsonl")).toStdString(), std::ios::app);
        out << json{{"custom_id", "after"},
                    {"url", "/v1/chat/completions"},
                    {"body", {{"model", "gpt-4o-mini"}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}}}}
                   .dump()
            << '\n';
    }
    const Run r = f.run(f.batchArgs());
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:6: not valid JSON")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:7: not valid JSON")), qPrintable(r.err));
    QVERIFY2(!r.err.contains(QStringLiteral("json.exception")), qPrintable(r.err));
    QCOMPARE(f.output().size(), std::size_t{6});
    QCOMPARE(f.provider.stats().accepted, std::int64_t{6});
    // The garbage holds a newline, so it is two lines: 7 and 8.
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:8: not valid JSON")), qPrintable(r.err));
    const auto rejects = f.output(QStringLiteral("out.jsonl.rejects.jsonl"));
    QCOMPARE(rejects.size(), std::size_t{3});
    QCOMPARE(rejects[0]["line"].get<int>(), 6);
    QCOMPARE(rejects[1]["line"].get<int>(), 7);
    QCOMPARE(rejects[2]["line"].get<int>(), 8);
}

void TestBatchCli::foreignStateFileIsLeftAsItWas()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(3);
    const QString foreign = f.path(QStringLiteral("photos.db"));
    {
        store::Database db(foreign.toStdString(), store::OpenMode::ReadWriteCreate);
        db.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)");
        db.exec("INSERT INTO photos (name) VALUES ('beach.jpg')");
    }
    const QByteArray before = fileBytes(foreign);
    QVERIFY(!before.isEmpty());
    const Run r = f.run(f.argsWith(QStringLiteral("--state"), foreign));
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(QStringLiteral("not a Sluice job store")), qPrintable(r.err));
    QCOMPARE(fileBytes(foreign), before);
    QVERIFY(!QFile::exists(foreign + QStringLiteral(".lock")));
    QVERIFY(!QFile::exists(foreign + QStringLiteral("-wal")));
    QVERIFY(!QFile::exists(foreign + QStringLiteral("-shm")));
    QCOMPARE(f.provider.stats().requests, std::int64_t{0});
}

void TestBatchCli::inputDirectoryIsRefused()
{
    Fixture f;
    f.writeConfig();
    QVERIFY(QDir(f.dir.path()).mkdir(QStringLiteral("indir")));
    const Run r = f.run(f.argsWith(QStringLiteral("--input"), f.path(QStringLiteral("indir"))));
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(QStringLiteral("is a directory, not a batch file")), qPrintable(r.err));
    QVERIFY(!QFile::exists(f.path(QStringLiteral("out.jsonl"))));
}

void TestBatchCli::missingOutputDirectoryIsFoundBeforeSending_data()
{
    QTest::addColumn<QString>("flag");
    QTest::newRow("--output") << QStringLiteral("--output");
    QTest::newRow("--rejects") << QStringLiteral("--rejects");
}

void TestBatchCli::missingOutputDirectoryIsFoundBeforeSending()
{
    QFETCH(QString, flag);
    Fixture f;
    f.writeConfig();
    f.writeInput(5);
    const Run r = f.run(f.argsWith(flag, f.path(QStringLiteral("no/such/dir/file.jsonl"))));
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(QStringLiteral("does not exist")), qPrintable(r.err));
    QCOMPARE(f.provider.stats().requests, std::int64_t{0});
    QVERIFY(!QFile::exists(f.statePath()));
}

void TestBatchCli::outputFailureAtTheEndSaysHowToWriteItOut()
{
    Fixture f(1500);
    f.writeConfig();
    f.writeInput(3);
    QVERIFY(QDir(f.dir.path()).mkdir(QStringLiteral("results")));
    QProcess p;
    f.prepare(p);
    p.setArguments(f.argsWith(QStringLiteral("--output"), f.path(QStringLiteral("results/out.jsonl"))));
    p.start();
    QTRY_VERIFY_WITH_TIMEOUT(f.provider.stats().requests >= 1, 20000);
    // The directory goes away while the requests are out.
    QVERIFY(QDir(f.path(QStringLiteral("results"))).removeRecursively());
    QVERIFY(p.waitForFinished(60000));
    const QString err = QString::fromUtf8(p.readAllStandardError());
    QCOMPARE(p.exitCode(), 1);
    QVERIFY2(err.contains(QStringLiteral("The results are safe in %1").arg(f.statePath())), qPrintable(err));
    const QString command = QStringLiteral("sluice-cli batch --state %1 --write-output %2")
                                .arg(f.statePath(), f.path(QStringLiteral("results/out.jsonl")));
    QVERIFY2(err.contains(command), qPrintable(err));
    // The command it gives writes them out, sending nothing.
    QVERIFY(QDir(f.dir.path()).mkdir(QStringLiteral("results")));
    const std::int64_t sent = f.provider.stats().requests;
    const Run w = f.run({QStringLiteral("batch"), QStringLiteral("--state"), f.statePath(), QStringLiteral("--write-output"),
                         f.path(QStringLiteral("results/out.jsonl"))});
    QCOMPARE(w.exitCode, 0);
    QCOMPARE(f.provider.stats().requests, sent);
    const auto lines = f.output(QStringLiteral("results/out.jsonl"));
    QCOMPARE(lines.size(), std::size_t{3});
    QCOMPARE(lines[2]["response"]["status_code"].get<int>(), 200);
}

void TestBatchCli::readmeBatchCommandsWorkAsWritten()
{
    // The README's "Running a batch file", as written: its key, its config
    // (pointed at this test's mock), its input, against the mock's stock setup.
    QFile readme(QStringLiteral(SLUICE_SOURCE_DIR "/README.md"));
    QVERIFY(readme.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(readme.readAll());
    const qsizetype section = text.indexOf(QStringLiteral("## Running a batch file"));
    QVERIFY(section >= 0);
    const QString block = text.mid(section, text.indexOf(QStringLiteral("```\n"), text.indexOf(QStringLiteral("```sh"), section) + 5) - section);
    const QRegularExpressionMatch key = QRegularExpression(QStringLiteral("MOCK_API_KEY=(\\S+)")).match(block);
    QVERIFY2(key.hasMatch(), qPrintable(block));
    QVERIFY2(block.contains(QStringLiteral("--config resources/config.mock.json")), qPrintable(block));
    QVERIFY2(block.contains(QStringLiteral("--input resources/workloads/requests.jsonl")), qPrintable(block));

    mock::MockConfig stock = mock::MockConfig::defaults();
    stock.latency.baseMs = 0;
    stock.latency.perOutputTokenMs = 0;
    Fixture f(stock);
    std::ifstream cfgIn(SLUICE_SOURCE_DIR "/resources/config.mock.json");
    json cfg = json::parse(cfgIn);
    cfg["providers"][0]["base_url"] = f.provider.baseUrl();
    cfg["providers"][0]["keys"][0]["env"] = "MOCK_KEY";
    std::ofstream(f.path(QStringLiteral("config.json")).toStdString()) << cfg.dump(2);
    QFile::remove(f.path(QStringLiteral("in.jsonl")));
    QVERIFY(QFile::copy(QStringLiteral(SLUICE_SOURCE_DIR "/resources/workloads/requests.jsonl"), f.path(QStringLiteral("in.jsonl"))));
    const Run r = f.run(f.batchArgs(), key.captured(1));
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("40 completed, 0 dead-lettered, 0 rejected")), qPrintable(r.err));
    const Run explain = f.run({QStringLiteral("batch"), QStringLiteral("--state"), f.statePath(), QStringLiteral("--explain"),
                               QStringLiteral("req-3")});
    QVERIFY2(explain.exitCode == 0, qPrintable(explain.err));
    const Run report = f.run({QStringLiteral("report"), QStringLiteral("--state"), f.statePath(), QStringLiteral("--by"),
                              QStringLiteral("model"), QStringLiteral("--format"), QStringLiteral("html"),
                              QStringLiteral("--output"), f.path(QStringLiteral("usage.html"))});
    QVERIFY2(report.exitCode == 0, qPrintable(report.err));
}

void TestBatchCli::retryDeadLettersRequeuesThem()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(4);
    // A wrong key: every job is a dead letter (the key is quarantined).
    const Run wrong = f.run(f.batchArgs(), QStringLiteral("sk-wrong"));
    QCOMPARE(wrong.exitCode, 1);
    QCOMPARE(f.stateCounts().dead, std::int64_t{4});
    // The right key alone changes nothing: they stay dead.
    const Run plain = f.run(f.batchArgs());
    QCOMPARE(plain.exitCode, 1);
    QVERIFY2(plain.err.contains(QStringLiteral("--retry-dead-letters")), qPrintable(plain.err));
    QCOMPARE(f.stateCounts().dead, std::int64_t{4});
    // An unknown class is refused before anything happens.
    QStringList bad = f.batchArgs();
    bad << QStringLiteral("--retry-dead-letters=nonsense");
    const Run refused = f.run(bad);
    QCOMPARE(refused.exitCode, 2);
    QVERIFY2(refused.err.contains(QStringLiteral("unknown failure class \"nonsense\"")), qPrintable(refused.err));
    // A class that none died of requeues none.
    QStringList other = f.batchArgs();
    other << QStringLiteral("--retry-dead-letters=server_error");
    const Run none = f.run(other);
    QVERIFY2(none.err.contains(QStringLiteral("0 dead letters requeued")), qPrintable(none.err));
    QCOMPARE(f.stateCounts().dead, std::int64_t{4});
    // All of them.
    QStringList all = f.batchArgs();
    all << QStringLiteral("--retry-dead-letters");
    const Run again = f.run(all);
    QVERIFY2(again.exitCode == 0, qPrintable(again.err));
    QVERIFY2(again.err.contains(QStringLiteral("4 dead letters requeued")), qPrintable(again.err));
    verifyCompleteOutput(f, 4);
}

void TestBatchCli::zeroAndHugeLimitsAreRefused()
{
    Fixture f;
    f.writeConfig({{"providers", json::array({{{"name", "mock"},
                                               {"flavor", "openai"},
                                               {"base_url", f.provider.baseUrl()},
                                               {"limits", {{"tpm", 0}, {"concurrency", 0}}},
                                               {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 1e30}}}}}}},
                                               {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}}})}});
    f.writeInput(3);
    const Run r = f.run(f.batchArgs());
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(QStringLiteral("/providers/0/limits/tpm: must be more than 0")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("/providers/0/limits/concurrency: must be more than 0")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("/providers/0/models/gpt-4o-mini/limits/rpm: must be between 1 and")) &&
                 r.err.contains(QStringLiteral("(got 1e+30)")),
             qPrintable(r.err));
    QVERIFY2(!r.err.contains(QStringLiteral("whole number")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("config.json:")), qPrintable(r.err));
    QCOMPARE(f.provider.stats().requests, std::int64_t{0});
}

void TestBatchCli::badStandardFieldsAndRepeatsAreRejectedLocally()
{
    Fixture f;
    f.writeConfig();
    const auto line = [](const std::string& id, const json& extra) {
        json body = {{"model", "gpt-4o-mini"}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}};
        body.merge_patch(extra);
        return json{{"custom_id", id}, {"url", "/v1/chat/completions"}, {"body", body}}.dump();
    };
    f.writeInput(3, {line("ten", {{"max_tokens", "ten"}}), line("neg", {{"max_tokens", -5}}),
                     line("hot", {{"temperature", 7}}), line("many", {{"n", 0}}),
                     line("req-1", {{"max_tokens", 16}, {"messages", json::array({{{"role", "user"}, {"content", "line 1"}}})}})});
    const Run r = f.run(f.batchArgs());
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:4: body.max_tokens: must be a whole number")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:5: body.max_tokens: must be between 1")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:6: body.temperature")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:7: body.n")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("in.jsonl:8: custom_id: \"req-1\" repeats line 2 (the same request)")), qPrintable(r.err));
    QCOMPARE(f.provider.stats().requests, std::int64_t{3});
    QCOMPARE(f.output(QStringLiteral("out.jsonl.rejects.jsonl")).size(), std::size_t{5});
}

void TestBatchCli::explainTellsRefusalsApartFromAttempts()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(1);
    // 401 quarantines the only key (not counted); the job then dies with no
    // usable key, refused before it is sent again.
    QCOMPARE(f.run(f.batchArgs(), QStringLiteral("sk-wrong")).exitCode, 1);
    const Run e = f.run({QStringLiteral("batch"), QStringLiteral("--state"), f.statePath(), QStringLiteral("--explain"),
                         QStringLiteral("req-0")});
    QCOMPARE(e.exitCode, 0);
    const QString text = e.out;
    QVERIFY2(text.contains(QStringLiteral("0 failed attempts counted against its limit, 1 not counted")), qPrintable(text));
    QVERIFY2(!text.contains(QStringLiteral("HTTP 0")), qPrintable(text));
    QVERIFY2(!text.contains(QStringLiteral("on key :")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("HTTP 401 on key main (not counted)")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("refused before sending")), qPrintable(text));
    // In true order: the attempt, then the refusal and the death.
    const qsizetype attempt = text.indexOf(QStringLiteral("  attempt "));
    const qsizetype dead = text.indexOf(QStringLiteral("dead_lettered"));
    QVERIFY2(attempt >= 0 && dead > attempt, qPrintable(text));
}

void TestBatchCli::reportFormatAndSource()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(3);
    // A wrong key: the first request is refused (401) and the key
    // quarantined; the rest die unsent. Nothing was retried.
    QCOMPARE(f.run(f.batchArgs(), QStringLiteral("sk-wrong")).exitCode, 1);
    const Run pdf = f.run({QStringLiteral("report"), QStringLiteral("--state"), f.statePath(), QStringLiteral("--output"),
                           f.path(QStringLiteral("r.pdf"))});
    QCOMPARE(pdf.exitCode, 2);
    QVERIFY2(pdf.err.contains(QStringLiteral("csv, json or html")), qPrintable(pdf.err));
    QVERIFY(!QFile::exists(f.path(QStringLiteral("r.pdf"))));
    const Run html = f.run({QStringLiteral("report"), QStringLiteral("--state"), f.statePath(), QStringLiteral("--output"),
                            f.path(QStringLiteral("r.html"))});
    QCOMPARE(html.exitCode, 0);
    const QByteArray page = fileBytes(f.path(QStringLiteral("r.html")));
    QVERIFY(page.contains("state.db"));
    QVERIFY2(!page.contains(f.dir.path().toUtf8()), "the HTML report names the state file's directory");
    const Run asJson = f.run({QStringLiteral("report"), QStringLiteral("--state"), f.statePath(), QStringLiteral("--output"),
                            f.path(QStringLiteral("r.json"))});
    QCOMPARE(asJson.exitCode, 0);
    const auto report = nlohmann::json::parse(fileBytes(f.path(QStringLiteral("r.json"))).toStdString());
    QVERIFY2(report.dump().find("\"retries\":0") != std::string::npos, report.dump().c_str());
    QVERIFY2(report.dump().find("\"retries\":1") == std::string::npos, report.dump().c_str());
}

void TestBatchCli::fullDiskStopsAndResumes()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(400);
    // Room for the queue but not for every result: the disk fills mid-run.
    QProcess p;
    f.prepare(p);
    QProcessEnvironment env = p.processEnvironment();
    env.insert(QStringLiteral("LD_PRELOAD"), QStringLiteral(FULL_DISK_PRELOAD));
    env.insert(QStringLiteral("SLUICE_TEST_DISK_BYTES"), QStringLiteral("700000"));
    p.setProcessEnvironment(env);
    p.setArguments(f.batchArgs());
    p.start();
    QVERIFY(p.waitForFinished(120000));
    const QString err = QString::fromUtf8(p.readAllStandardError());
    QCOMPARE(p.exitCode(), 1);
    QVERIFY2(err.contains(QStringLiteral("is full")) && err.contains(QStringLiteral("intact")), qPrintable(err));
    QVERIFY(f.provider.stats().requests > 0);

    // Space freed: the same command finishes, one line per custom_id.
    const Run again = f.run(f.batchArgs());
    QCOMPARE(again.exitCode, 0);
    const auto lines = f.output();
    QCOMPARE(lines.size(), std::size_t{400});
    std::set<std::string> ids;
    for (const auto& l : lines) {
        QCOMPARE(l["response"]["status_code"].get<int>(), 200);
        ids.insert(l["custom_id"].get<std::string>());
    }
    QCOMPARE(ids.size(), std::size_t{400});
}

void TestBatchCli::tooLargeNamesTheLimitFigures()
{
    Fixture f;
    // 20 tokens a minute: fewer than one request's estimate, so the provider
    // could never take it (a request above the burst but within the limit
    // is sent once the bucket is full).
    f.writeConfig({{"providers", json::array({{{"name", "mock"},
                                               {"flavor", "openai"},
                                               {"base_url", f.provider.baseUrl()},
                                               {"models", {{"gpt-4o-mini", {{"limits", {{"tpm", 20}, {"granularity_s", 1}}}}}}},
                                               {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}}})}});
    f.writeInput(1);
    QCOMPARE(f.run(f.batchArgs()).exitCode, 1);
    const auto lines = f.output();
    QCOMPARE(lines.size(), std::size_t{1});
    const QString message = QString::fromStdString(lines[0]["error"]["message"].get<std::string>());
    QCOMPARE(QString::fromStdString(lines[0]["error"]["code"].get<std::string>()), QStringLiteral("request_too_large"));
    QVERIFY2(message.contains(QStringLiteral("total_tokens per minute of model")), qPrintable(message));
    QVERIFY2(message.contains(QRegularExpression(QStringLiteral("the estimate, \\d+, is more than the whole limit of 20"))),
             qPrintable(message));
    QCOMPARE(f.provider.stats().requests, std::int64_t{0});
}

void TestBatchCli::compactAfterOutputShrinksTheStateAndKeepsReruns()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(300, {R"({"custom_id":"last","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"x"}]}})"});
    const Run r = f.run(f.batchArgs() << QStringLiteral("--compact"));
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("compacted: 301 results dropped")), qPrintable(r.err));
    const QByteArray output = fileBytes(f.path(QStringLiteral("out.jsonl")));
    QCOMPARE(output.count('\n'), 301);
    {
        store::StoreOptions o;
        o.readOnly = true;
        store::JobStore st(f.statePath().toStdString(), f.clock, o);
        QCOMPARE(st.counts().done, std::int64_t{301});
        QCOMPARE(st.compactedBetween(1, 1000), std::int64_t{301});
        QVERIFY(!st.result(1).has_value());
    }

    // A rerun of the same command sends nothing and says why it cannot write
    // the output again; the output is left as it was.
    const Run again = f.run(f.batchArgs());
    QCOMPARE(again.exitCode, 2);
    QVERIFY2(again.err.contains(QStringLiteral("301 results were compacted out of")), qPrintable(again.err));
    QVERIFY2(again.err.contains(f.path(QStringLiteral("out.jsonl"))), qPrintable(again.err));
    QVERIFY2(again.err.contains(QStringLiteral("Nothing was sent")), qPrintable(again.err));
    QCOMPARE(f.provider.stats().accepted, std::int64_t{301});
    QCOMPARE(fileBytes(f.path(QStringLiteral("out.jsonl"))), output);

    // --write-output says the same, and writes nothing.
    const Run write = f.run({QStringLiteral("batch"), QStringLiteral("--state"), f.statePath(),
                             QStringLiteral("--write-output"), f.path(QStringLiteral("again.jsonl"))});
    QCOMPARE(write.exitCode, 2);
    QVERIFY2(write.err.contains(QStringLiteral("compacted")), qPrintable(write.err));
    QVERIFY(!QFile::exists(f.path(QStringLiteral("again.jsonl"))));

    // --explain shows where the timeline went.
    QProcess p;
    f.prepare(p);
    p.setArguments({QStringLiteral("batch"), QStringLiteral("--state"), f.statePath(), QStringLiteral("--explain"),
                    QStringLiteral("req-7")});
    p.start();
    QVERIFY(p.waitForFinished());
    const QString text = QString::fromUtf8(p.readAllStandardOutput());
    QVERIFY2(text.contains(QStringLiteral("compacted")) && text.contains(QStringLiteral("out.jsonl")), qPrintable(text));
}

void TestBatchCli::responsesAndEmbeddingsLinesRun()
{
    // A Batch API file may hold Responses and Embeddings lines beside chat
    // ones: each is sent to its own path (the mock answers each path in its
    // own shape), through the state file's queue, and its response is the
    // output line's body.
    Fixture f;
    f.writeConfig();
    json config = json::parse(fileBytes(f.path(QStringLiteral("config.json"))).toStdString());
    config["providers"][0]["models"]["text-embedding-3-small"] = json::object();
    std::ofstream(f.path(QStringLiteral("config.json")).toStdString()) << config.dump(2);
    f.writeInput(2, {R"({"custom_id":"resp-1","method":"POST","url":"/v1/responses","body":{"model":"gpt-4o-mini","input":"Say hi","max_output_tokens":16}})",
                     R"({"custom_id":"emb-1","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":["one","two"]}})"});
    const Run r = f.run(f.batchArgs());
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    const auto lines = f.output();
    QCOMPARE(lines.size(), std::size_t{4});
    std::map<std::string, json> byId;
    for (const json& l : lines) {
        QCOMPARE(l["response"]["status_code"].get<int>(), 200);
        byId[l["custom_id"].get<std::string>()] = l["response"]["body"];
    }
    QCOMPARE(QString::fromStdString(byId["resp-1"].value("object", "")), QStringLiteral("response"));
    QVERIFY(byId["resp-1"]["output"].is_array());
    QCOMPARE(QString::fromStdString(byId["emb-1"].value("object", "")), QStringLiteral("list"));
    QCOMPARE(byId["emb-1"]["data"].size(), std::size_t{2});
    QVERIFY(byId["req-0"]["choices"].is_array());
    QCOMPARE(f.provider.stats().accepted, std::int64_t{4});
}

QTEST_GUILESS_MAIN(TestBatchCli)
#include "tst_batch_cli.moc"
