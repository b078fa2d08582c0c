// What the console's views say agrees with what the engine did (issue 13,
// items 11 and 12), through real widgets offscreen over a real workspace
// and the embedded mock:
// - an empty chart's value axis has distinct, increasing ticks;
// - the dashboard draws a limit as it was at each moment (a step line);
// - the providers tab's requests/min for a burst-enforced limit is the
//   dashboard's rate, not the bucket's share at one instant;
// - a disabled key shows "disabled", no usage or headroom; a lane's waiting
//   reason shows on the key it names, not on every key;
// - "spend today" survives a restart on the same day;
// - the load-test tab never makes the window taller than the screen;
// - a load test naming a model no provider serves is refused by name.
#include "console_fixture.h"
#include "dashboard_panel.h"
#include "dashboard_data.h"
#include "format.h"
#include "limits_panel.h"
#include "loadtest_panel.h"
#include "scope_tree_model.h"
#include "time_chart.h"

#include <QLabel>
#include <QPushButton>
#include <QRegularExpression>
#include <QScreen>
#include <QTreeView>
#include <QtTest>

#include <fstream>
#include <set>

using namespace sluice;
using namespace sluice::uitest;

namespace {

constexpr int kTimeoutMs = 20'000;

const QString kProvider = QStringLiteral("openai");
const QString kModel = QStringLiteral("gpt-4o-mini");

// The test workspace with the model's limits enforced per second, as real
// providers do (600/min as 10 a second).
host::WorkspaceConfig burstWorkspace()
{
    auto doc = nlohmann::json::parse(testWorkspace().text());
    doc["config"]["providers"][0]["models"]["gpt-4o-mini"]["limits"]["granularity_s"] = 1;
    return host::WorkspaceConfig::parse("test.json", doc.dump(2));
}

QString cellText(const ui::ScopeTreeModel* model, const QString& key, const QString& m, int column)
{
    return model->find(kProvider, key, m).siblingAtColumn(column).data(Qt::DisplayRole).toString();
}

// The distinct y values of a limit line, in the order drawn.
std::vector<double> stepValues(const QList<QPointF>& points)
{
    std::vector<double> out;
    for (const QPointF& p : points) {
        if (out.empty() || out.back() != p.y()) {
            out.push_back(p.y());
        }
    }
    return out;
}

}  // namespace

class TestConsoleViews : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void emptyChartAxisHasDistinctTicks();
    void limitIsDrawnAsItWasAtEachTime();
    void requestsPerMinuteAgreesWithTheDashboard();
    void disabledKeyAndWaitingReasonShowWhereTheyBelong();
    void spendTodaySurvivesARestart();
    void loadTestTabFitsTheScreen();
    void loadTestRefusesAModelNoProviderServes();
};

