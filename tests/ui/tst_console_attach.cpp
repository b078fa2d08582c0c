// The console attached to a headless instance, driven as a user drives it:
// the test starts the real `sluice-cli mock` and `sluice-cli serve
// --control 127.0.0.1:0 --control-token-env …` processes on free ports,
// attaches through Workspace → Attach to instance… (address and token
// typed into the dialog), sends requests through the instance's gateway and
// sees the dashboard's numbers move, edits a limit in the limits panel and
// finds it in the instance's own status, and pauses, resumes and drains it
// from the queue panel. A wrong token is refused and leaves the console as it was.
// On the serve, a key's limit is edited too, a failed request is listed in
// the dead letters tab with requeue disabled and the reason in its tooltip,
// and a usage report is exported from the instance's rollups. A
// `sluice-cli worker --control` on a real redis-server gets its dead
// letters (in the namespace) edited and requeued from the tab, and drained
// from the queue panel it finishes and exits by itself.
#include "console_fixture.h"
#include "attach_dialog.h"
#include "dashboard_panel.h"
#include "dead_letter_panel.h"
#include "limits_panel.h"
#include "queue_panel.h"
#include "report_dialog.h"
#include "scope_tree_model.h"
#include "support/http_client.h"
#include "support/redis_server.h"

#include "control/control_client.h"
#include "shared/shared_queue.h"

#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTreeView>
#include <QtTest>

using namespace sluice;
using namespace sluice::uitest;
using nlohmann::json;

namespace {

constexpr int kTimeoutMs = 20'000;
const char* const kToken = "attach-test-token";

// A sluice-cli process, stopped (SIGTERM, then killed) when it goes.
class CliProcess {
public:
    CliProcess(const QStringList& args, const QProcessEnvironment& env)
    {
        m_process.setProgram(QStringLiteral(SLUICE_CLI_PATH));
        m_process.setArguments(args);
        m_process.setProcessEnvironment(env);
        m_process.start();
    }
    ~CliProcess()
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.terminate();
            if (!m_process.waitForFinished(10000)) {
                m_process.kill();
                m_process.waitForFinished(5000);
            }
        }
    }
    // The first capture of `pattern` in what the process wrote (stdout and
    // stderr), waiting for it; empty when it never came.
    QString waitFor(const QString& pattern)
    {
        const QRegularExpression re(pattern);
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < kTimeoutMs) {
            m_out += QString::fromUtf8(m_process.readAllStandardOutput());
            m_out += QString::fromUtf8(m_process.readAllStandardError());
            if (const auto m = re.match(m_out); m.hasMatch()) {
                return m.captured(1);
            }
            if (m_process.state() == QProcess::NotRunning) {
                return {};
            }
            m_process.waitForReadyRead(200);
        }
        return {};
    }
    QString output() const { return m_out; }
    // The exit status once it ends by itself, or -1.
    int waitExit()
    {
        if (!m_process.waitForFinished(kTimeoutMs)) {
            return -1;
        }
        m_out += QString::fromUtf8(m_process.readAllStandardOutput());
        m_out += QString::fromUtf8(m_process.readAllStandardError());
        return m_process.exitStatus() == QProcess::NormalExit ? m_process.exitCode() : -1;
    }

private:
    QProcess m_process;
    QString m_out;
};

json serveConfig(const QString& mockUrl)
{
    return {{"providers",
             json::array({{{"name", "mock-openai"},
                           {"flavor", "openai"},
                           {"base_url", mockUrl.toStdString()},
                           {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 600}, {"tpm", 200000}}}}}}},
                           {"keys", json::array({{{"name", "mock"}, {"env", "MOCK_API_KEY"}}})}}})},
            {"gateway", {{"listen", "127.0.0.1:0"}, {"hold_s", 5}}}};
}

