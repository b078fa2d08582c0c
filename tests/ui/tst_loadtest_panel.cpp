// The load-test panel, driven through its real widgets (offscreen): a short
// workload runs to completion against the panel's in-process mock and the
// summary shows what the mock itself counted; Stop ends a run early; a
// comparison shows two columns, each matching its own run's mock; a broken
// workload file is reported by name; the built-in workloads load, replays
// included.
#include "builtin_workloads.h"
#include "console_session.h"
#include "format.h"
#include "key_vault.h"
#include "loadtest_panel.h"
#include "loadtest_summary_rows.h"
#include "time_chart.h"

#include <QComboBox>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

using namespace sluice;
using namespace sluice::ui;

// Declared before the test data: moc does not read raw string literals.
class TestLoadTestPanel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void cleanup();
    void runsToCompletionAndShowsTheMocksCounts();
    void stopEndsTheRunEarly();
    void comparisonShowsTwoColumns_data();
    void comparisonShowsTwoColumns();
    void badWorkloadIsReportedByName();
    void builtInWorkloadsLoad();
    void pipelineRowsReadTheirRuns();

private:
    QString writeFile(const QString& name, const char* text);

    QTemporaryDir m_dir;
    KeyVault* m_vault = nullptr;
    std::unique_ptr<ConsoleSession> m_session;
    std::unique_ptr<LoadTestPanel> m_panel;
};

namespace {

constexpr int kRunTimeoutMs = 30'000;  // a run here takes a second or two

// One provider whose model limit binds: 600 RPM enforced per second (10 at
// once, then one every 100 ms). The workspace's key variable is unset: the
// panel resolves keys to the mock's own, so it does not matter.
const char* kWorkspace = R"({
  "sluice_workspace": 1,
  "config": {
    "providers": [{
      "name": "openai", "flavor": "openai", "base_url": "http://127.0.0.1:9",
      "models": { "gpt-4o-mini": { "limits": { "rpm": 600, "granularity_s": 1 } } },
      "keys": [ { "name": "main", "env": "SLUICE_TEST_KEY_NOT_SET" } ]
    }],
    "retry": { "base_delay_s": 0.01, "max_delay_s": 0.1 }
  }
})";

// 30 requests in one second: three times what the limit lets through at once.
const char* kShortWorkload = R"({"name": "short burst", "duration_s": 1, "seed": 3,
  "arrival": {"process": "constant", "rate": 30},
  "mix": {"models": ["gpt-4o-mini"], "prompt_tokens": 40, "max_tokens": 16}})";

// The same provider at half the request rate: Sluice admits less.
const char* kHalfLimits = R"({
  "providers": [{
    "name": "openai", "flavor": "openai", "base_url": "http://127.0.0.1:9",
    "models": { "gpt-4o-mini": { "limits": { "rpm": 300, "granularity_s": 1 } } },
    "keys": [ { "name": "main", "env": "SLUICE_TEST_KEY_NOT_SET" } ]
  }],
  "retry": { "base_delay_s": 0.01, "max_delay_s": 0.1 }
})";

// 20 requests in one second, for the comparisons (two runs each).
const char* kCompareWorkload = R"({"name": "compare", "duration_s": 1, "seed": 5,
  "arrival": {"process": "constant", "rate": 20},
  "mix": {"models": ["gpt-4o-mini"], "prompt_tokens": 40, "max_tokens": 16}})";

const char* kLongWorkload = R"({"name": "long", "duration_s": 60, "seed": 4,
  "arrival": {"process": "constant", "rate": 5},
  "mix": {"models": ["gpt-4o-mini"], "prompt_tokens": 40, "max_tokens": 16}})";

// The real mock, answering in milliseconds so runs take about as long as
// their arrivals.
mock::MockConfig fastMock()
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 5;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 5;
    m.output.distribution = mock::DistributionKind::Fixed;
    m.output.mean = 8;
    return m;
}

std::int64_t mock429(const mock::MockStats& m)
{
    std::int64_t n = m.tooLarge + m.quotaExhausted;
    for (const auto r : m.rateLimited) {
        n += r;
    }
    return n;
}

