// The console's first start and its dashboard: with no workspace to reopen
// the window shows the first-run page, and "Try the demo" opens the demo,
// whose dashboard charts fill with live data; the dashboard pulls from the
// engine only while it is on screen.
#include "console_fixture.h"
#include "dashboard_panel.h"
#include "first_run_page.h"
#include "queue_panel.h"
#include "time_chart.h"

#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QtTest>

using namespace sluice;
using namespace sluice::uitest;

namespace {

constexpr int kTimeoutMs = 20'000;

}  // namespace

class TestConsoleFirstRun : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void demoFromFirstRun();
    void dashboardRefreshesOnlyWhenShown();
};

void TestConsoleFirstRun::demoFromFirstRun()
{
    Console console;
    QVERIFY2(console.setupError().isEmpty(), qPrintable(console.setupError()));
    ui::MainWindow& window = console.window();
    // A fresh data directory and settings: nothing to reopen.
    QVERIFY(!window.lastWorkspace().has_value());
    window.showFirstRun();
    auto* page = window.findChild<ui::FirstRunPage*>(QStringLiteral("firstRunPage"));
    QVERIFY(page != nullptr);
    QVERIFY(page->isVisible());
    QVERIFY(!window.tabs()->isVisible());

    QSignalSpy opened(&window, &ui::MainWindow::sessionOpened);
    QSignalSpy failed(&window, &ui::MainWindow::openFailed);
    auto* demo = page->findChild<QPushButton*>(QStringLiteral("tryDemo"));
    QVERIFY(demo != nullptr);
    QTest::mouseClick(demo, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(opened.count() > 0 || failed.count() > 0, kTimeoutMs);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.at(0).at(0).toString()));
    QVERIFY(window.session() != nullptr);
    QVERIFY(window.session()->isDemo());
    QCOMPARE(window.session()->name(), QStringLiteral("demo"));
    QVERIFY(!window.session()->host().mockUrl().empty());
    QVERIFY(!page->isVisible());
    QCOMPARE(window.lastWorkspace().value_or(QString()), QStringLiteral("demo"));

    // The dashboard is the first tab; its charts get live data.
    auto* dashboard = qobject_cast<ui::DashboardPanel*>(window.tabs()->currentWidget());
    QVERIFY(dashboard != nullptr);
    QVERIFY(dashboard->isVisible());
    ui::TimeChart* requests = dashboard->chart(QStringLiteral("requestsChart"));
    QVERIFY(requests != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(requests->pointCount(0) > 0 && requests->maxValue(0) > 0, kTimeoutMs);
    ui::TimeChart* latency = dashboard->chart(QStringLiteral("latencyChart"));
    QVERIFY(latency != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(latency->pointCount(0) > 0 && latency->maxValue(0) > 0, kTimeoutMs);
}

void TestConsoleFirstRun::dashboardRefreshesOnlyWhenShown()
{
    Console console;
    const QString error = console.openSteady(30);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host::EngineHost& host = console.host();

    auto* dashboard = console.showPanel<ui::DashboardPanel>(QStringLiteral("dashboardPanel"));
    QVERIFY(dashboard != nullptr);
    auto* sent = dashboard->findChild<QLabel*>(QStringLiteral("tileSent"));
    QVERIFY(sent != nullptr);
    QVERIFY(dashboard->isVisible());
    QVERIFY(dashboard->refreshing());
    QTRY_VERIFY_WITH_TIMEOUT(host.status().dispatch.attempts >= 10 && sent->text() != QStringLiteral("–") &&
                                 sent->text() != QStringLiteral("0"),
                             kTimeoutMs);

    // Another tab: the dashboard stops pulling, so its figures stand still
    // while the engine goes on.
    QVERIFY(console.showPanel<ui::QueuePanel>(QStringLiteral("queuePanel")) != nullptr);
    QVERIFY(!dashboard->isVisible());
    QVERIFY(!dashboard->refreshing());
    const QString frozen = sent->text();
    const std::uint64_t attempts = host.status().dispatch.attempts;
    QTRY_VERIFY_WITH_TIMEOUT(host.status().dispatch.attempts >= attempts + 30, kTimeoutMs);
    QCOMPARE(sent->text(), frozen);

    // Shown and hidden again before the event loop ran (a quick flick
    // through the tabs): the refresh a show asks for must not run hidden.
    console.showPanel<ui::DashboardPanel>(QStringLiteral("dashboardPanel"));
    console.showPanel<ui::QueuePanel>(QStringLiteral("queuePanel"));
    QVERIFY(!dashboard->isVisible());
    QVERIFY(!dashboard->refreshing());
    const std::uint64_t attemptsAfterFlick = host.status().dispatch.attempts;
    QTRY_VERIFY_WITH_TIMEOUT(host.status().dispatch.attempts >= attemptsAfterFlick + 30, kTimeoutMs);
    QCOMPARE(sent->text(), frozen);

    // Back on screen: it refreshes at once and keeps refreshing.
    QVERIFY(console.showPanel<ui::DashboardPanel>(QStringLiteral("dashboardPanel")) != nullptr);
    QVERIFY(dashboard->isVisible());
    QVERIFY(dashboard->refreshing());
    QTRY_VERIFY_WITH_TIMEOUT(sent->text() != frozen, kTimeoutMs);
}

QTEST_MAIN(TestConsoleFirstRun)
#include "tst_console_first_run.moc"