// The request limit of a scope found by its path of names.
std::optional<std::int64_t> scopeRpm(control::ControlClient& client, const std::vector<std::string>& path)
{
    const control::ControlStatus s = client.status();
    std::optional<ScopeId> at;
    for (const ScopeState& sc : s.scopes) {
        if (sc.parent == kNoScope) {
            at = sc.id;
        }
    }
    for (const std::string& name : path) {
        std::optional<ScopeId> next;
        for (const ScopeState& sc : s.scopes) {
            if (at && sc.parent == *at && sc.name == name && !sc.removed) {
                next = sc.id;
            }
        }
        at = next;
    }
    for (const ScopeState& sc : s.scopes) {
        if (at && sc.id == *at) {
            for (const DimensionState& d : sc.dimensions) {
                if (d.spec.measure == Measure::Requests) {
                    return d.spec.limit;
                }
            }
        }
    }
    return std::nullopt;
}

// A limit cell of the limits panel edited in place: double-click, type, Return.
void editRpmCell(QTreeView* view, const QModelIndex& row, const QString& value)
{
    doubleClickCell(view, row.siblingAtColumn(ui::ScopeTreeModel::RpmColumn));
    auto* editor = view->findChild<QDoubleSpinBox*>(QStringLiteral("limitEditor"));
    QVERIFY2(editor != nullptr, "double-clicking a limit cell opens no editor");
    QTest::keyClick(editor, Qt::Key_A, Qt::ControlModifier);
    QTest::keyClicks(editor, value);
    QTest::keyClick(editor, Qt::Key_Return);
}

test::HttpResponse postCompletion(const QString& gatewayUrl, int maxTokens)
{
    test::HttpClient http(gatewayUrl.toStdString());
    return http.post("/v1/chat/completions",
                     json{{"model", "gpt-4o-mini"},
                          {"max_tokens", maxTokens},
                          {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}}
                         .dump(),
                     {{"Content-Type", "application/json"}});
}

std::optional<std::int64_t> instanceRpm(control::ControlClient& client)
{
    const control::ControlStatus s = client.status();
    // provider → key → model scopes, by name.
    std::optional<ScopeId> provider;
    std::optional<ScopeId> key;
    for (const ScopeState& sc : s.scopes) {
        if (sc.name == "mock-openai") {
            provider = sc.id;
        }
    }
    for (const ScopeState& sc : s.scopes) {
        if (provider && sc.parent == *provider && sc.name == "mock") {
            key = sc.id;
        }
    }
    for (const ScopeState& sc : s.scopes) {
        if (key && sc.parent == *key && sc.name == "gpt-4o-mini") {
            for (const DimensionState& d : sc.dimensions) {
                if (d.spec.measure == Measure::Requests) {
                    return d.spec.limit;
                }
            }
        }
    }
    return std::nullopt;
}

void sendThroughGateway(const QString& gatewayUrl, int count)
{
    test::HttpClient http(gatewayUrl.toStdString());
    for (int i = 0; i < count; ++i) {
        const test::HttpResponse r = http.post(
            "/v1/chat/completions",
            json{{"model", "gpt-4o-mini"},
                 {"max_tokens", 5},
                 {"messages", json::array({{{"role", "user"}, {"content", "hello " + std::to_string(i)}}})}}
                .dump(),
            {{"Content-Type", "application/json"}});
        QVERIFY2(r.completed() && r.status == 200, r.body.c_str());
    }
}

QString tile(QWidget* panel, const char* name)
{
    auto* label = panel->findChild<QLabel*>(QString::fromLatin1(name));
    return label != nullptr ? label->text() : QString();
}

// Workspace → Attach to instance…, the fields typed, Attach clicked.
void attachThroughDialog(ui::MainWindow& window, const QString& address, const QString& token)
{
    auto* action = window.findChild<QAction*>(QStringLiteral("attachAction"));
    QVERIFY(action != nullptr);
    action->trigger();
    ui::AttachDialog* dialog = nullptr;
    QTRY_VERIFY((dialog = window.findChild<ui::AttachDialog*>(QStringLiteral("attachDialog"))) != nullptr &&
                dialog->isVisible());
    auto* addressEdit = dialog->findChild<QLineEdit*>(QStringLiteral("attachAddress"));
    auto* tokenEdit = dialog->findChild<QLineEdit*>(QStringLiteral("attachToken"));
    QVERIFY(addressEdit != nullptr && tokenEdit != nullptr);
    addressEdit->clear();
    QTest::keyClicks(addressEdit, address);
    QTest::keyClicks(tokenEdit, token);
    QCOMPARE(tokenEdit->echoMode(), QLineEdit::Password);
    QTest::mouseClick(dialog->findChild<QPushButton*>(QStringLiteral("attachOk")), Qt::LeftButton);
}

}  // namespace

