// The console's Fleet tab over a real redis-server (started by the test) and
// real `sluice-cli serve` and `sluice-cli worker` processes sharing the
// workspace's namespace: the tab lists both with their programs (and the
// console's own engine, a member too), a limit
// changed there reaches the serve process (its /metrics shows it) and the
// console's own engine, and an instance that stops leaves the list.
#include "console_fixture.h"
#include "fleet_panel.h"
#include "support/http_client.h"
#include "support/redis_server.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QTableWidget>
#include <QtTest>

#include <fstream>

using namespace sluice;
using namespace sluice::uitest;
using nlohmann::json;

namespace {

constexpr int kTimeoutMs = 20'000;

QStringList programs(const QTableWidget* table)
{
    QStringList out;
    for (int row = 0; row < table->rowCount(); ++row) {
        if (const QTableWidgetItem* item = table->item(row, 0)) {
            out << item->text();
        }
    }
    out.sort();
    return out;
}

// The provider-scope requests limit in a Prometheus text, -1 when absent.
std::int64_t providerRpm(const std::string& text)
{
    static const QRegularExpression re(QStringLiteral(
        R"(^sluice_limit\{scope="provider",provider="openai",key="",model="",measure="requests",window="rolling",period_seconds="60"\} (\d+)$)"),
        QRegularExpression::MultilineOption);
    const auto m = re.match(QString::fromStdString(text));
    return m.hasMatch() ? m.captured(1).toLongLong() : -1;
}

void stopProcess(QProcess& p)
{
    if (p.state() != QProcess::NotRunning) {
        p.terminate();
        if (!p.waitForFinished(10'000)) {
            p.kill();
            p.waitForFinished(5'000);
        }
    }
}

}  // namespace

class TestConsoleFleet : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { enableTestMode(); }
    void listsTheFleetAndChangesEveryInstance();
    void withoutSharedSaysHow();
};

void TestConsoleFleet::listsTheFleetAndChangesEveryInstance()
{
    testing::RedisServerFixture redis;
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const json shared = {{"redis", "redis://127.0.0.1:" + std::to_string(redis.port()) + "/0"},
                         {"namespace", "console-fleet"}};
    // The processes' provider is the console's by name; nothing is sent.
    const json cliConfig = {{"providers",
                             json::array({{{"name", "openai"},
                                           {"flavor", "openai"},
                                           {"base_url", "http://127.0.0.1:9"},
                                           {"keys", json::array({{{"name", "team-a"}, {"env", "FLEET_KEY"}}})}}})},
                            {"gateway", {{"listen", "127.0.0.1:0"}}},
                            {"shared", shared}};
    const QString configPath = dir.filePath(QStringLiteral("cli.json"));
    std::ofstream(configPath.toStdString()) << cliConfig.dump(2);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("FLEET_KEY"), QStringLiteral("sk-fleet"));

    QProcess serve;
    serve.setProcessEnvironment(env);
    serve.start(QStringLiteral(SLUICE_CLI_PATH),
                {QStringLiteral("serve"), QStringLiteral("--config"), configPath, QStringLiteral("--state"),
                 dir.filePath(QStringLiteral("serve.db")), QStringLiteral("--metrics"), QStringLiteral("127.0.0.1:0")});
    QProcess worker;
    worker.setProcessEnvironment(env);
    worker.start(QStringLiteral(SLUICE_CLI_PATH), {QStringLiteral("worker"), QStringLiteral("--config"), configPath});
    QVERIFY(serve.waitForStarted() && worker.waitForStarted());
    QString serveErr;
    QRegularExpression metricsRe(QStringLiteral("metrics at (http://[0-9.:]+)/metrics"));
    QTRY_VERIFY_WITH_TIMEOUT((serveErr += QString::fromUtf8(serve.readAllStandardError()), metricsRe.match(serveErr).hasMatch()),
                             kTimeoutMs);
    test::HttpClient metrics(metricsRe.match(serveErr).captured(1).toStdString());