QString count(std::int64_t n)
{
    return formatCount(n);
}

}  // namespace

QString TestLoadTestPanel::writeFile(const QString& name, const char* text)
{
    const QString path = m_dir.filePath(name);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        return {};
    }
    f.write(text);
    return path;
}

void TestLoadTestPanel::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(m_dir.isValid());
    m_vault = new KeyVault(this);
    OpenRequest request;
    request.name = QStringLiteral("rehearsal");
    request.dataHome = m_dir.path();
    request.create = host::WorkspaceConfig::parse("workspace.json", kWorkspace);
    bool done = false;
    QString error;
    ConsoleSession::open(std::move(request), *m_vault, this,
                         [&](std::unique_ptr<ConsoleSession> session, const QString& e) {
                             m_session = std::move(session);
                             error = e;
                             done = true;
                         });
    QTRY_VERIFY_WITH_TIMEOUT(done, 10'000);
    QVERIFY2(m_session, qPrintable(error));
}

void TestLoadTestPanel::cleanupTestCase()
{
    m_session.reset();
}

void TestLoadTestPanel::init()
{
    m_panel = std::make_unique<LoadTestPanel>(*m_session);
    m_panel->setMockBase(fastMock());
    m_panel->resize(1100, 800);
    m_panel->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_panel.get()));
}

void TestLoadTestPanel::cleanup()
{
    m_panel.reset();
}

void TestLoadTestPanel::runsToCompletionAndShowsTheMocksCounts()
{
    m_panel->setWorkloadFile(writeFile(QStringLiteral("short.json"), kShortWorkload));
    auto* start = m_panel->findChild<QPushButton*>(QStringLiteral("start"));
    auto* stop = m_panel->findChild<QPushButton*>(QStringLiteral("stop"));
    QVERIFY(start && stop);
    QVERIFY(start->isEnabled());
    QTest::mouseClick(start, Qt::LeftButton);
    QVERIFY(!start->isEnabled());
    QVERIFY(stop->isEnabled());

    auto* table = m_panel->findChild<QTableWidget*>(QStringLiteral("summary"));
    QTRY_COMPARE_WITH_TIMEOUT(table->columnCount(), 1, kRunTimeoutMs);
    QTRY_COMPARE(m_panel->runner().progress().phase, RunnerPhase::Finished);
    const std::vector<RunResult> results = m_panel->runner().results();
    QCOMPARE(results.size(), std::size_t{1});
    const loadtest::LoadTestSummary& s = results[0].summary;
    const mock::MockStats& m = results[0].mock;

    QCOMPARE(s.requests, std::uint64_t{30});
    QCOMPARE(s.completed + s.failed, s.requests);
    QCOMPARE(table->horizontalHeaderItem(0)->text(), QStringLiteral("rehearsal"));
    // What the table says equals what the mock counted on its side.
    QCOMPARE(m_panel->summaryCell(QStringLiteral("requests"), 0), count(30));
    QCOMPARE(m_panel->summaryCell(QStringLiteral("attempts"), 0), count(m.requests));
    QCOMPARE(m_panel->summaryCell(QStringLiteral("completed"), 0), count(m.accepted));
    QCOMPARE(m_panel->summaryCell(QStringLiteral("rate_limited"), 0), count(mock429(m)));
    QCOMPARE(m_panel->summaryCell(QStringLiteral("failed"), 0), count(static_cast<std::int64_t>(s.failed)));
    QVERIFY(!m_panel->summaryCell(QStringLiteral("latency"), 0).isEmpty());
    QVERIFY(m_panel->summaryCell(QStringLiteral("tokens_per_minute"), 0).size() > 0);
    QVERIFY(m_panel->summaryCell(QStringLiteral("spend"), 0).startsWith(QLatin1Char('$')));

    QTRY_VERIFY(start->isEnabled());
    QVERIFY(!stop->isEnabled());
    QCOMPARE(m_panel->findChild<QProgressBar*>(QStringLiteral("progress"))->value(), 1000);
    auto* throughput = m_panel->findChild<TimeChart*>(QStringLiteral("throughputChart"));
    QVERIFY(throughput);
    QVERIFY(throughput->pointCount(0) > 0);
    QVERIFY(throughput->maxValue(0) > 0);
}

