// Workspaces are never overwritten and queued jobs never sent somewhere new
// by surprise (issue 13, item 2), through the real console offscreen over
// real workspace files and the embedded mock:
// - New workspace… with an existing workspace's name is refused; its file
//   and its queue are left as they were;
// - a pause is saved: reopening the workspace starts paused and sends
//   nothing;
// - jobs queued under one provider configuration are held when the
//   workspace reopens with that provider pointing elsewhere: a banner, and
//   nothing sent until the operator sends them on or discards them;
// - Workspace → Open… lists the workspaces and opens the one chosen;
// - `sluice --workspace NAME` for a name that does not exist says so and
//   exits non-zero, creating nothing.
#include "console_fixture.h"
#include "first_run_page.h"
#include "open_workspace_dialog.h"

#include <QAction>
#include <QDialogButtonBox>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProcess>
#include <QPushButton>
#include <QRadioButton>
#include <QSignalSpy>
#include <QtTest>

#include <fstream>

using namespace sluice;
using namespace sluice::uitest;

namespace {

constexpr int kTimeoutMs = 20'000;

// Jobs in the workspace's store not yet done: what a restart would send.
std::int64_t queuedInStore(host::EngineHost& host)
{
    const store::Counts c = host.store().counts();
    return c.pending + c.leased;
}

std::int64_t mockRequests(const std::string& mockUrl)
{
    const nlohmann::json stats = mockStats(mockUrl);
    return stats.is_object() ? stats.value("requests", std::int64_t{-1}) : -1;
}

bool writeText(const std::filesystem::path& file, const std::string& text)
{
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    return static_cast<bool>(out);
}

}  // namespace

class TestConsoleWorkspaces : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void newWorkspaceNeverReplacesAnExistingOne();
    void pauseSurvivesARestart();
    void jobsQueuedForAnotherProviderAreHeld_data();
    void jobsQueuedForAnotherProviderAreHeld();
    void openListsTheWorkspaces();
    void unknownWorkspaceOnTheCommandLineIsAnError();

private:
    // Opens the test workspace queueing steadily but paused, so jobs pile up
    // in its store, then closes the console; the workspace stays with
    // queued jobs.
    void leaveQueuedJobs(Console& console);
};

void TestConsoleWorkspaces::newWorkspaceNeverReplacesAnExistingOne()
{
    Console console;
    QString error = console.openSteady(20);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const std::string before = readFile(console.workspaceFile());
    QVERIFY(!before.empty());

    ui::MainWindow& window = console.window();
    auto* action = window.findChild<QAction*>(QStringLiteral("newWorkspaceAction"));
    QVERIFY(action != nullptr);
    action->trigger();
    auto* page = window.findChild<ui::FirstRunPage*>(QStringLiteral("firstRunPage"));
    QVERIFY(page != nullptr && page->isVisible());
    qputenv("SLUICE_TEST_NEW_KEY", "sk-real-looking-key");
    page->findChild<QLineEdit*>(QStringLiteral("workspaceName"))->setText(QStringLiteral("test"));
    page->findChild<QLineEdit*>(QStringLiteral("providerName"))->setText(QStringLiteral("openai"));
    page->findChild<QLineEdit*>(QStringLiteral("baseUrl"))->setText(QStringLiteral("https://api.openai.example"));
    page->findChild<QLineEdit*>(QStringLiteral("keyName"))->setText(QStringLiteral("prod"));
    const auto radios = page->findChildren<QRadioButton*>();
    for (QRadioButton* r : radios) {
        if (r->objectName() == QStringLiteral("useEnv")) {
            r->setChecked(true);
        }
    }
    page->findChild<QLineEdit*>(QStringLiteral("envVar"))->setText(QStringLiteral("SLUICE_TEST_NEW_KEY"));

    QSignalSpy opened(&window, &ui::MainWindow::sessionOpened);
    QSignalSpy failed(&window, &ui::MainWindow::openFailed);
    QTest::mouseClick(page->findChild<QPushButton*>(QStringLiteral("connect")), Qt::LeftButton);
    auto* note = page->findChild<QLabel*>(QStringLiteral("error"));
    QTRY_VERIFY_WITH_TIMEOUT(note->text().contains(QStringLiteral("exists already")), kTimeoutMs);
    QVERIFY2(note->text().contains(QStringLiteral("\"test\"")), qPrintable(note->text()));
    // Give a wrongly started open the time to write: nothing may change.
    QTest::qWait(300);
    QCOMPARE(opened.count(), 0);
    QCOMPARE(readFile(console.workspaceFile()), before);

    // The same refusal when asked directly, as a program would.
    ui::OpenRequest again;
    again.create = host::WorkspaceConfig::connect("openai", ApiFlavor::OpenAI, "https://api.openai.example", "prod",
                                                  "SLUICE_TEST_NEW_KEY");
    error = console.open(std::move(again));
    QVERIFY2(error.contains(QStringLiteral("exists already")), qPrintable(error));
    QCOMPARE(readFile(console.workspaceFile()), before);
}