void TestConsoleViews::emptyChartAxisHasDistinctTicks()
{
    ui::TimeChart chart(QStringLiteral("Requests"), QStringLiteral("requests/min"));
    chart.addSeries(QStringLiteral("sent"), Qt::blue);
    chart.resize(400, 300);
    chart.setTimeRange(0, 60'000);
    chart.rescale();
    const QStringList labels = chart.valueAxisLabels();
    QVERIFY2(labels.size() >= 2, qPrintable(labels.join(QStringLiteral(", "))));
    for (qsizetype i = 1; i < labels.size(); ++i) {
        QVERIFY2(labels[i].toDouble() > labels[i - 1].toDouble(), qPrintable(labels.join(QStringLiteral(", "))));
    }
}

void TestConsoleViews::limitIsDrawnAsItWasAtEachTime()
{
    Console console;
    QString error = console.openSteady(10);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    auto* dashboard = console.showPanel<ui::DashboardPanel>(QStringLiteral("dashboardPanel"));
    QVERIFY(dashboard != nullptr);
    ui::TimeChart* requests = dashboard->chart(QStringLiteral("requestsChart"));
    // Two keys of 600 RPM each.
    QTRY_VERIFY_WITH_TIMEOUT(stepValues(requests->limitPoints(0)) == std::vector<double>{2.0 * kModelRpm}, kTimeoutMs);
    // Some history under the first limit: its line spans more than a second.
    QTRY_VERIFY_WITH_TIMEOUT(requests->limitPoints(0).back().x() - requests->limitPoints(0).front().x() > 1000,
                             kTimeoutMs);

    ui::ConsoleSession& session = console.session();
    session.editLimit(LimitTarget{"openai", "", "gpt-4o-mini"}, host::LimitField::Rpm, 300);
    session.applyPendingEdits();
    // Before the edit 1,200 (as it was), after it 600: a step, not today's
    // value over the whole past.
    QTRY_VERIFY_WITH_TIMEOUT(stepValues(requests->limitPoints(0)) == (std::vector<double>{1200, 600}), kTimeoutMs);
    const QList<QPointF> points = requests->limitPoints(0);
    QVERIFY(points.front().x() < points.back().x());
}

void TestConsoleViews::requestsPerMinuteAgreesWithTheDashboard()
{
    Console console;
    ui::OpenRequest request;
    request.create = burstWorkspace();
    request.workload = steadyWorkload(8);  // 480/min over two keys
    QString error = console.open(std::move(request));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    auto* panel = console.showPanel<ui::LimitsPanel>(QStringLiteral("limitsPanel"));
    QVERIFY(panel != nullptr);
    auto* view = panel->findChild<QTreeView*>(QStringLiteral("scopeTree"));
    auto* model = qobject_cast<ui::ScopeTreeModel*>(view->model());
    QVERIFY(model != nullptr);
    static const QRegularExpression usedOfLimit(QStringLiteral("^([0-9,]+) / 600$"));
    const auto rateOf = [&](const QString& key) -> double {
        const auto m = usedOfLimit.match(cellText(model, key, kModel, ui::ScopeTreeModel::RpmColumn));
        return m.hasMatch() ? m.captured(1).remove(QLatin1Char(',')).toDouble() : -1;
    };
    // Once the dashboard's window (10 s) is full of steady traffic.
    QTRY_VERIFY2_WITH_TIMEOUT(rateOf(QStringLiteral("team-a")) > 0 && rateOf(QStringLiteral("team-b")) > 0,
                              qPrintable(cellText(model, QStringLiteral("team-a"), kModel, ui::ScopeTreeModel::RpmColumn)),
                              60'000);
    // The dashboard's figure, from the same recorder over the same window;
    // they agree once the window (10 s) holds steady traffic.
    host::EngineHost& host = console.host();
    const ui::TimeRange& range = ui::timeRanges()[0];
    double shown = 0;
    double dashboard = 0;
    const auto agree = [&] {
        shown = rateOf(QStringLiteral("team-a")) + rateOf(QStringLiteral("team-b"));
        const TimePoint now = host.clock().now();
        const auto points = host.metrics().series(metrics::ScopeKey::global(), range.width,
                                                  now - range.width * (range.window + 2), now + range.width);
        const auto rates = ui::recentRates(points, range);
        dashboard = rates ? rates->requests : -1;
        return dashboard > 60 && std::abs(shown - dashboard) <= 0.25 * dashboard;
    };
    QTRY_VERIFY2_WITH_TIMEOUT(agree(),
                              qPrintable(QStringLiteral("providers tab %1/min, dashboard %2/min").arg(shown).arg(dashboard)),
                              60'000);
}

void TestConsoleViews::disabledKeyAndWaitingReasonShowWhereTheyBelong()
{
    Console console;
    QString error = console.openSteady(20);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    ui::ConsoleSession& session = console.session();
    // Team-b carries nothing; team-a's model is slow: the lane waits on it.
    QVERIFY(session.setKeyEnabled(QStringLiteral("openai"), QStringLiteral("team-b"), false).isEmpty());
    session.editLimit(LimitTarget{"openai", "team-a", "gpt-4o-mini"}, host::LimitField::Rpm, 60);
    session.applyPendingEdits();

    auto* panel = console.showPanel<ui::LimitsPanel>(QStringLiteral("limitsPanel"));
    auto* view = panel->findChild<QTreeView*>(QStringLiteral("scopeTree"));
    auto* model = qobject_cast<ui::ScopeTreeModel*>(view->model());
    const QString a = QStringLiteral("team-a");
    const QString b = QStringLiteral("team-b");
    QTRY_VERIFY_WITH_TIMEOUT(cellText(model, a, kModel, ui::ScopeTreeModel::StateColumn).contains(QStringLiteral("waiting")),
                             kTimeoutMs);
    const QString reason = cellText(model, a, kModel, ui::ScopeTreeModel::StateColumn);
    QVERIFY2(reason.contains(QStringLiteral("team-a")), qPrintable(reason));
    QVERIFY2(!cellText(model, b, kModel, ui::ScopeTreeModel::StateColumn).contains(QStringLiteral("waiting")),
             qPrintable(cellText(model, b, kModel, ui::ScopeTreeModel::StateColumn)));
    // The lane's queue is the provider's, shown once there.
    QVERIFY(model->find(kProvider).siblingAtColumn(ui::ScopeTreeModel::StateColumn).data().toString().contains(kModel));

    // The disabled key: no usage, no headroom.
    QCOMPARE(cellText(model, b, {}, ui::ScopeTreeModel::HeadroomColumn), QStringLiteral("disabled"));
    QCOMPARE(cellText(model, b, kModel, ui::ScopeTreeModel::HeadroomColumn), QStringLiteral("disabled"));
    const QString rpm = cellText(model, b, kModel, ui::ScopeTreeModel::RpmColumn);
    QVERIFY2(rpm.startsWith(QStringLiteral("disabled")) && !rpm.contains(QLatin1Char('%')) && !rpm.contains(QLatin1Char('/')),
             qPrintable(rpm));
}

void TestConsoleViews::spendTodaySurvivesARestart()
{
    Console console;
    QString error = console.openSteady(20);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host::EngineHost* host = &console.host();
    QTRY_VERIFY_WITH_TIMEOUT(host->status().dispatch.spendMicroUsd > 0, kTimeoutMs);
    console.session().pause();
    QTRY_VERIFY_WITH_TIMEOUT(pausedAndIdle(*host), kTimeoutMs);
    const std::int64_t spent = host->spendTodayMicroUsd();
    QVERIFY(spent > 0);

    // A restart the same day: the rollups written at the stop are read back.
    ui::OpenRequest request;
    request.workload = steadyWorkload(20);
    error = console.reopen(std::move(request));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host = &console.host();
    QVERIFY(host->status().dispatch.spendMicroUsd == 0);  // a fresh engine, paused
    QCOMPARE(host->spendTodayMicroUsd(), spent);
    auto* dashboard = console.showPanel<ui::DashboardPanel>(QStringLiteral("dashboardPanel"));
    QVERIFY(dashboard != nullptr);
    auto* tile = dashboard->findChild<QLabel*>(QStringLiteral("tileSpend"));
    QTRY_COMPARE_WITH_TIMEOUT(tile->text(), ui::formatUsd(spent), kTimeoutMs);
}

void TestConsoleViews::loadTestTabFitsTheScreen()
{
    Console console;
    QString error = console.openSteady(5);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    ui::MainWindow& window = console.window();
    const int screenHeight = window.screen()->availableGeometry().height();
    window.resize(900, std::min(560, screenHeight));
    auto* panel = console.showPanel<ui::LoadTestPanel>(QStringLiteral("loadTestPanel"));
    QVERIFY(panel != nullptr);
    QVERIFY(panel->isVisible());
    QTest::qWait(200);
    QVERIFY2(window.height() <= screenHeight,
             qPrintable(QStringLiteral("window %1 px tall on a %2 px screen").arg(window.height()).arg(screenHeight)));
    // The panel asks for little height of its own: what does not fit
    // scrolls, so it can neither push the window past the screen nor keep
    // it grown after leaving the tab.
    QVERIFY2(panel->minimumSizeHint().height() <= 360,
             qPrintable(QStringLiteral("the load-test tab needs %1 px").arg(panel->minimumSizeHint().height())));
    QVERIFY2(window.minimumSizeHint().height() <= screenHeight,
             qPrintable(QStringLiteral("window needs %1 px on a %2 px screen")
                            .arg(window.minimumSizeHint().height())
                            .arg(screenHeight)));
}

void TestConsoleViews::loadTestRefusesAModelNoProviderServes()
{
    Console console;
    // One Anthropic provider that lists no models (as "Connect a provider"
    // makes it), on the embedded mock.
    const nlohmann::json doc = {
        {"sluice_workspace", 1},
        {"demo", true},
        {"config",
         {{"providers", nlohmann::json::array({{{"name", "anthropic"},
                                                {"flavor", "anthropic"},
                                                {"base_url", "https://api.anthropic.com"},
                                                {"keys", nlohmann::json::array({{{"name", "main"},
                                                                                 {"env", "SLUICE_DEMO_KEY_ANTHROPIC"}}})}}})}}}};
    ui::OpenRequest request;
    request.create = host::WorkspaceConfig::parse("test.json", doc.dump(2));
    request.workload = steadyWorkload(1);
    QString error = console.open(std::move(request));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QString file = console.dataHome() + QStringLiteral("/openai-model.json");
    {
        std::ofstream out(file.toStdString());
        out << R"({"name": "wrong model", "duration_s": 2, "seed": 1, "arrival": {"process": "constant", "rate": 5},
                   "mix": {"models": ["gpt-4o-mini"], "prompt_tokens": 40, "max_tokens": 16}})";
    }
    auto* panel = console.showPanel<ui::LoadTestPanel>(QStringLiteral("loadTestPanel"));
    QVERIFY(panel != nullptr);
    panel->setWorkloadFile(file);
    QTest::mouseClick(panel->findChild<QPushButton*>(QStringLiteral("start")), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->runner().busy(), kTimeoutMs);
    QCOMPARE(panel->runner().progress().phase, ui::RunnerPhase::Failed);
    QVERIFY(panel->runner().results().empty());
    const QString status = panel->findChild<QLabel*>(QStringLiteral("status"))->text();
    QVERIFY2(status.contains(QStringLiteral("\"gpt-4o-mini\"")), qPrintable(status));
}

QTEST_MAIN(TestConsoleViews)
#include "tst_console_views.moc"
