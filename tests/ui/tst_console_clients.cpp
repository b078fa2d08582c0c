// The Clients tab of a running console, driven as an operator drives it,
// with the official `openai` SDK as the client (tests/sdk/clients_view.mjs,
// run with Node): the workspace's gateway started on a free loopback port
// in front of the embedded mock; a token made in the console, shown once
// and kept in the workspace file only as its SHA-256; requests through the
// gateway move the token's row; a paused token's request waits (shown
// waiting) and goes when resumed; a limit lowered in the view is applied at
// once (the next burst gets 429s with retry-after, counted in the row); the
// gateway runs again when the workspace is reopened, the token still
// valid; a stream under way runs to its end while another token is
// created and revoked (the token table changes live, the gateway is not
// restarted); Stop drains (a new request gets 503, the stream under way
// runs to its end, then the gateway stops) and Stop now, while it drains,
// cuts the stream; a revoked token is refused; an address in use or malformed
// is shown in the view, not a crash.
#include "clients_panel.h"
#include "console_fixture.h"
#include "workspace_gateway.h"

#include <QClipboard>
#include <QDialogButtonBox>
#include <QGuiApplication>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QtTest>

using namespace sluice;
using namespace sluice::uitest;

namespace {

constexpr int kTimeoutMs = 20'000;

QString sdkDir()
{
    return QStringLiteral(SLUICE_SOURCE_DIR "/tests/sdk");
}

QString cell(const QTableWidget* table, const QString& token, ui::ClientColumn column)
{
    for (int r = 0; r < table->rowCount(); ++r) {
        if (table->item(r, 0) != nullptr && table->item(r, 0)->text() == token) {
            const QTableWidgetItem* item = table->item(r, static_cast<int>(column));
            return item ? item->text() : QString();
        }
    }
    return QStringLiteral("(no row)");
}

int rowOf(const QTableWidget* table, const QString& token)
{
    for (int r = 0; r < table->rowCount(); ++r) {
        if (table->item(r, 0) != nullptr && table->item(r, 0)->text() == token) {
            return r;
        }
    }
    return -1;
}

// The leading number of "12 / 60" or "1,234".
long long leading(const QString& text)
{
    QString digits;
    for (const QChar c : text) {
        if (c.isDigit()) {
            digits += c;
        } else if (c != QLatin1Char(',')) {
            break;
        }
    }
    return digits.isEmpty() ? -1 : digits.toLongLong();
}

}  // namespace

class TestConsoleClients : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void gatewayFromTheConsole();

private:
    // Starts node with the SDK script; `wait` false leaves it running.
    void startNode(QProcess& node, const QStringList& args);
    QString runNode(const QStringList& args);

    QString m_url;
    QString m_token;
};

void TestConsoleClients::initTestCase()
{
    enableTestMode();
    QVERIFY2(QFile::exists(sdkDir() + QStringLiteral("/node_modules/openai/package.json")),
             "tests/sdk/node_modules is missing: run scripts/install-deps.sh (npm ci --prefix tests/sdk)");
}

void TestConsoleClients::startNode(QProcess& node, const QStringList& args)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("GATEWAY_URL"), m_url);
    env.insert(QStringLiteral("TOKEN"), m_token);
    node.setProcessEnvironment(env);
    node.setWorkingDirectory(sdkDir());
    node.setProcessChannelMode(QProcess::MergedChannels);
    node.start(QStringLiteral("node"), QStringList{QStringLiteral("clients_view.mjs")} + args);
}

