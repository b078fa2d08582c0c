// The real `sluice-cli batch` binary against an in-process mock provider:
// Batch API output, rejects with line numbers, exit statuses, --explain, and
// resume after kill -9 at several points of a run — every custom_id ends with
// exactly one result line, none duplicated, none missing, and a resumed run
// sends only what was not done.
#include "mock/mock_provider.h"
#include "store/job_store.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

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
};

class Fixture {
public:
    explicit Fixture(double latencyMs = 0) : provider(clock, quietMock(latencyMs)) { provider.start(); }
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

    Run run(const QStringList& args)
    {
        QProcess p;
        prepare(p);
        p.setArguments(args);
        p.start();
        if (!p.waitForFinished(120000)) {
            p.kill();
            p.waitForFinished();
        }
        return Run{p.exitCode(), QString::fromUtf8(p.readAllStandardError())};
    }

    std::vector<json> output() const
    {
        std::vector<json> lines;
        std::ifstream in(path(QStringLiteral("out.jsonl")).toStdString());
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
};

void TestBatchCli::runsAFileAndRejectsBadLines()
{
    Fixture f;
    f.writeConfig();
    f.writeInput(40, {"{not json", R"({"custom_id":"x","url":"/v1/embeddings","body":{}})",
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

QTEST_GUILESS_MAIN(TestBatchCli)
#include "tst_batch_cli.moc"
