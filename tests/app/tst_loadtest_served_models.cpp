// A load test whose workload names a model no provider serves is refused
// before anything starts, naming the model (issue 13, item 12): the engine's
// check on its own (a provider that lists its models; one that lists none
// but is asked for another flavour's model; a replay; a pinned provider),
// and the real sluice-cli loadtest, which used to run such a workload and
// fail every request with not_found.
#include "loadcheck/served_models.h"
#include "loadtest/request_factory.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace sluice;

// Declared before the test data: moc does not read raw string literals.
class TestLoadtestServedModels : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void check_data();
    void check();
    void cliRefusesBeforeSending();
};

namespace {

Config configOf(const std::string& text)
{
    return loadConfig(JsonSource("limits.json", text), [](const std::string&) { return std::optional<std::string>("sk-x"); });
}

const char* kListed = R"({"providers": [{"name": "openai", "flavor": "openai", "base_url": "https://api.openai.com",
  "models": {"gpt-4o-mini": {}}, "keys": [{"name": "k", "env": "K"}]}]})";
const char* kOpenAnthropic = R"({"providers": [{"name": "anthropic", "flavor": "anthropic",
  "base_url": "https://api.anthropic.com", "keys": [{"name": "k", "env": "K"}]}]})";

QString writeFile(const QTemporaryDir& dir, const char* name, const std::string& text)
{
    const QString path = dir.filePath(QString::fromLatin1(name));
    std::ofstream(path.toStdString()) << text;
    return path;
}

loadtest::Workload workloadOf(const QTemporaryDir& dir, const std::string& models)
{
    const std::string text = R"({"name": "w", "duration_s": 1, "arrival": {"process": "constant", "rate": 1},
      "mix": {"models": )" + models + R"(, "prompt_tokens": 10, "max_tokens": 10}})";
    return loadtest::loadWorkloadFile(writeFile(dir, "w.json", text).toStdString());
}

}  // namespace

void TestLoadtestServedModels::check_data()
{
    QTest::addColumn<QString>("config");
    QTest::addColumn<QString>("models");
    QTest::addColumn<QString>("unserved");  // empty: every model served
    QTest::newRow("listed") << kListed << R"(["gpt-4o-mini"])" << "";
    QTest::newRow("open provider, unknown model") << kOpenAnthropic << R"(["claude-next"])" << "";
    QTest::newRow("open provider, its flavour's model") << kOpenAnthropic << R"(["claude-haiku-4-5"])" << "";
    QTest::newRow("open provider, another flavour's model") << kOpenAnthropic << R"(["gpt-4o-mini"])" << "gpt-4o-mini";
    QTest::newRow("pinned provider that does not list it")
        << kListed << R"([{"model": "gpt-4o", "provider": "openai"}])" << "gpt-4o";
}

void TestLoadtestServedModels::check()
{
    QFETCH(QString, config);
    QFETCH(QString, models);
    QFETCH(QString, unserved);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const Config c = configOf(config.toStdString());
    loadtest::Workload w = workloadOf(dir, models.toStdString());
    std::vector<std::string> problems;
    try {
        loadtest::resolveFlavors(w, c);
        problems = loadcheck::unservedModels(w, c, mock::MockConfig::defaults());
    } catch (const InputError& e) {
        problems.push_back(e.what());
    }
    if (unserved.isEmpty()) {
        QVERIFY2(problems.empty(), problems.empty() ? "" : problems.front().c_str());
        return;
    }
    QCOMPARE(problems.size(), std::size_t{1});
    QVERIFY2(QString::fromStdString(problems.front()).contains(QLatin1Char('"') + unserved + QLatin1Char('"')),
             problems.front().c_str());
}

void TestLoadtestServedModels::cliRefusesBeforeSending()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString config = writeFile(dir, "anthropic.json", kOpenAnthropic);
    const QString workload = writeFile(dir, "w.json", R"({"name": "w", "duration_s": 2, "seed": 1,
      "arrival": {"process": "constant", "rate": 3}, "mix": {"models": ["gpt-4o-mini"], "prompt_tokens": 40, "max_tokens": 16}})");
    const QString report = dir.filePath(QStringLiteral("report.json"));
    QProcess cli;
    cli.start(QStringLiteral(SLUICE_CLI_PATH), {QStringLiteral("loadtest"), QStringLiteral("--config"), config,
                                                QStringLiteral("--workload"), workload, QStringLiteral("--mock"),
                                                QStringLiteral("--report"), report});
    QVERIFY(cli.waitForFinished(60'000));
    const QString err = QString::fromLocal8Bit(cli.readAllStandardError());
    QCOMPARE(cli.exitCode(), 2);
    QVERIFY2(err.contains(QStringLiteral("\"gpt-4o-mini\"")), qPrintable(err));
    QVERIFY2(err.contains(QStringLiteral("Nothing was sent")), qPrintable(err));
    QVERIFY(!QFileInfo::exists(report));
}

QTEST_APPLESS_MAIN(TestLoadtestServedModels)
#include "tst_loadtest_served_models.moc"
