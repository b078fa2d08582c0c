// The report export dialog, driven through its real widgets (offscreen)
// from the console's menu: a demo workspace runs traffic against its
// embedded mock, then "Export usage report…" writes a CSV whose request
// count equals what the engine sent and what the mock received; a bad
// output path gives an error naming it and leaves no file.
#include "console_session.h"
#include "key_vault.h"
#include "main_window.h"
#include "report_dialog.h"
#include "support/http_client.h"

#include <QAction>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

using namespace sluice;
using namespace sluice::ui;

namespace {

constexpr int kTimeoutMs = 30'000;

// The demo's provider, answering in milliseconds and without injected
// faults, so the test's traffic takes a second or two.
mock::MockConfig fastDemoMock()
{
    mock::MockConfig m = host::demoMockConfig();
    m.latency.baseMs = 5;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 5;
    m.faults = mock::FaultRates{};
    return m;
}

// Sums a column of an RFC 4180 file whose fields hold no quotes or commas
// (the grouping columns here are names like "openai" and "gpt-4o-mini").
std::int64_t sumColumn(const QString& csv, const QString& column, int* rows)
{
    const QStringList lines = csv.split(QStringLiteral("\r\n"), Qt::SkipEmptyParts);
    if (lines.isEmpty()) {
        return -1;
    }
    const int index = static_cast<int>(lines[0].split(QLatin1Char(',')).indexOf(column));
    if (index < 0) {
        return -1;
    }
    std::int64_t sum = 0;
    for (qsizetype i = 1; i < lines.size(); ++i) {
        sum += lines[i].split(QLatin1Char(','))[index].toLongLong();
    }
    *rows = static_cast<int>(lines.size() - 1);
    return sum;
}

}  // namespace

class TestReportDialog : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void menuOpensTheDialogAndTheLoadTestTabIsThere();
    void csvCountsEqualWhatTheEngineSent();
    void badOutputPathGivesAnErrorAndNoFile();

private:
    ReportDialog* openDialog();

    QTemporaryDir m_dir;
    std::unique_ptr<QSettings> m_settings;
    std::unique_ptr<KeyVault> m_vault;
    std::unique_ptr<MainWindow> m_window;
};

void TestReportDialog::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(m_dir.isValid());
    m_settings = std::make_unique<QSettings>(m_dir.filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
    m_vault = std::make_unique<KeyVault>();
    m_window = std::make_unique<MainWindow>(*m_vault, *m_settings, m_dir.path());
    auto* action = m_window->findChild<QAction*>(QStringLiteral("exportReport"));
    QVERIFY(action);
    QVERIFY(!action->isEnabled());  // no workspace yet

    QSignalSpy opened(m_window.get(), &MainWindow::sessionOpened);
    OpenRequest request;
    request.name = QStringLiteral("demo");
    request.demo = true;
    request.mock = fastDemoMock();
    host::DemoWorkloadOptions workload;
    workload.rate = 40;
    workload.invalidEvery = 0;
    request.workload = workload;
    m_window->openWorkspace(std::move(request));
    QVERIFY(opened.wait(kTimeoutMs));
    m_window->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));
}

void TestReportDialog::cleanupTestCase()
{
    m_window.reset();
}

ReportDialog* TestReportDialog::openDialog()
{
    auto* action = m_window->findChild<QAction*>(QStringLiteral("exportReport"));
    if (action == nullptr || !action->isEnabled()) {
        return nullptr;
    }
    action->trigger();
    // A dialog closed earlier may not be deleted yet: the one shown is ours.
    for (ReportDialog* dialog : m_window->findChildren<ReportDialog*>(QStringLiteral("reportDialog"))) {
        if (dialog->isVisible()) {
            return dialog;
        }
    }
    return nullptr;
}

void TestReportDialog::menuOpensTheDialogAndTheLoadTestTabIsThere()
{
    QTabWidget* tabs = m_window->tabs();
    QStringList names;
    for (int i = 0; i < tabs->count(); ++i) {
        names << tabs->tabText(i);
    }
    QVERIFY2(names.contains(QStringLiteral("Load test")), qPrintable(names.join(QStringLiteral(", "))));
    ReportDialog* dialog = openDialog();
    QVERIFY(dialog);
    QVERIFY(dialog->findChild<QLineEdit*>(QStringLiteral("output")));
    // The default range ends after now, so a run just made is in it.
    const ReportRequest r = dialog->request();
    QVERIFY(r.to > std::chrono::system_clock::now());
    QVERIFY(r.from < r.to);
    dialog->close();  // deletes itself
    QTRY_VERIFY(m_window->findChild<ReportDialog*>(QStringLiteral("reportDialog")) == nullptr);
}