void TestLoadTestPanel::stopEndsTheRunEarly()
{
    m_panel->setWorkloadFile(writeFile(QStringLiteral("long.json"), kLongWorkload));
    QTest::mouseClick(m_panel->findChild<QPushButton*>(QStringLiteral("start")), Qt::LeftButton);
    // Running, with something done, then stopped.
    QTRY_VERIFY_WITH_TIMEOUT(m_panel->runner().progress().snapshot &&
                                 m_panel->runner().progress().snapshot->completed >= 3,
                             kRunTimeoutMs);
    auto* bar = m_panel->findChild<QProgressBar*>(QStringLiteral("progress"));
    QTRY_VERIFY(bar->value() > 0);
    QVERIFY(bar->value() < 1000);
    QTest::mouseClick(m_panel->findChild<QPushButton*>(QStringLiteral("stop")), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(m_panel->runner().progress().phase, RunnerPhase::Stopped, kRunTimeoutMs);
    const std::vector<RunResult> results = m_panel->runner().results();
    QCOMPARE(results.size(), std::size_t{1});
    const loadtest::LoadTestSummary& s = results[0].summary;
    QVERIFY(s.stoppedEarly);
    QVERIFY2(s.requests < 300, qPrintable(QString::number(s.requests)));  // 5/s for 60 s, had it not stopped
    QCOMPARE(static_cast<std::int64_t>(s.attempts), results[0].mock.requests);
    QTRY_COMPARE(m_panel->findChild<QTableWidget*>(QStringLiteral("summary"))->columnCount(), 1);
    QVERIFY(m_panel->summaryCell(QStringLiteral("elapsed"), 0).contains(QStringLiteral("stopped early")));
    // The status line follows the runner on the panel's next refresh.
    QTRY_VERIFY(m_panel->findChild<QLabel*>(QStringLiteral("status"))->text().contains(QStringLiteral("Stopped")));
}

void TestLoadTestPanel::comparisonShowsTwoColumns_data()
{
    QTest::addColumn<int>("compare");  // the "compare" box's index
    QTest::addColumn<QString>("second");
    QTest::newRow("naive client, 4 in flight") << 1 << QStringLiteral("naive x4");
    QTest::newRow("second limits configuration") << 2 << QStringLiteral("half-limits.json");
}

void TestLoadTestPanel::comparisonShowsTwoColumns()
{
    QFETCH(int, compare);
    QFETCH(QString, second);
    m_panel->setWorkloadFile(writeFile(QStringLiteral("compare.json"), kCompareWorkload));
    m_panel->findChild<QComboBox*>(QStringLiteral("compare"))->setCurrentIndex(compare);
    if (compare == 1) {
        auto* naive = m_panel->findChild<QSpinBox*>(QStringLiteral("naiveConcurrency"));
        QVERIFY(naive->isVisible());
        naive->setValue(4);
    } else {
        m_panel->setCompareConfigFile(writeFile(second, kHalfLimits));
    }
    QTest::mouseClick(m_panel->findChild<QPushButton*>(QStringLiteral("start")), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(m_panel->runner().progress().phase, RunnerPhase::Finished, kRunTimeoutMs);
    auto* table = m_panel->findChild<QTableWidget*>(QStringLiteral("summary"));
    QTRY_COMPARE(table->columnCount(), 2);
    QCOMPARE(table->horizontalHeaderItem(0)->text(), QStringLiteral("rehearsal"));
    QCOMPARE(table->horizontalHeaderItem(1)->text(), second);
    const std::vector<RunResult> results = m_panel->runner().results();
    QCOMPARE(results.size(), std::size_t{2});
    QCOMPARE(results[1].summary.target, std::string(compare == 1 ? "naive" : "sluice"));
    for (int run = 0; run < 2; ++run) {
        const RunResult& r = results[static_cast<std::size_t>(run)];
        QCOMPARE(r.summary.requests, std::uint64_t{20});
        QCOMPARE(m_panel->summaryCell(QStringLiteral("attempts"), run), count(r.mock.requests));
        QCOMPARE(m_panel->summaryCell(QStringLiteral("completed"), run), count(r.mock.accepted));
        QCOMPARE(m_panel->summaryCell(QStringLiteral("rate_limited"), run), count(mock429(r.mock)));
    }
    if (compare == 1) {
        // The naive client does not wait for the limit: the mock refuses it.
        QVERIFY(mock429(results[1].mock) > 0);
    } else {
        // Each run is held to its own config's limits.
        QCOMPARE(results[0].summary.limits.rpm, std::optional<std::int64_t>(600));
        QCOMPARE(results[1].summary.limits.rpm, std::optional<std::int64_t>(300));
    }
    auto* throughput = m_panel->findChild<TimeChart*>(QStringLiteral("throughputChart"));
    QVERIFY(throughput->pointCount(0) > 0);
    QVERIFY(throughput->pointCount(1) > 0);
    // Both runs drawn from their own zero, one over the other, not one after
    // the other on the clock: x is ms since each run's start.
    QVERIFY(throughput->elapsedAxis());
    for (int run = 0; run < 2; ++run) {
        const QList<QPointF> points = throughput->points(run);
        QVERIFY2(points.front().x() >= 1000 && points.front().x() <= 2000, qPrintable(QString::number(points.front().x())));
        QVERIFY2(points.back().x() <= 10'000, qPrintable(QString::number(points.back().x())));
    }
}

void TestLoadTestPanel::badWorkloadIsReportedByName()
{
    const QString path = writeFile(QStringLiteral("broken.json"), R"({"duration_s": 1, "arrival": {"process": "sometimes"}})");
    m_panel->setWorkloadFile(path);
    QTest::mouseClick(m_panel->findChild<QPushButton*>(QStringLiteral("start")), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(m_panel->runner().progress().phase, RunnerPhase::Failed, kRunTimeoutMs);
    auto* status = m_panel->findChild<QLabel*>(QStringLiteral("status"));
    QTRY_VERIFY(status->text().contains(QStringLiteral("broken.json")));
    QVERIFY2(status->text().contains(QStringLiteral("/arrival/process")), qPrintable(status->text()));
    QVERIFY(m_panel->runner().results().empty());
    QTRY_VERIFY(m_panel->findChild<QPushButton*>(QStringLiteral("start"))->isEnabled());
}

void TestLoadTestPanel::builtInWorkloadsLoad()
{
    const std::vector<BuiltInWorkload> all = builtInWorkloads();
    QVERIFY(all.size() >= 7);
    auto* box = m_panel->findChild<QComboBox*>(QStringLiteral("workload"));
    QCOMPARE(box->count(), static_cast<int>(all.size()));
    for (const BuiltInWorkload& w : all) {
        // Every example parses, a replay's recorded file included.
        const loadtest::Workload loaded = builtInLoader(w.file)();
        QVERIFY2(!loaded.name.empty(), qPrintable(w.file));
        if (w.file.startsWith(QStringLiteral("replay"))) {
            QVERIFY2(loaded.replay && !loaded.replay->entries.empty(), qPrintable(w.file));
        }
    }
}

QTEST_MAIN(TestLoadTestPanel)
void TestLoadTestPanel::pipelineRowsReadTheirRuns()
{
    // The rows that join several figures into one cell, for runs with
    // pipelines (a cell once came back as a string builder over temporaries).
    std::vector<loadtest::LoadTestSummary> runs(2);
    runs[0].pipelinesStarted = 12;
    runs[0].pipelinesCompleted = 11;
    runs[0].pipelinesFailed = 1;
    runs[1].pipelinesStarted = 12;
    runs[1].pipelinesCompleted = 1234;
    runs[1].pipelinesFailed = 0;
    QStringList cells;
    for (const SummaryRow& row : summaryRows(runs)) {
        if (row.key == QStringLiteral("pipelines")) {
            cells = row.cells;
        }
    }
    QCOMPARE(cells, (QStringList{QStringLiteral("11 / 1"), QStringLiteral("1,234 / 0")}));
}

#include "tst_loadtest_panel.moc"
