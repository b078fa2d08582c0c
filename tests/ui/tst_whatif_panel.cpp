// The "What if?" tab through real widgets offscreen, over a real workspace
// whose database holds a recorded history (per-minute rollups written into
// its SQLite file): the proposed configuration starts as the workspace's
// own; removing a key and halving the limit, then Run, replays the history
// on a worker thread and shows recorded and simulated side by side (the
// table and the chart); a recorded-requests file replays the same way; a
// broken proposed configuration is reported by name, nothing runs.
#include "console_fixture.h"
#include "time_chart.h"
#include "whatif_panel.h"

#include "metrics/rollup_store.h"

#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QtTest>

#include <fstream>

using namespace sluice;
using namespace sluice::uitest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int kTimeoutMs = 60'000;

// The test workspace without its demo traffic: only the history written
// here is in its database.
host::WorkspaceConfig quietWorkspace()
{
    auto doc = json::parse(testWorkspace().text());
    doc["demo"] = false;
    return host::WorkspaceConfig::parse("test.json", doc.dump(2));
}

// Five recent minutes at 600 requests a minute on key team-a.
void writeHistory(const std::filesystem::path& database)
{
    metrics::RollupStore store(database);
    const WallTime now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    const WallTime first = std::chrono::floor<std::chrono::minutes>(now) - 10min;
    std::vector<metrics::RollupRow> rows;
    for (int m = 0; m < 5; ++m) {
        metrics::RollupRow row;
        row.minute = first + std::chrono::minutes(m);
        row.provider = "openai";
        row.key = "team-a";
        row.model = "gpt-4o-mini";
        row.tally.sent = 600;
        row.tally.completed = 600;
        row.tally.inputTokens = 600 * 60;
        row.tally.outputTokens = 600 * 20;
        row.tally.estimatedOutputTokens = 600 * 40;
        row.tally.spendMicroUsd = 2000;
        row.tally.latency.add(300ms);
        rows.push_back(row);
    }
    store.addRollups(rows);
}

// The workspace's configuration with key team-b removed and the model's
// RPM halved.
QString oneKeyHalved(const json& config)
{
    json c = config;
    auto& keys = c["providers"][0]["keys"];
    keys.erase(std::remove_if(keys.begin(), keys.end(), [](const json& k) { return k["name"] == "team-b"; }), keys.end());
    c["providers"][0]["models"]["gpt-4o-mini"]["limits"]["rpm"] = 300;
    return QString::fromStdString(c.dump(2));
}

}  // namespace

class TestWhatIfPanel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void replaysTheWorkspaceHistory();
    void replaysARecordedFile();
    void brokenProposalIsReported();
};

void TestWhatIfPanel::replaysTheWorkspaceHistory()
{
    Console console;
    ui::OpenRequest request;
    request.create = quietWorkspace();
    QString error = console.open(std::move(request));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    writeHistory(console.host().databasePath());

    auto* panel = console.showPanel<ui::WhatIfPanel>(QStringLiteral("whatIfPanel"));
    QVERIFY(panel != nullptr);
    // The proposal starts as the workspace's configuration.
    QVERIFY(panel->proposedConfigText().contains(QStringLiteral("team-b")));
    panel->setProposedConfigText(oneKeyHalved(console.session().workspace().config()));
    auto* run = panel->findChild<QPushButton*>(QStringLiteral("whatifRun"));
    QTest::mouseClick(run, Qt::LeftButton);
    // The replay is on a worker: the GUI goes on, with Run disabled.
    QVERIFY(panel->running());
    QVERIFY(!run->isEnabled());
    QVERIFY(panel->findChild<QPushButton*>(QStringLiteral("whatifCancel"))->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(!panel->running() && panel->result().has_value(), kTimeoutMs);

    const simulate::Comparison& c = *panel->result();
    QCOMPARE(c.recorded.requests, std::int64_t{3000});
    QCOMPARE(c.simulated.completed, std::int64_t{3000});
    QCOMPARE(panel->cell(QStringLiteral("requests"), 0), QStringLiteral("3,000"));
    QCOMPARE(panel->cell(QStringLiteral("completed"), 1), QStringLiteral("3,000"));
    // One key at 300/min for 600/min of traffic: paced, no 429, and the
    // queue grows to 5 minutes' worth: the last wait ~5 min.
    QCOMPARE(panel->cell(QStringLiteral("rate_limited"), 1), QStringLiteral("0"));
    QVERIFY(c.simulated.waitP95 && *c.simulated.waitP95 > 200s);
    QCOMPARE(panel->cell(QStringLiteral("wait_p95"), 0), QStringLiteral("–"));  // rollups record no waits
    QVERIFY(c.simulated.throughputPerMinute() < 310);
    auto* chart = panel->findChild<ui::TimeChart*>(QStringLiteral("whatifChart"));
    QVERIFY(chart->pointCount(0) >= 5);
    QVERIFY(chart->pointCount(1) >= 10);  // the backlog runs past the window
    QVERIFY(chart->maxValue(0) >= 599);
    // 300 a minute, plus the first second's burst of a full bucket.
    QVERIFY2(chart->maxValue(1) <= 310, qPrintable(QString::number(chart->maxValue(1))));
    QVERIFY(run->isEnabled());
}

void TestWhatIfPanel::replaysARecordedFile()
{
    Console console;
    ui::OpenRequest request;
    request.create = quietWorkspace();
    QString error = console.open(std::move(request));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("recorded.jsonl"));
    {
        std::ofstream out(path.toStdString());
        for (int i = 0; i < 600; ++i) {
            out << R"({"at_ms": )" << 1767225600000 + i * 100
                << R"(, "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 40, "output_tokens": 10, "wait_ms": 1})"
                << "\n";
        }
    }
    auto* panel = console.showPanel<ui::WhatIfPanel>(QStringLiteral("whatIfPanel"));
    panel->setRecordedFile(path);
    QSignalSpy done(panel, &ui::WhatIfPanel::finished);
    panel->run();
    QVERIFY(done.wait(kTimeoutMs));
    QVERIFY(panel->result().has_value());
    // 10/s against two keys of 600/min: nothing waits, nothing is refused.
    QCOMPARE(panel->cell(QStringLiteral("completed"), 1), QStringLiteral("600"));
    QCOMPARE(panel->cell(QStringLiteral("rate_limited"), 1), QStringLiteral("0"));
    QVERIFY(*panel->result()->simulated.waitP95 < 1s);
    QCOMPARE(panel->cell(QStringLiteral("wait_p50"), 0), QStringLiteral("1 ms"));
}

void TestWhatIfPanel::brokenProposalIsReported()
{
    Console console;
    ui::OpenRequest request;
    request.create = quietWorkspace();
    QString error = console.open(std::move(request));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    writeHistory(console.host().databasePath());
    auto* panel = console.showPanel<ui::WhatIfPanel>(QStringLiteral("whatIfPanel"));
    panel->setProposedConfigText(QStringLiteral("{\"providers\": [{\"name\": \"openai\"}]}"));
    QSignalSpy done(panel, &ui::WhatIfPanel::finished);
    panel->run();
    QVERIFY(done.wait(kTimeoutMs));
    QVERIFY(!panel->result().has_value());
    const QString status = panel->findChild<QLabel*>(QStringLiteral("whatifStatus"))->text();
    QVERIFY2(status.contains(QStringLiteral("proposed configuration")), qPrintable(status));
    QVERIFY(panel->cell(QStringLiteral("completed"), 1).isEmpty());
}

QTEST_MAIN(TestWhatIfPanel)
#include "tst_whatif_panel.moc"