class TestConsoleAttach : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void operatesAnAttachedServe();
    void requeuesAnAttachedBatchsDeadLetter();
    void operatesAnAttachedWorker();
};

void TestConsoleAttach::operatesAnAttachedServe()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("MOCK_API_KEY"), QStringLiteral("sk-mock"));
    env.insert(QStringLiteral("SLUICE_CONTROL_TOKEN"), QString::fromLatin1(kToken));

    CliProcess mock({QStringLiteral("mock"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                     QStringLiteral("--latency-ms"), QStringLiteral("0"), QStringLiteral("--no-limits")},
                    env);
    const QString mockUrl = mock.waitFor(QStringLiteral("listening on (http://[0-9.:]+)"));
    QVERIFY2(!mockUrl.isEmpty(), qPrintable(mock.output()));

    const QString configPath = dir.filePath(QStringLiteral("serve.json"));
    {
        QFile f(configPath);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray::fromStdString(serveConfig(mockUrl).dump(2)));
    }
    CliProcess serve({QStringLiteral("serve"), QStringLiteral("--config"), configPath, QStringLiteral("--control"),
                      QStringLiteral("127.0.0.1:0"), QStringLiteral("--control-token-env"),
                      QStringLiteral("SLUICE_CONTROL_TOKEN")},
                     env);
    const QString gatewayUrl = serve.waitFor(QStringLiteral("listening on (http://[0-9.:]+)"));
    const QString controlUrl = serve.waitFor(QStringLiteral("control at (http://[0-9.:]+)"));
    QVERIFY2(!gatewayUrl.isEmpty() && !controlUrl.isEmpty(), qPrintable(serve.output()));
    QVERIFY2(!serve.output().contains(QString::fromLatin1(kToken)), "the token was printed");
    const QString address = controlUrl.mid(7);  // HOST:PORT, as a user types it

    // The instance as its own operator sees it, to check the console's work.
    SystemClock clock;
    control::ControlClient instance(controlUrl.toStdString(), Secret(kToken), clock);
    QCOMPARE(instanceRpm(instance), std::optional<std::int64_t>(600));
    sendThroughGateway(gatewayUrl, 3);

    Console console;
    QVERIFY(console.setupError().isEmpty());
    QSignalSpy opened(&console.window(), &ui::MainWindow::sessionOpened);
    QSignalSpy failed(&console.window(), &ui::MainWindow::openFailed);

    // A wrong token: refused, said, no session.
    attachThroughDialog(console.window(), address, QStringLiteral("wrong-token"));
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kTimeoutMs);
    QVERIFY2(failed.front().front().toString().contains(QStringLiteral("401")),
             qPrintable(failed.front().front().toString()));
    QVERIFY(console.window().session() == nullptr);

    attachThroughDialog(console.window(), address, QString::fromLatin1(kToken));
    QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kTimeoutMs);
    ui::ConsoleSession& session = console.session();
    QVERIFY(session.attached());
    QVERIFY(session.name().contains(QStringLiteral("serve")));

    // The dashboard shows the instance's traffic and follows it.
    auto* dashboard = console.showPanel<ui::DashboardPanel>(QStringLiteral("dashboardPanel"));
    QVERIFY(dashboard != nullptr);
    QTRY_COMPARE_WITH_TIMEOUT(tile(dashboard, "tileSent"), QStringLiteral("3"), kTimeoutMs);
    sendThroughGateway(gatewayUrl, 4);
    QTRY_COMPARE_WITH_TIMEOUT(tile(dashboard, "tileSent"), QStringLiteral("7"), kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(tile(dashboard, "tileCompleted"), QStringLiteral("7"), kTimeoutMs);

    // A limit edited in place in the limits panel reaches the instance.
    auto* limits = console.showPanel<ui::LimitsPanel>(QStringLiteral("limitsPanel"));
    QVERIFY(limits != nullptr);
    auto* view = limits->findChild<QTreeView*>(QStringLiteral("scopeTree"));
    auto* model = qobject_cast<ui::ScopeTreeModel*>(view->model());
    QVERIFY(model != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(
        model->find(QStringLiteral("mock-openai"), QStringLiteral("mock"), QStringLiteral("gpt-4o-mini")).isValid(),
        kTimeoutMs);
    const QModelIndex cell = model->find(QStringLiteral("mock-openai"), QStringLiteral("mock"), QStringLiteral("gpt-4o-mini"))
                                 .siblingAtColumn(ui::ScopeTreeModel::RpmColumn);
    doubleClickCell(view, cell);
    auto* editor = view->findChild<QDoubleSpinBox*>(QStringLiteral("limitEditor"));
    QVERIFY2(editor != nullptr, "double-clicking a limit cell opens no editor");
    QCOMPARE(editor->value(), 600.0);
    QTest::keyClick(editor, Qt::Key_A, Qt::ControlModifier);
    QTest::keyClicks(editor, QStringLiteral("240"));
    QTest::keyClick(editor, Qt::Key_Return);
    QTRY_COMPARE_WITH_TIMEOUT(instanceRpm(instance), std::optional<std::int64_t>(240), kTimeoutMs);
    // Providers and keys come from the instance's own files.
    QVERIFY(!limits->findChild<QPushButton*>(QStringLiteral("addProvider"))->isEnabled());
    QVERIFY(!limits->findChild<QPushButton*>(QStringLiteral("addKey"))->isEnabled());
    // Only the edited field changed: the token limit stays.
    bool tpmKept = false;
    for (const ProviderConfig& p : instance.config().providers) {
        for (const KeyConfig& k : p.keys) {
            for (const auto& [m, specs] : k.modelLimits) {
                for (const LimitSpec& l : specs) {
                    tpmKept = tpmKept || (m == "gpt-4o-mini" && l.measure == Measure::TotalTokens && l.limit == 200000);
                }
            }
        }
    }
    QVERIFY(tpmKept);

    // A key's own limit, edited the same way, reaches the instance.
    QVERIFY(model->find(QStringLiteral("mock-openai"), QStringLiteral("mock")).isValid());
    editRpmCell(view, model->find(QStringLiteral("mock-openai"), QStringLiteral("mock")), QStringLiteral("300"));
    QTRY_COMPARE_WITH_TIMEOUT(scopeRpm(instance, {"mock-openai", "mock"}), std::optional<std::int64_t>(300), kTimeoutMs);
    QCOMPARE(instanceRpm(instance), std::optional<std::int64_t>(240));
    // Adding or removing providers and keys is disabled, and says why.
    QVERIFY(limits->findChild<QPushButton*>(QStringLiteral("addProvider"))->toolTip().contains(
        QStringLiteral("configuration file")));

    // A request the provider refuses (400) fails at the gateway: the dead
    // letters tab lists it, and says why it cannot be requeued.
    QVERIFY(patchMock(mockUrl.toStdString(), R"({"models":{"gpt-4o-mini":{"maxOutputTokens":100}}})"));
    const test::HttpResponse failedRequest = postCompletion(gatewayUrl, 500);
    QVERIFY2(failedRequest.completed() && failedRequest.status >= 400, failedRequest.body.c_str());
    QVERIFY(patchMock(mockUrl.toStdString(), R"({"models":{"gpt-4o-mini":{"maxOutputTokens":1000}}})"));
    auto* dead = console.showPanel<ui::DeadLetterPanel>(QStringLiteral("deadLetterPanel"));
    QVERIFY(dead != nullptr);
    auto* deadTable = dead->findChild<QTableWidget*>(QStringLiteral("deadLetters"));
    auto* requeueOne = dead->findChild<QPushButton*>(QStringLiteral("requeue"));
    auto* requeueAll = dead->findChild<QPushButton*>(QStringLiteral("requeueAll"));
    QTRY_COMPARE_WITH_TIMEOUT(deadTable->rowCount(), 1, kTimeoutMs);
    QCOMPARE(deadTable->item(0, 2)->text(), QStringLiteral("gpt-4o-mini"));
    clickCell(deadTable, deadTable->model()->index(0, 0));
    auto* deadBody = dead->findChild<QPlainTextEdit*>(QStringLiteral("body"));
    QTRY_VERIFY_WITH_TIMEOUT(deadBody->placeholderText().contains(QStringLiteral("no request bodies")), kTimeoutMs);
    QVERIFY(deadBody->isReadOnly());
    QVERIFY(!requeueOne->isEnabled());
    QVERIFY(!requeueAll->isEnabled());
    QVERIFY2(requeueOne->toolTip().contains(QStringLiteral("answer")), qPrintable(requeueOne->toolTip()));
    QVERIFY2(dead->findChild<QLabel*>(QStringLiteral("deadStatus"))->text().contains(QStringLiteral("answer")),
             qPrintable(dead->findChild<QLabel*>(QStringLiteral("deadStatus"))->text()));

    // A usage report of the instance, exported from the console: its
    // rollups come over the control endpoint.
    auto* exportAction = console.window().findChild<QAction*>(QStringLiteral("exportReport"));
    QVERIFY(exportAction != nullptr && exportAction->isEnabled());
    exportAction->trigger();
    ui::ReportDialog* reportDialog = nullptr;
    QTRY_VERIFY((reportDialog = console.window().findChild<ui::ReportDialog*>(QStringLiteral("reportDialog"))) != nullptr &&
                reportDialog->isVisible());
    const QString reportPath = dir.filePath(QStringLiteral("usage.csv"));
    reportDialog->findChild<QLineEdit*>(QStringLiteral("output"))->setText(reportPath);
    QTest::mouseClick(reportDialog->findChild<QPushButton*>(QStringLiteral("export")), Qt::LeftButton);
    auto* reportStatus = reportDialog->findChild<QLabel*>(QStringLiteral("status"));
    QTRY_VERIFY_WITH_TIMEOUT(reportStatus->text().contains(QStringLiteral("Wrote")), kTimeoutMs);
    // Eight requests reached the provider: seven answered, one refused.
    QVERIFY2(reportStatus->text().contains(QStringLiteral(": 8 requests, 7 completed")), qPrintable(reportStatus->text()));
    QFile report(reportPath);
    QVERIFY(report.open(QIODevice::ReadOnly));
    QVERIFY(report.readAll().contains("gpt-4o-mini"));
    reportDialog->close();

    // Pause and resume from the queue panel.
    auto* queue = console.showPanel<ui::QueuePanel>(QStringLiteral("queuePanel"));
    QVERIFY(queue != nullptr);
    auto* pause = queue->findChild<QPushButton*>(QStringLiteral("pause"));
    auto* resume = queue->findChild<QPushButton*>(QStringLiteral("resume"));
    QTRY_VERIFY_WITH_TIMEOUT(pause->isEnabled(), kTimeoutMs);
    QTest::mouseClick(pause, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(instance.status().dispatch.paused, kTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(resume->isEnabled(), kTimeoutMs);
    QTest::mouseClick(resume, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!instance.status().dispatch.paused, kTimeoutMs);

    // Drain from the queue panel, as on the console's own engine: the
    // serve's gateway takes no new request from then on.
    auto* drain = queue->findChild<QPushButton*>(QStringLiteral("drain"));
    QVERIFY(drain != nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(drain->isEnabled(), kTimeoutMs);
    QTest::mouseClick(drain, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(instance.status().draining, kTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(!drain->isEnabled(), kTimeoutMs);
    test::HttpClient http(gatewayUrl.toStdString());
    const test::HttpResponse refused = http.post(
        "/v1/chat/completions",
        json{{"model", "gpt-4o-mini"}, {"max_tokens", 5}, {"messages", json::array({{{"role", "user"}, {"content", "late"}}})}}
            .dump(),
        {{"Content-Type", "application/json"}});
    QVERIFY2(refused.completed() && refused.status == 503, refused.body.c_str());
    QVERIFY2(refused.body.find("draining") != std::string::npos, refused.body.c_str());
}

// A `sluice-cli batch --control` held back by a low request limit: one line
// asks for more output than the mock allows and dies at once (400). The
// provider is fixed, the dead letter requeued from the console's dead
// letters tab, the limit raised: the batch ends with every line answered.
void TestConsoleAttach::requeuesAnAttachedBatchsDeadLetter()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("MOCK_API_KEY"), QStringLiteral("sk-mock"));
    CliProcess mock({QStringLiteral("mock"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                     QStringLiteral("--latency-ms"), QStringLiteral("0"), QStringLiteral("--no-limits")},
                    env);
    const QString mockUrl = mock.waitFor(QStringLiteral("listening on (http://[0-9.:]+)"));
    QVERIFY2(!mockUrl.isEmpty(), qPrintable(mock.output()));
    QVERIFY(patchMock(mockUrl.toStdString(), R"({"models":{"gpt-4o-mini":{"maxOutputTokens":100}}})"));

    json config = serveConfig(mockUrl);
    config.erase("gateway");
    config["providers"][0]["models"]["gpt-4o-mini"]["limits"] = {{"rpm", 6}};
    config["providers"][0]["learn_limits"] = false;
    const QString configPath = dir.filePath(QStringLiteral("batch.json"));
    const QString inputPath = dir.filePath(QStringLiteral("in.jsonl"));
    const QString outputPath = dir.filePath(QStringLiteral("out.jsonl"));
    {
        QFile f(configPath);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray::fromStdString(config.dump(2)));
        QFile in(inputPath);
        QVERIFY(in.open(QIODevice::WriteOnly));
        for (int i = 0; i < 20; ++i) {
            const json line = {{"custom_id", i == 0 ? std::string("too-long") : "req-" + std::to_string(i)},
                               {"method", "POST"},
                               {"url", "/v1/chat/completions"},
                               {"body",
                                {{"model", "gpt-4o-mini"},
                                 {"max_tokens", i == 0 ? 500 : 10},
                                 {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}}}};
            in.write(QByteArray::fromStdString(line.dump() + "\n"));
        }
    }
    CliProcess batch({QStringLiteral("batch"), QStringLiteral("--config"), configPath, QStringLiteral("--input"),
                      inputPath, QStringLiteral("--output"), outputPath, QStringLiteral("--state"),
                      dir.filePath(QStringLiteral("run.db")), QStringLiteral("--progress"), QStringLiteral("never"),
                      QStringLiteral("--control"), QStringLiteral("127.0.0.1:0")},
                     env);
    const QString controlUrl = batch.waitFor(QStringLiteral("control at (http://[0-9.:]+)"));
    QVERIFY2(!controlUrl.isEmpty(), qPrintable(batch.output()));
    SystemClock clock;
    control::ControlClient instance(controlUrl.toStdString(), std::nullopt, clock);

    Console console;
    QVERIFY(console.setupError().isEmpty());
    QSignalSpy opened(&console.window(), &ui::MainWindow::sessionOpened);
    attachThroughDialog(console.window(), controlUrl.mid(7), QString());
    QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kTimeoutMs);
    QVERIFY(console.session().name().contains(QStringLiteral("batch")));

    auto* panel = console.showPanel<ui::DeadLetterPanel>(QStringLiteral("deadLetterPanel"));
    QVERIFY(panel != nullptr);
    auto* table = panel->findChild<QTableWidget*>(QStringLiteral("deadLetters"));
    auto* requeue = panel->findChild<QPushButton*>(QStringLiteral("requeue"));
    auto* status = panel->findChild<QLabel*>(QStringLiteral("deadStatus"));
    QVERIFY(table != nullptr && requeue != nullptr && status != nullptr);
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 1, kTimeoutMs);
    QCOMPARE(table->item(0, 1)->text(), QStringLiteral("too-long"));
    // The rest is still held back by the limit: the batch runs on.
    QVERIFY(instance.status().queue->pending + instance.status().queue->leased > 0);

    QVERIFY(patchMock(mockUrl.toStdString(), R"({"models":{"gpt-4o-mini":{"maxOutputTokens":1000}}})"));
    clickCell(table, table->model()->index(0, 0));
    QTRY_VERIFY(requeue->isEnabled());
    QTest::mouseClick(requeue, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(status->text().contains(QStringLiteral("requeued")), kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(instance.status().queue->dead, std::int64_t{0}, kTimeoutMs);

    // Lift the limit: everything, the requeued line too, is answered and
    // the batch ends by itself.
    instance.setLimits(LimitTarget{"mock-openai", "", "gpt-4o-mini"},
                       {LimitSpec{Measure::Requests, 60000, std::chrono::minutes(1), 0}});
    QCOMPARE(batch.waitExit(), 0);
    QFile out(outputPath);
    QVERIFY(out.open(QIODevice::ReadOnly));
    int answered = 0;
    bool revived = false;
    for (const QByteArray& line : out.readAll().split('\n')) {
        if (line.isEmpty()) {
            continue;
        }
        const json j = json::parse(line.toStdString());
        answered += j["response"]["status_code"] == 200 ? 1 : 0;
        revived = revived || (j["custom_id"] == "too-long" && j["response"]["status_code"] == 200);
    }
    QCOMPARE(answered, 20);
    QVERIFY(revived);
}

// A `sluice-cli worker --control` on a real redis-server: two of its jobs
// die (the provider refuses their size); from the dead letters tab one is
// edited and requeued, the other requeued once the provider is fixed;
// both complete. Drained from the queue panel, the worker finishes and
// exits by itself.
void TestConsoleAttach::operatesAnAttachedWorker()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    testing::RedisServerFixture redis;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("MOCK_API_KEY"), QStringLiteral("sk-mock"));
    CliProcess mock({QStringLiteral("mock"), QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                     QStringLiteral("--latency-ms"), QStringLiteral("0"), QStringLiteral("--no-limits")},
                    env);
    const QString mockUrl = mock.waitFor(QStringLiteral("listening on (http://[0-9.:]+)"));
    QVERIFY2(!mockUrl.isEmpty(), qPrintable(mock.output()));
    QVERIFY(patchMock(mockUrl.toStdString(), R"({"models":{"gpt-4o-mini":{"maxOutputTokens":100}}})"));

    json config = serveConfig(mockUrl);
    config.erase("gateway");
    config["shared"] = {{"redis", "redis://127.0.0.1:" + std::to_string(redis.port()) + "/0"},
                        {"namespace", "attach-worker"}};
    const QString configPath = dir.filePath(QStringLiteral("worker.json"));
    {
        QFile f(configPath);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray::fromStdString(config.dump(2)));
    }
    shared::SharedQueue producer(redis.endpoint(), "attach-worker", "test-producer");
    const auto job = [](const std::string& id, int maxTokens) {
        shared::QueuedJob j;
        j.customId = id;
        j.url = "/v1/chat/completions";
        j.model = "gpt-4o-mini";
        j.body = json{{"model", "gpt-4o-mini"},
                      {"max_tokens", maxTokens},
                      {"messages", json::array({{{"role", "user"}, {"content", id}}})}}
                     .dump();
        return j;
    };
    producer.enqueue(job("long-1", 500));
    producer.enqueue(job("long-2", 500));
    producer.enqueue(job("short", 10));

    CliProcess worker({QStringLiteral("worker"), QStringLiteral("--config"), configPath, QStringLiteral("--control"),
                       QStringLiteral("127.0.0.1:0")},
                      env);
    const QString controlUrl = worker.waitFor(QStringLiteral("control at (http://[0-9.:]+)"));
    QVERIFY2(!controlUrl.isEmpty(), qPrintable(worker.output()));
    QTRY_COMPARE_WITH_TIMEOUT(producer.counts().dead, std::int64_t{2}, kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(producer.counts().done, std::int64_t{1}, kTimeoutMs);

    Console console;
    QVERIFY(console.setupError().isEmpty());
    QSignalSpy opened(&console.window(), &ui::MainWindow::sessionOpened);
    attachThroughDialog(console.window(), controlUrl.mid(7), QString());
    QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kTimeoutMs);
    QVERIFY(console.session().name().contains(QStringLiteral("worker")));

    auto* panel = console.showPanel<ui::DeadLetterPanel>(QStringLiteral("deadLetterPanel"));
    QVERIFY(panel != nullptr);
    auto* table = panel->findChild<QTableWidget*>(QStringLiteral("deadLetters"));
    auto* body = panel->findChild<QPlainTextEdit*>(QStringLiteral("body"));
    auto* editRequeue = panel->findChild<QPushButton*>(QStringLiteral("editRequeue"));
    auto* requeueAll = panel->findChild<QPushButton*>(QStringLiteral("requeueAll"));
    auto* status = panel->findChild<QLabel*>(QStringLiteral("deadStatus"));
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 2, kTimeoutMs);
    int longOne = -1;
    for (int r = 0; r < table->rowCount(); ++r) {
        if (table->item(r, 1)->text() == QStringLiteral("long-1")) {
            longOne = r;
        }
    }
    QVERIFY(longOne >= 0);
    // Its body, as the shared queue keeps it, edited down and requeued.
    clickCell(table, table->model()->index(longOne, 0));
    QTRY_VERIFY_WITH_TIMEOUT(body->toPlainText().contains(QStringLiteral("long-1")), kTimeoutMs);
    QVERIFY(editRequeue->isEnabled());
    QVERIFY(editRequeue->toolTip().isEmpty());
    json edited = json::parse(body->toPlainText().toStdString());
    edited["max_tokens"] = 10;
    body->setPlainText(QString::fromStdString(edited.dump()));
    QTest::mouseClick(editRequeue, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(producer.counts().done, std::int64_t{2}, kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 1, kTimeoutMs);

    // The provider fixed, the rest requeued as they are.
    QVERIFY(patchMock(mockUrl.toStdString(), R"({"models":{"gpt-4o-mini":{"maxOutputTokens":1000}}})"));
    QTRY_VERIFY(requeueAll->isEnabled());
    QTest::mouseClick(requeueAll, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(status->text().contains(QStringLiteral("requeued")), kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(producer.counts().done, std::int64_t{3}, kTimeoutMs);
    QCOMPARE(producer.counts().dead, std::int64_t{0});
    for (const auto& r : producer.results({"long-1", "long-2", "short"})) {
        QVERIFY(r && !r->dead && r->statusCode == 200);
    }

    // Drained from the queue panel: the worker leases nothing more,
    // finishes what it holds and exits by itself.
    auto* queue = console.showPanel<ui::QueuePanel>(QStringLiteral("queuePanel"));
    QVERIFY(queue != nullptr);
    auto* drain = queue->findChild<QPushButton*>(QStringLiteral("drain"));
    QTRY_VERIFY_WITH_TIMEOUT(drain->isEnabled(), kTimeoutMs);
    QTest::mouseClick(drain, Qt::LeftButton);
    QCOMPARE(worker.waitExit(), 0);
    QVERIFY2(worker.output().contains(QStringLiteral("drained")), qPrintable(worker.output()));
    // Work queued after it left waits for another worker.
    producer.enqueue(job("after", 10));
    QCOMPARE(producer.counts().queued, std::int64_t{1});
}

QTEST_MAIN(TestConsoleAttach)
#include "tst_console_attach.moc"