    json doc = json::parse(testWorkspace().text());
    doc["config"]["shared"] = shared;
    Console console;
    QCOMPARE(console.setupError(), QString());
    ui::OpenRequest request;
    request.create = host::WorkspaceConfig::parse("fleet.json", doc.dump(2));
    QCOMPARE(console.open(std::move(request)), QString());

    auto* panel = console.showPanel<ui::FleetPanel>(QStringLiteral("fleetPanel"));
    QVERIFY(panel != nullptr);
    auto* table = panel->findChild<QTableWidget*>(QStringLiteral("fleetTable"));
    // The console's own engine is a member too.
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 3, kTimeoutMs);
    QCOMPARE(programs(table), QStringList({QStringLiteral("sluice console (this console)"), QStringLiteral("sluice-cli serve"),
                                           QStringLiteral("sluice-cli worker")}));
    QVERIFY(panel->findChild<QLabel*>(QStringLiteral("fleetStatus"))->text().contains(QStringLiteral("3 instance")));
    QTRY_VERIFY_WITH_TIMEOUT(panel->findChild<QLabel*>(QStringLiteral("fleetStatus"))
                                 ->text()
                                 .contains(QStringLiteral("This console's engine: Shared budget: namespace console-fleet")),
                             kTimeoutMs);

    // A limit changed in the console: every instance and the console itself.
    QVERIFY(providerRpm(metrics.get("/metrics").body) != 123);
    panel->findChild<QComboBox*>(QStringLiteral("fleetProvider"))->setCurrentText(QStringLiteral("openai"));
    auto* field = panel->findChild<QComboBox*>(QStringLiteral("fleetField"));
    field->setCurrentIndex(field->findText(QStringLiteral("rpm")));
    panel->findChild<QDoubleSpinBox*>(QStringLiteral("fleetValue"))->setValue(123);
    QTest::mouseClick(panel->findChild<QPushButton*>(QStringLiteral("fleetApply")), Qt::LeftButton);
    auto* applied = panel->findChild<QLabel*>(QStringLiteral("fleetApplied"));
    QTRY_VERIFY_WITH_TIMEOUT(applied->text().contains(QStringLiteral("Applied to every instance")), kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(providerRpm(metrics.get("/metrics").body), std::int64_t{123}, kTimeoutMs);
    const LimitTarget provider{"openai", "", ""};
    QTRY_VERIFY_WITH_TIMEOUT(dimension(console.host(), provider, host::LimitField::Rpm) &&
                                 dimension(console.host(), provider, host::LimitField::Rpm)->spec.limit == 123,
                             kTimeoutMs);
    // serve counts the console's engine at its next fleet read.
    QTRY_VERIFY_WITH_TIMEOUT(metrics.get("/metrics").body.find("sluice_shared_fleet_size 3") != std::string::npos,
                             kTimeoutMs);
    const std::string shown = metrics.get("/metrics").body;
    QVERIFY(shown.find("sluice_shared_signals_applied_total 1") != std::string::npos);

    // A worker that stops leaves the fleet.
    stopProcess(worker);
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 2, kTimeoutMs);
    QCOMPARE(programs(table), QStringList({QStringLiteral("sluice console (this console)"), QStringLiteral("sluice-cli serve")}));
    stopProcess(serve);
}

void TestConsoleFleet::withoutSharedSaysHow()
{
    Console console;
    QCOMPARE(console.open(ui::OpenRequest{}), QString());
    auto* panel = console.showPanel<ui::FleetPanel>(QStringLiteral("fleetPanel"));
    QVERIFY(panel != nullptr);
    QVERIFY(panel->findChild<QLabel*>(QStringLiteral("fleetStatus"))->text().contains(QStringLiteral("\"shared\"")));
    QVERIFY(!panel->findChild<QPushButton*>(QStringLiteral("fleetApply"))->isEnabled());
}

QTEST_MAIN(TestConsoleFleet)
#include "tst_console_fleet.moc"