void TestConsoleWorkspaces::leaveQueuedJobs(Console& console)
{
    QString error = console.openSteady(40);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    console.session().pause();
    QTRY_VERIFY_WITH_TIMEOUT(pausedAndIdle(console.host()), kTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(queuedInStore(console.host()) >= 10, kTimeoutMs);
    // What the pause wrote reaches the file (the store's worker writes it).
    QTRY_VERIFY_WITH_TIMEOUT(readFile(console.workspaceFile()).find("\"paused\": true") != std::string::npos,
                             kTimeoutMs);
}

void TestConsoleWorkspaces::pauseSurvivesARestart()
{
    Console console;
    leaveQueuedJobs(console);
    if (QTest::currentTestFailed()) {
        return;
    }
    // A restart: the same workspace, opened as `sluice` opens the last one.
    ui::OpenRequest request;
    request.workload = steadyWorkload(40);
    const QString error = console.reopen(std::move(request));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    host::EngineHost& host = console.host();
    QVERIFY(console.session().paused());
    QTRY_VERIFY_WITH_TIMEOUT(host.status().dispatch.paused, kTimeoutMs);
    QVERIFY(queuedInStore(host) > 0);
    // A second of a running engine: still nothing sent.
    QTest::qWait(1000);
    QCOMPARE(mockRequests(host.mockUrl()), std::int64_t{0});
    QCOMPARE(keySent(host, "openai", "team-a") + keySent(host, "openai", "team-b"), std::uint64_t{0});

    // Resuming is the operator's call, and is saved too.
    console.session().resume();
    QTRY_VERIFY_WITH_TIMEOUT(keySent(host, "openai", "team-a") + keySent(host, "openai", "team-b") > 0, kTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(readFile(console.workspaceFile()).find("\"paused\"") == std::string::npos, kTimeoutMs);
}

void TestConsoleWorkspaces::jobsQueuedForAnotherProviderAreHeld_data()
{
    QTest::addColumn<QString>("choice");
    QTest::newRow("send") << QStringLiteral("sendHeld");
    QTest::newRow("discard") << QStringLiteral("discardHeld");
}

void TestConsoleWorkspaces::jobsQueuedForAnotherProviderAreHeld()
{
    QFETCH(QString, choice);
    Console console;
    leaveQueuedJobs(console);
    if (QTest::currentTestFailed()) {
        return;
    }
    const std::int64_t queuedBefore = queuedInStore(console.host());
    // The workspace's provider now points elsewhere (as when a new workspace
    // of the same name replaced its configuration), and is not paused: only
    // the queue's record can stop the old jobs going to the new place.
    auto doc = nlohmann::json::parse(readFile(console.workspaceFile()));
    doc["config"]["providers"][0]["base_url"] = "https://api.openai.example";
    doc.erase("paused");
    // The open session writes its file only on a change, and the pause is
    // written already: the file may be edited under it, as another program
    // (or the old console) would.
    QVERIFY(writeText(console.workspaceFile(), doc.dump(2)));
    ui::OpenRequest request;
    request.workload = steadyWorkload(40);
    QString error = console.reopen(std::move(request));
    QVERIFY2(error.isEmpty(), qPrintable(error));

    ui::ConsoleSession& session = console.session();
    host::EngineHost& host = console.host();
    QVERIFY(!session.paused());
    QVERIFY(session.queueHeld());
    QVERIFY(host.status().queueHeld);
    auto* banner = console.window().findChild<QFrame*>(QStringLiteral("heldBanner"));
    QVERIFY(banner != nullptr);
    QVERIFY(banner->isVisible());
    const QString text = console.window().findChild<QLabel*>(QStringLiteral("heldText"))->text();
    QVERIFY2(text.contains(QStringLiteral("https://api.openai.example")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("http://127.0.0.1:0")), qPrintable(text));
    QTest::qWait(1000);
    QCOMPARE(mockRequests(host.mockUrl()), std::int64_t{0});
    QVERIFY(queuedInStore(host) >= queuedBefore);
    // One held job waiting for a retry an hour from now (as after a 429's
    // backoff): not ready, but held all the same, and discarded with the
    // rest rather than sent to the new provider when its time comes.
    const std::vector<store::Job> leased =
        host.store().lease(store::LeaseRequest{"test-backoff", 1, std::chrono::minutes(1), {}});
    QCOMPARE(leased.size(), std::size_t{1});
    const store::JobId waiting = leased.front().id;
    store::Retry backoff;
    backoff.id = waiting;
    backoff.owner = "test-backoff";
    backoff.attempt.errorClass = "rate_limited";
    backoff.attempt.httpStatus = 429;
    backoff.notBefore = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now() + std::chrono::hours(1));
    QVERIFY(host.store().retry(backoff));

    // "Keep them held" changes nothing.
    QTest::mouseClick(banner->findChild<QPushButton*>(QStringLiteral("keepHeld")), Qt::LeftButton);
    QVERIFY(session.queueHeld());
    QCOMPARE(mockRequests(host.mockUrl()), std::int64_t{0});

    QSignalSpy messages(&session, &ui::ConsoleSession::message);
    QTest::mouseClick(banner->findChild<QPushButton*>(choice), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!host.status().queueHeld, kTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(!banner->isVisible(), kTimeoutMs);
    if (choice == QStringLiteral("sendHeld")) {
        // The job waiting for its retry is sent when its time comes, an hour
        // from now: every other one is done.
        QTRY_VERIFY_WITH_TIMEOUT(host.store().counts().done >= queuedBefore - 1, kTimeoutMs);
    } else {
        // The job that was waiting for a retry too: dead, never sent.
        const std::optional<store::Job> job = host.store().job(waiting);
        QVERIFY(job.has_value());
        QCOMPARE(static_cast<int>(job->state), static_cast<int>(store::JobState::Dead));
        QVERIFY(!host.store().result(waiting).has_value());
        QCOMPARE(host.store().attempts(waiting).size(), std::size_t{2});
        // The count said counts every held job, the waiting one included.
        // (The banner hides just after the message is sent.)
        static const QRegularExpression kCount(QStringLiteral("^Discarded ([0-9,]+) held jobs"));
        QString said;
        QRegularExpressionMatch m;
        for (const QList<QVariant>& args : messages) {
            m = kCount.match(args.at(0).toString());
            if (m.hasMatch()) {
                said = args.at(0).toString();
                break;
            }
        }
        QVERIFY2(m.hasMatch(), "no \"Discarded N held jobs\" message");
        QVERIFY2(m.captured(1).remove(QLatin1Char(',')).toLongLong() >= queuedBefore, qPrintable(said));
        // Dead letters, not gone: each says why, and can be requeued.
        QTRY_VERIFY_WITH_TIMEOUT(host.store().counts().dead >= queuedBefore, kTimeoutMs);
        const auto dead = host.store().deadLetters({}, 1);
        QVERIFY(!dead.empty());
    }
    // The next open asks nothing: the record now says where jobs go.
    QVERIFY(console.reopen(ui::OpenRequest{}).isEmpty());
    QVERIFY(!console.session().queueHeld());
}

void TestConsoleWorkspaces::openListsTheWorkspaces()
{
    Console console;
    QString error = console.openSteady(5);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    // A second workspace beside it.
    const auto other = host::workspacePaths("alpha", std::filesystem::path(console.dataHome().toStdString()));
    testWorkspace().save(other.settings);

    auto* action = console.window().findChild<QAction*>(QStringLiteral("openWorkspaceAction"));
    QVERIFY(action != nullptr);
    action->trigger();
    ui::OpenWorkspaceDialog* dialog = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((dialog = console.window().findChild<ui::OpenWorkspaceDialog*>(
                                  QStringLiteral("openWorkspaceDialog"))) != nullptr,
                             kTimeoutMs);
    auto* list = dialog->findChild<QListWidget*>(QStringLiteral("workspaceList"));
    QVERIFY(list != nullptr);
    QCOMPARE(list->count(), 2);
    QCOMPARE(list->item(0)->data(Qt::UserRole).toString(), QStringLiteral("alpha"));
    QCOMPARE(list->item(1)->data(Qt::UserRole).toString(), QStringLiteral("test"));
    list->setCurrentRow(0);
    QSignalSpy opened(&console.window(), &ui::MainWindow::sessionOpened);
    QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("open")), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(opened.count() > 0, kTimeoutMs);
    QCOMPARE(console.session().name(), QStringLiteral("alpha"));
}

void TestConsoleWorkspaces::unknownWorkspaceOnTheCommandLineIsAnError()
{
    QTemporaryDir home;
    QVERIFY(home.isValid());
    QProcess sluice;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    env.insert(QStringLiteral("XDG_DATA_HOME"), home.filePath(QStringLiteral("data")));
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), home.filePath(QStringLiteral("config")));
    env.insert(QStringLiteral("HOME"), home.path());
    sluice.setProcessEnvironment(env);
    sluice.start(QStringLiteral(SLUICE_APP_PATH), {QStringLiteral("--workspace"), QStringLiteral("nosuch")});
    QVERIFY(sluice.waitForStarted(kTimeoutMs));
    if (!sluice.waitForFinished(kTimeoutMs)) {
        sluice.kill();
        sluice.waitForFinished();
        QFAIL("sluice --workspace nosuch kept running (it opened something instead of refusing)");
    }
    QCOMPARE(sluice.exitStatus(), QProcess::NormalExit);
    QCOMPARE(sluice.exitCode(), 2);
    const QString err = QString::fromLocal8Bit(sluice.readAllStandardError());
    QVERIFY2(err.contains(QStringLiteral("no workspace \"nosuch\"")), qPrintable(err));
    QVERIFY(!QFileInfo::exists(home.filePath(QStringLiteral("data/sluice/nosuch.json"))));
    QVERIFY(!QFileInfo::exists(home.filePath(QStringLiteral("data/sluice/default.json"))));
}

QTEST_MAIN(TestConsoleWorkspaces)
#include "tst_console_workspaces.moc"