QString TestConsoleClients::runNode(const QStringList& args)
{
    QProcess node;
    startNode(node, args);
    if (!node.waitForStarted(10'000)) {
        return QStringLiteral("FAIL node did not start (is nodejs installed?)");
    }
    // The event loop runs meanwhile, so the console keeps refreshing.
    if (!QTest::qWaitFor([&] { return node.state() == QProcess::NotRunning; }, 60'000)) {
        node.kill();
        node.waitForFinished();
        return QStringLiteral("FAIL node did not finish");
    }
    return QString::fromUtf8(node.readAll()).trimmed();
}

void TestConsoleClients::gatewayFromTheConsole()
{
    Console console;
    QVERIFY2(console.setupError().isEmpty(), qPrintable(console.setupError()));
    QString error = console.open({});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    auto* panel = console.showPanel<ui::ClientsPanel>(QStringLiteral("clientsPanel"));
    QVERIFY(panel != nullptr);
    auto* table = panel->findChild<QTableWidget*>(QStringLiteral("clientsTable"));
    auto* listen = panel->findChild<QLineEdit*>(QStringLiteral("gatewayListen"));
    auto* hold = panel->findChild<QDoubleSpinBox*>(QStringLiteral("gatewayHold"));
    auto* startStop = panel->findChild<QPushButton*>(QStringLiteral("gatewayStartStop"));
    auto* status = panel->findChild<QLabel*>(QStringLiteral("gatewayStatus"));
    QVERIFY(table && listen && hold && startStop && status);
    QCOMPARE(status->text(), QStringLiteral("Not running"));

    // A token, made in the console and shown once.
    QTest::mouseClick(panel->findChild<QPushButton*>(QStringLiteral("newTokenButton")), Qt::LeftButton);
    auto* dialog = panel->findChild<ui::NewTokenDialog*>(QStringLiteral("newTokenDialog"));
    QVERIFY(dialog != nullptr);
    dialog->findChild<QLineEdit*>(QStringLiteral("newTokenName"))->setText(QStringLiteral("billing"));
    dialog->findChild<QLineEdit*>(QStringLiteral("newTokenTenant"))->setText(QStringLiteral("team-billing"));
    dialog->findChild<QDialogButtonBox*>(QStringLiteral("newTokenButtons"))->button(QDialogButtonBox::Ok)->click();
    QDialog* shown = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((shown = panel->findChild<QDialog*>(QStringLiteral("tokenShownDialog"))) != nullptr,
                             kTimeoutMs);
    m_token = shown->findChild<QLineEdit*>(QStringLiteral("tokenValue"))->text();
    QVERIFY(m_token.startsWith(QStringLiteral("sk-sluice-")));
    shown->findChild<QPushButton*>(QStringLiteral("copyToken"))->click();
    QCOMPARE(QGuiApplication::clipboard()->text(), m_token);
    shown->close();
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(table, QStringLiteral("billing")), 0, kTimeoutMs);
    QCOMPARE(cell(table, QStringLiteral("billing"), ui::ClientColumn::Tenant), QStringLiteral("team-billing"));
    // In the workspace file as its digest only.
    const std::string digest = gateway::toHex(gateway::sha256(m_token.toStdString()));
    QTRY_VERIFY_WITH_TIMEOUT(readFile(console.workspaceFile()).find(digest) != std::string::npos, kTimeoutMs);
    QVERIFY(readFile(console.workspaceFile()).find(m_token.toStdString()) == std::string::npos);

    // A malformed address is said in the view; nothing runs.
    listen->setText(QStringLiteral("localhost"));
    startStop->click();
    QVERIFY2(status->text().contains(QStringLiteral("must look like")), qPrintable(status->text()));
    QCOMPARE(startStop->text(), QStringLiteral("Start"));
    // An address in use too: the embedded mock's.
    const QString mockUrl = QString::fromStdString(console.host().mockUrl());
    QVERIFY(mockUrl.startsWith(QStringLiteral("http://127.0.0.1:")));
    listen->setText(mockUrl.mid(7));
    startStop->click();
    QVERIFY2(status->text().contains(QStringLiteral("could not start")), qPrintable(status->text()));
    QCOMPARE(startStop->text(), QStringLiteral("Start"));

    // Started on a free loopback port.
    listen->setText(QStringLiteral("127.0.0.1:0"));
    hold->setValue(10);
    startStop->click();
    QCOMPARE(startStop->text(), QStringLiteral("Stop"));
    auto& source = static_cast<ui::WorkspaceGateway&>(panel->source());
    QVERIFY(source.port() != 0);
    m_url = QStringLiteral("http://127.0.0.1:%1").arg(source.port());
    QVERIFY2(status->text().contains(m_url), qPrintable(status->text()));

    // Requests through it move the token's row.
    QString out = runNode({QStringLiteral("send"), QStringLiteral("5")});
    QVERIFY2(out.startsWith(QStringLiteral("ok")), qPrintable(out));
    QTRY_COMPARE_WITH_TIMEOUT(leading(cell(table, QStringLiteral("billing"), ui::ClientColumn::Requests)), 5LL,
                              kTimeoutMs);
    QVERIFY(leading(cell(table, QStringLiteral("billing"), ui::ClientColumn::Tokens)) > 0);
    // The last request's count can show a refresh before its slot is freed.
    QTRY_COMPARE_WITH_TIMEOUT(cell(table, QStringLiteral("billing"), ui::ClientColumn::InFlight), QStringLiteral("0"),
                              kTimeoutMs);
    QCOMPARE(cell(table, QStringLiteral("billing"), ui::ClientColumn::Refused), QStringLiteral("0"));

    // Paused: a request waits, shown waiting, and goes once resumed.
    table->selectRow(rowOf(table, QStringLiteral("billing")));
    auto* pause = panel->findChild<QPushButton*>(QStringLiteral("pauseTenantButton"));
    QCOMPARE(pause->text(), QStringLiteral("Pause"));
    pause->click();
    QCOMPARE(cell(table, QStringLiteral("billing"), ui::ClientColumn::State), QStringLiteral("paused"));
    QProcess held;
    startNode(held, {QStringLiteral("send"), QStringLiteral("1")});
    QVERIFY(held.waitForStarted(10'000));
    QTRY_COMPARE_WITH_TIMEOUT(cell(table, QStringLiteral("billing"), ui::ClientColumn::Waiting), QStringLiteral("1"),
                              kTimeoutMs);
    QCOMPARE(held.state(), QProcess::Running);
    QCOMPARE(pause->text(), QStringLiteral("Resume"));
    pause->click();
    QTRY_COMPARE_WITH_TIMEOUT(held.state(), QProcess::NotRunning, kTimeoutMs);
    out = QString::fromUtf8(held.readAll()).trimmed();
    QVERIFY2(out.startsWith(QStringLiteral("ok")), qPrintable(out));
    QCOMPARE(cell(table, QStringLiteral("billing"), ui::ClientColumn::State), QStringLiteral("active"));
    QTRY_COMPARE_WITH_TIMEOUT(leading(cell(table, QStringLiteral("billing"), ui::ClientColumn::Requests)), 6LL,
                              kTimeoutMs);

    // A limit lowered in the view applies at once: one request a minute,
    // so a burst of four gets 429s (with retry-after), counted in the row.
    auto* rpm = panel->findChild<QSpinBox*>(QStringLiteral("tenantRpm"));
    rpm->setValue(1);
    panel->findChild<QPushButton*>(QStringLiteral("applyTenantLimits"))->click();
    QTRY_VERIFY_WITH_TIMEOUT(cell(table, QStringLiteral("billing"), ui::ClientColumn::Requests).endsWith(QStringLiteral("/ 1")),
                             kTimeoutMs);
    out = runNode({QStringLiteral("burst"), QStringLiteral("4")});
    QVERIFY2(out.startsWith(QStringLiteral("ok")), qPrintable(out));
    QVERIFY2(out.contains(QStringLiteral("limited=3")) || out.contains(QStringLiteral("limited=4")), qPrintable(out));
    QTRY_VERIFY_WITH_TIMEOUT(leading(cell(table, QStringLiteral("billing"), ui::ClientColumn::Refused)) >= 3, kTimeoutMs);
    // The file has the new limit, so a restart keeps it.
    QTRY_VERIFY_WITH_TIMEOUT(readFile(console.workspaceFile()).find("\"rpm\": 1") != std::string::npos, kTimeoutMs);

    // Reopened, the workspace runs its gateway again and the token is valid.
    error = console.reopen({});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    panel = console.showPanel<ui::ClientsPanel>(QStringLiteral("clientsPanel"));
    QVERIFY(panel != nullptr);
    table = panel->findChild<QTableWidget*>(QStringLiteral("clientsTable"));
    auto& again = static_cast<ui::WorkspaceGateway&>(panel->source());
    QVERIFY2(again.port() != 0, qPrintable(again.gatewayState().error));
    m_url = QStringLiteral("http://127.0.0.1:%1").arg(again.port());
    QVERIFY(cell(table, QStringLiteral("billing"), ui::ClientColumn::Requests).endsWith(QStringLiteral("/ 1")));
    rpm = panel->findChild<QSpinBox*>(QStringLiteral("tenantRpm"));
    table->selectRow(rowOf(table, QStringLiteral("billing")));
    rpm->setValue(0);  // no limit
    panel->findChild<QPushButton*>(QStringLiteral("applyTenantLimits"))->click();
    out = runNode({QStringLiteral("send"), QStringLiteral("2")});
    QVERIFY2(out.startsWith(QStringLiteral("ok")), qPrintable(out));

    // A stream under way is not disturbed by a token created and another
    // revoked. The mock sends its 20 tokens half a second apart, so the
    // stream is still running while the operator does both.
    const std::string slowMockUrl = console.host().mockUrl();
    QVERIFY(patchMock(slowMockUrl, R"({"latency":{"perOutputTokenMs":500}})"));
    const std::uint16_t gatewayPort = again.port();
    // A streamed completion started and at its first chunk.
    const auto streamUnderWay = [this](QProcess& node, QString& seen) {
        startNode(node, {QStringLiteral("stream")});
        return node.waitForStarted(10'000) && QTest::qWaitFor([&] {
                   return (seen += QString::fromUtf8(node.readAll())).contains(QStringLiteral("first"));
               }, kTimeoutMs);
    };
    QProcess streaming;
    QString streamed;
    QVERIFY(streamUnderWay(streaming, streamed));
    QTest::mouseClick(panel->findChild<QPushButton*>(QStringLiteral("newTokenButton")), Qt::LeftButton);
    dialog = panel->findChild<ui::NewTokenDialog*>(QStringLiteral("newTokenDialog"));
    QVERIFY(dialog != nullptr);
    dialog->findChild<QLineEdit*>(QStringLiteral("newTokenName"))->setText(QStringLiteral("spare"));
    dialog->findChild<QDialogButtonBox*>(QStringLiteral("newTokenButtons"))->button(QDialogButtonBox::Ok)->click();
    QTRY_VERIFY_WITH_TIMEOUT(rowOf(table, QStringLiteral("spare")) >= 0, kTimeoutMs);
    table->selectRow(rowOf(table, QStringLiteral("spare")));
    panel->findChild<QPushButton*>(QStringLiteral("revokeTokenButton"))->click();
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(table, QStringLiteral("spare")), -1, kTimeoutMs);
    QCOMPARE(again.port(), gatewayPort);
    QVERIFY2(streaming.state() == QProcess::Running, "the stream ended before the tokens changed; the test proved nothing");
    QTRY_COMPARE_WITH_TIMEOUT(cell(table, QStringLiteral("billing"), ui::ClientColumn::InFlight), QStringLiteral("1"),
                              kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(streaming.state(), QProcess::NotRunning, 30'000);
    streamed += QString::fromUtf8(streaming.readAll());
    QVERIFY2(streamed.contains(QStringLiteral("ok streamed")), qPrintable(streamed));
    QCOMPARE(streaming.exitCode(), 0);

    // Stop drains: with a stream under way the gateway says it drains and
    // answers a new request 503 (which the SDKs retry), the stream runs to
    // its end, and then the gateway stops by itself.
    auto* status2 = panel->findChild<QLabel*>(QStringLiteral("gatewayStatus"));
    auto* startStop2 = panel->findChild<QPushButton*>(QStringLiteral("gatewayStartStop"));
    streamed.clear();
    QVERIFY(streamUnderWay(streaming, streamed));
    startStop2->click();
    QCOMPARE(startStop2->text(), QStringLiteral("Stop now"));
    QVERIFY2(again.gatewayState().draining, "stopped at once with a stream under way");
    QVERIFY2(status2->text().contains(QStringLiteral("Draining")) && status2->text().contains(QStringLiteral("1 request")),
             qPrintable(status2->text()));
    QVERIFY2(streaming.state() == QProcess::Running, "the stream ended before the drain began; the test proved nothing");
    out = runNode({QStringLiteral("draining")});
    QVERIFY2(out.startsWith(QStringLiteral("ok")), qPrintable(out));
    QTRY_COMPARE_WITH_TIMEOUT(streaming.state(), QProcess::NotRunning, 30'000);
    streamed += QString::fromUtf8(streaming.readAll());
    QVERIFY2(streamed.contains(QStringLiteral("ok streamed")), qPrintable(streamed));
    QTRY_COMPARE_WITH_TIMEOUT(startStop2->text(), QStringLiteral("Start"), kTimeoutMs);
    QCOMPARE(status2->text(), QStringLiteral("Not running"));
    QVERIFY(readFile(console.workspaceFile()).find("\"gateway_running\": false") != std::string::npos);
    // Stop now, while it drains, stops at once: the stream is cut.
    startStop2->click();
    QCOMPARE(startStop2->text(), QStringLiteral("Stop"));
    m_url = QStringLiteral("http://127.0.0.1:%1").arg(again.port());
    streamed.clear();
    QVERIFY(streamUnderWay(streaming, streamed));
    startStop2->click();
    QCOMPARE(startStop2->text(), QStringLiteral("Stop now"));
    startStop2->click();
    QCOMPARE(startStop2->text(), QStringLiteral("Start"));
    QCOMPARE(again.port(), std::uint16_t{0});
    QTRY_COMPARE_WITH_TIMEOUT(streaming.state(), QProcess::NotRunning, kTimeoutMs);
    streamed += QString::fromUtf8(streaming.readAll());
    QVERIFY2(!streamed.contains(QStringLiteral("ok streamed")), qPrintable(streamed));
    startStop2->click();  // running again for what follows
    QCOMPARE(startStop2->text(), QStringLiteral("Stop"));
    QVERIFY(patchMock(slowMockUrl, R"({"latency":{"perOutputTokenMs":0}})"));

    // Revoked: refused from then on, and gone from the file. (Another token
    // stays: with none, the gateway serves anyone on loopback, as
    // `sluice-cli serve` does, and says so.)
    QTest::mouseClick(panel->findChild<QPushButton*>(QStringLiteral("newTokenButton")), Qt::LeftButton);
    dialog = panel->findChild<ui::NewTokenDialog*>(QStringLiteral("newTokenDialog"));
    QVERIFY(dialog != nullptr);
    dialog->findChild<QLineEdit*>(QStringLiteral("newTokenName"))->setText(QStringLiteral("other"));
    dialog->findChild<QDialogButtonBox*>(QStringLiteral("newTokenButtons"))->button(QDialogButtonBox::Ok)->click();
    QTRY_VERIFY_WITH_TIMEOUT(rowOf(table, QStringLiteral("other")) >= 0, kTimeoutMs);
    table->selectRow(rowOf(table, QStringLiteral("billing")));
    panel->findChild<QPushButton*>(QStringLiteral("revokeTokenButton"))->click();
    QTRY_COMPARE_WITH_TIMEOUT(rowOf(table, QStringLiteral("billing")), -1, kTimeoutMs);
    m_url = QStringLiteral("http://127.0.0.1:%1").arg(again.port());
    out = runNode({QStringLiteral("denied")});
    QVERIFY2(out.startsWith(QStringLiteral("ok")), qPrintable(out));
    QTRY_VERIFY_WITH_TIMEOUT(readFile(console.workspaceFile()).find(digest) == std::string::npos, kTimeoutMs);
}

QTEST_MAIN(TestConsoleClients)
#include "tst_console_clients.moc"