void TestReportDialog::csvCountsEqualWhatTheEngineSent()
{
    host::EngineHost& host = m_window->session()->host();
    QTRY_VERIFY_WITH_TIMEOUT(host.status().dispatch.completed >= 20, kTimeoutMs);
    // Nothing new is sent; what is in flight finishes. Then the engine's,
    // the mock's and the report's counts hold still and must agree.
    m_window->session()->pause();
    QTRY_VERIFY_WITH_TIMEOUT(host.status().dispatch.paused && host.status().dispatch.inFlight == 0, kTimeoutMs);
    const DispatcherStats sent = host.status().dispatch;
    test::HttpClient client(host.mockUrl());
    const test::HttpResponse stats = client.get("/mock/stats");
    QCOMPARE(stats.status, 200L);
    const auto mockStats = nlohmann::json::parse(stats.body);
    QCOMPARE(mockStats["requests"].get<std::uint64_t>(), sent.attempts);

    ReportDialog* dialog = openDialog();
    QVERIFY(dialog);
    const QString path = m_dir.filePath(QStringLiteral("usage.csv"));
    dialog->setOutputPath(path);
    dialog->setGrouping(metrics::ReportGrouping::Key);
    dialog->setFormat(metrics::ReportFormat::Csv);
    QSignalSpy exported(dialog, &ReportDialog::exported);
    QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("export")), Qt::LeftButton);
    QVERIFY(dialog->busy() || exported.count() == 1);
    QVERIFY(exported.count() == 1 || exported.wait(kTimeoutMs));
    QVERIFY2(exported.at(0).at(0).toBool(), qPrintable(exported.at(0).at(1).toString()));
    QVERIFY(dialog->findChild<QLabel*>(QStringLiteral("status"))->text().contains(path));

    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QString csv = QString::fromUtf8(f.readAll());
    QVERIFY(csv.startsWith(QStringLiteral("provider,key,requests,")));
    int rows = 0;
    QCOMPARE(sumColumn(csv, QStringLiteral("requests"), &rows), static_cast<std::int64_t>(sent.attempts));
    QCOMPARE(sumColumn(csv, QStringLiteral("completed"), &rows), static_cast<std::int64_t>(sent.completed));
    QVERIFY(rows >= 2);  // the demo spreads its traffic over several keys
    // Key labels only: no key value reaches a report.
    QVERIFY(!csv.contains(QStringLiteral("sk-demo")));
    dialog->close();
    m_window->session()->resume();
}

void TestReportDialog::badOutputPathGivesAnErrorAndNoFile()
{
    ReportDialog* dialog = openDialog();
    QVERIFY(dialog);
    const QString missingDir = m_dir.filePath(QStringLiteral("no-such-dir"));
    const QString path = missingDir + QStringLiteral("/usage.csv");
    dialog->setOutputPath(path);
    QSignalSpy exported(dialog, &ReportDialog::exported);
    QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("export")), Qt::LeftButton);
    QVERIFY(exported.count() == 1 || exported.wait(kTimeoutMs));
    QCOMPARE(exported.at(0).at(0).toBool(), false);
    const QString status = dialog->findChild<QLabel*>(QStringLiteral("status"))->text();
    QVERIFY2(status.contains(QStringLiteral("No report was written")), qPrintable(status));
    QVERIFY2(status.contains(missingDir), qPrintable(status));
    QVERIFY(!QFileInfo::exists(path));
    QVERIFY(!QFileInfo::exists(missingDir));
    // The export button is usable again, and an empty path is refused at once.
    QVERIFY(dialog->findChild<QPushButton*>(QStringLiteral("export"))->isEnabled());
    dialog->setOutputPath(QString());
    QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("export")), Qt::LeftButton);
    QCOMPARE(exported.count(), 2);
    QCOMPARE(exported.at(1).at(0).toBool(), false);
    dialog->close();
}

QTEST_MAIN(TestReportDialog)
#include "tst_report_dialog.moc"
