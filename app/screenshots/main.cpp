// sluice-screenshots: renders the console with live data from a demo run to
// PNG files (docs/screenshots/ by default), so anyone can see the app
// without running it. `make screenshots` runs it offscreen.
//
// It builds the real MainWindow over a throwaway data directory (and
// QStandardPaths' test mode, so no real settings are read or written),
// saves the first-run page, opens the demo, lets the demo run until the
// charts have something to say (requests completed, 429s met, a key out of
// quota, dead letters to fix), then shows every tab MainWindow has, in
// turn, and saves each. Tabs are found, not listed: a panel added to the
// window gets its screenshot without a change here. Last, it runs a small
// batch file through Workspace → Run batch file… and saves that dialog.
// Two other modes save one picture each: --attach (the console attached to
// a headless instance) and --fleet (the Fleet tab of a workspace sharing a
// Redis namespace with other running instances).
//
// Every wait is on a condition, polled by the event loop, with a deadline:
// a demo that never gets there is an error (exit status 1), not a set of
// empty pictures.
#include "batch_run_dialog.h"
#include "clients_panel.h"
#include "fleet_panel.h"
#include "http/http_client.h"
#include "key_vault.h"
#include "loadtest_panel.h"
#include "loadtest_runner.h"
#include "host/workspace.h"
#include "main_window.h"
#include "whatif_panel.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTimer>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextStream>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

namespace {

using namespace std::chrono_literals;

QTextStream& out()
{
    static QTextStream stream(stdout);
    return stream;
}

// Runs the event loop until `done` holds (checked every 100 ms) or
// `timeout` passes; says which.
bool waitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout)
{
    QElapsedTimer clock;
    clock.start();
    while (!done()) {
        if (clock.elapsed() > timeout.count()) {
            return false;
        }
        QEventLoop loop;
        QTimer::singleShot(100, &loop, &QEventLoop::quit);
        loop.exec();
    }
    return true;
}

// Lets timers fire and queued answers (the store worker's) arrive.
void settle(std::chrono::milliseconds duration)
{
    QEventLoop loop;
    QTimer::singleShot(duration, &loop, &QEventLoop::quit);
    loop.exec();
}

// "Providers, keys && limits" -> "providers-keys-limits".
// A configuration's text with every "rpm" and "tpm" limit halved.
QString halvedLimits(const QString& text)
{
    nlohmann::json doc = nlohmann::json::parse(text.toStdString(), nullptr, false);
    const std::function<void(nlohmann::json&)> walk = [&walk](nlohmann::json& j) {
        if (j.is_object()) {
            for (auto it = j.begin(); it != j.end(); ++it) {
                if ((it.key() == "rpm" || it.key() == "tpm") && it->is_number_integer()) {
                    *it = std::max<std::int64_t>(1, it->get<std::int64_t>() / 2);
                } else {
                    walk(*it);
                }
            }
        } else if (j.is_array()) {
            for (auto& e : j) {
                walk(e);
            }
        }
    };
    walk(doc);
    return QString::fromStdString(doc.dump(2));
}

QString slugOf(QString title)
{
    title.remove(QLatin1Char('&'));
    QString slug;
    for (const QChar c : title.toLower()) {
        if (c.isLetterOrNumber()) {
            slug += c;
        } else if (!slug.isEmpty() && !slug.endsWith(QLatin1Char('-'))) {
            slug += QLatin1Char('-');
        }
    }
    while (slug.endsWith(QLatin1Char('-'))) {
        slug.chop(1);
    }
    return slug;
}

bool save(QWidget& window, const QDir& dir, const QString& slug)
{
    const QString file = dir.filePath(slug + QStringLiteral(".png"));
    if (!window.grab().save(file)) {
        out() << "sluice-screenshots: cannot write " << file << Qt::endl;
        return false;
    }
    out() << "wrote " << file << Qt::endl;
    return true;
}

// The Clients tab with traffic: the demo workspace's gateway on a free
// loopback port, three tokens made through the view's own source, and
// chat requests sent through the gateway at different rates for 20 s (one
// over its limit, so it waits and meets 429s); then one token paused. All
// bounded, all to 127.0.0.1.
bool driveClients(sluice::ui::ClientsPanel& panel)
{
    sluice::ui::ClientsSource& source = panel.source();
    if (const QString error = source.startGateway(QStringLiteral("127.0.0.1:0"), 5); !error.isEmpty()) {
        out() << "sluice-screenshots: the gateway did not start: " << error << Qt::endl;
        return false;
    }
    struct Client {
        sluice::gateway::NewToken token;
        double perSecond = 0;
        const char* model = "gpt-4o-mini";
        sluice::Secret value;
        double due = 0;
    };
    using sluice::host::LimitField;
    std::vector<Client> clients(3);
    clients[0].token = {"billing-service", "billing", 5, {{LimitField::Rpm, 120}, {LimitField::Tpm, 60000}}, {}};
    clients[0].perSecond = 1.0;
    clients[1].token = {"search-indexer", "search", 0, {{LimitField::Rpm, 60}, {LimitField::Concurrency, 4}}, {}};
    clients[1].perSecond = 2.5;
    clients[2].token = {"support-bot", "support", 2, {{LimitField::Rpm, 30}}, {"claude-haiku-4-5"}};
    clients[2].perSecond = 0.4;
    clients[2].model = "claude-haiku-4-5";
    for (Client& c : clients) {
        if (const QString error = source.createToken(c.token, c.value); !error.isEmpty()) {
            out() << "sluice-screenshots: no token: " << error << Qt::endl;
            return false;
        }
    }
    const std::string url = source.gatewayState().url.toStdString();
    sluice::http::HttpClient client;
    QTimer send;
    QTimer poll;
    std::size_t sent = 0;
    QObject::connect(&send, &QTimer::timeout, &panel, [&] {
        for (Client& c : clients) {
            c.due += c.perSecond / 10;
            for (; c.due >= 1; c.due -= 1) {
                sluice::http::HttpRequest r;
                const bool anthropic = std::string_view(c.model).rfind("claude", 0) == 0;
                r.url = url + (anthropic ? "/v1/messages" : "/v1/chat/completions");
                r.headers = {"Content-Type: application/json", "anthropic-version: 2023-06-01"};
                r.secretHeader = c.value.prefixed("Authorization: Bearer ");
                r.body = std::string(R"({"model":")") + c.model +
                         R"(","max_tokens":64,"messages":[{"role":"user","content":"Summarise this ticket"}]})";
                client.start(std::move(r), sluice::http::TransferHandlers{{}, {}, [](sluice::http::HttpResult&&) {}, {}});
                ++sent;
            }
        }
    });
    QObject::connect(&poll, &QTimer::timeout, &panel, [&] { client.poll(sluice::Duration::zero()); });
    send.start(100);
    poll.start(20);
    out() << "sending through the gateway for 20 s…" << Qt::endl;
    settle(18s);
    source.setTenantPaused(QStringLiteral("support-bot"), true);
    settle(2s);
    send.stop();
    out() << sent << " requests sent through the gateway" << Qt::endl;
    panel.refresh();
    if (auto* table = panel.findChild<QTableWidget*>(QStringLiteral("clientsTable")); table && table->rowCount() > 1) {
        table->selectRow(1);
    }
    settle(600ms);
    return true;
}

// Workspace → Run batch file… on the demo: a small file with two bad lines
// (not JSON, a model no provider serves), its valid lines queued anyway and
// followed while they run beside the demo's traffic. Saves the dialog.
bool runBatchFile(sluice::ui::MainWindow& window, const QString& dataHome, const QDir& dir)
{
    const QString input = dataHome + QStringLiteral("/requests.jsonl");
    {
        QFile f(input);
        if (!f.open(QIODevice::WriteOnly)) {
            out() << "sluice-screenshots: cannot write " << input << Qt::endl;
            return false;
        }
        for (int i = 0; i < 60; ++i) {
            const QString model = i == 17 ? QStringLiteral("gpt-7-imaginary") : QStringLiteral("gpt-4o-mini");
            const QString line =
                i == 8 ? QStringLiteral("{\"custom_id\": \"summary-8\", \"url\": \"/v1/chat/completions\", \"body\": {\n")
                       : QStringLiteral("{\"custom_id\": \"summary-%1\", \"method\": \"POST\", \"url\": "
                                        "\"/v1/chat/completions\", \"body\": {\"model\": \"%2\", \"max_tokens\": 64, "
                                        "\"messages\": [{\"role\": \"user\", \"content\": \"Summarise ticket %1\"}]}}\n")
                             .arg(i)
                             .arg(model);
            f.write(line.toUtf8());
        }
    }
    auto* action = window.findChild<QAction*>(QStringLiteral("runBatchFile"));
    if (action == nullptr) {
        out() << "sluice-screenshots: no Run batch file action" << Qt::endl;
        return false;
    }
    action->trigger();
    auto* dialog = window.findChild<sluice::ui::BatchRunDialog*>(QStringLiteral("batchRunDialog"));
    if (dialog == nullptr) {
        out() << "sluice-screenshots: the batch dialog did not open" << Qt::endl;
        return false;
    }
    dialog->resize(980, 640);
    dialog->setInputPath(input);
    dialog->setOutputPath(dataHome + QStringLiteral("/results.jsonl"));
    int rejected = -1;
    QObject::connect(dialog, &sluice::ui::BatchRunDialog::fileRead, dialog, [&](int, int r) { rejected = r; });
    dialog->findChild<QPushButton*>(QStringLiteral("read"))->click();
    if (!waitFor([&] { return rejected >= 0; }, 30s)) {
        out() << "sluice-screenshots: the batch file was not read in 30 s" << Qt::endl;
        return false;
    }
    dialog->findChild<QCheckBox*>(QStringLiteral("queueValidLines"))->setChecked(true);
    dialog->findChild<QPushButton*>(QStringLiteral("queue"))->click();
    out() << "running a batch file beside the demo…" << Qt::endl;
    // Part-way is the picture: progress, the rejects and the buttons live.
    if (!waitFor([dialog] { return dialog->tally().finished() >= 20; }, 120s)) {
        out() << "sluice-screenshots: the batch made no progress in 120 s" << Qt::endl;
        return false;
    }
    settle(600ms);
    const QString file = dir.filePath(QStringLiteral("batch-run.png"));
    if (!dialog->grab().save(file)) {
        out() << "sluice-screenshots: cannot write " << file << Qt::endl;
        return false;
    }
    out() << "wrote " << file << Qt::endl;
    dialog->close();
    return true;
}

// --attach: the console attached to a running headless instance (its
// control endpoint), the dashboard saved once the instance has completed
// requests and `runSeconds` have passed.
int attachedShot(sluice::ui::MainWindow& window, const QDir& dir, sluice::ui::RemoteTarget target, int runSeconds,
                 int timeoutSeconds)
{
    QString failure;
    bool opened = false;
    QObject::connect(&window, &sluice::ui::MainWindow::sessionOpened, &window, [&] { opened = true; });
    QObject::connect(&window, &sluice::ui::MainWindow::openFailed, &window,
                     [&](const QString& error) { failure = error; });
    window.show();
    window.attachInstance(std::move(target));
    if (!waitFor([&] { return opened || !failure.isEmpty(); }, 30s) || !opened) {
        out() << "sluice-screenshots: could not attach: " << failure << Qt::endl;
        return 1;
    }
    window.tabs()->setCurrentIndex(0);
    QElapsedTimer running;
    running.start();
    out() << "watching the attached instance for at least " << runSeconds << " s…" << Qt::endl;
    if (!waitFor([&] {
            return running.elapsed() >= runSeconds * 1000 &&
                   window.session()->backend().status().dispatch.completed >= 50;
        },
                 std::chrono::seconds(timeoutSeconds))) {
        out() << "sluice-screenshots: the attached instance completed fewer than 50 requests" << Qt::endl;
        return 1;
    }
    settle(1500ms);
    return save(window, dir, QStringLiteral("attached-dashboard")) ? 0 : 1;
}

// --fleet: a workspace made from CONFIG (a configuration with a "shared"
// section, the one the other instances run with) whose demo workload sends
// to an embedded mock, while chat requests go at 3 a second to another
// instance's gateway (`gatewayUrl`, loopback, bounded by the run); the
// Fleet tab is saved once it lists at least two instances, every one with
// requests per minute above zero.
int fleetShot(sluice::ui::MainWindow& window, const QDir& dir, const QString& configPath, const QString& gatewayUrl,
              int runSeconds, int timeoutSeconds)
{
    QFile file(configPath);
    if (!file.open(QIODevice::ReadOnly)) {
        out() << "sluice-screenshots: cannot read " << configPath << Qt::endl;
        return 2;
    }
    const nlohmann::json config = nlohmann::json::parse(file.readAll().toStdString(), nullptr, false);
    if (!config.is_object() || !config.contains("shared")) {
        out() << "sluice-screenshots: " << configPath << ": a configuration with a \"shared\" section is needed" << Qt::endl;
        return 2;
    }
    sluice::ui::OpenRequest request;
    request.name = QStringLiteral("fleet");
    request.replace = true;
    try {
        const nlohmann::json doc = {{"sluice_workspace", 1}, {"demo", true}, {"config", config}};
        request.create = sluice::host::WorkspaceConfig::parse(configPath.toStdString(), doc.dump(2));
    } catch (const std::exception& e) {
        out() << "sluice-screenshots: " << e.what() << Qt::endl;
        return 2;
    }
    // The stock mock, knowing the demo's keys (SLUICE_DEMO_KEY_*), fast.
    sluice::mock::MockConfig mock = sluice::mock::MockConfig::defaults();
    for (const char* key : {"sk-demo-team-a", "sk-demo-team-b", "sk-demo-trial", "sk-demo-anthropic"}) {
        mock.keys[key] = sluice::mock::MockKey{};
    }
    mock.latency.baseMs = 150;
    mock.latency.perOutputTokenMs = 2;
    request.mock = mock;
    sluice::host::DemoWorkloadOptions workload;
    workload.rate = 4;
    workload.swing = 0.3;
    workload.anthropicShare = 0;
    workload.invalidEvery = 0;
    request.workload = workload;

    QString failure;
    bool opened = false;
    QObject::connect(&window, &sluice::ui::MainWindow::sessionOpened, &window, [&] { opened = true; });
    QObject::connect(&window, &sluice::ui::MainWindow::openFailed, &window,
                     [&](const QString& error) { failure = error; });
    window.show();
    window.openWorkspace(std::move(request));
    if (!waitFor([&] { return opened || !failure.isEmpty(); }, 30s) || !opened) {
        out() << "sluice-screenshots: the fleet workspace did not open: " << failure << Qt::endl;
        return 1;
    }
    auto* panel = window.tabs()->findChild<sluice::ui::FleetPanel*>(QStringLiteral("fleetPanel"));
    if (panel == nullptr) {
        out() << "sluice-screenshots: no Fleet tab" << Qt::endl;
        return 1;
    }
    window.tabs()->setCurrentWidget(panel);
    auto* table = panel->findChild<QTableWidget*>(QStringLiteral("fleetTable"));

    // Counted by the client's handlers: declared before it, so they outlive it.
    std::uint64_t sent = 0;
    std::uint64_t answered = 0;
    sluice::http::HttpClient client;
    QTimer send;
    QTimer poll;
    const std::string url = gatewayUrl.toStdString() + "/v1/chat/completions";
    QObject::connect(&send, &QTimer::timeout, &window, [&] {
        sluice::http::HttpRequest r;
        r.url = url;
        r.headers = {"Content-Type: application/json"};
        r.body = R"({"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"Summarise this ticket"}]})";
        client.start(std::move(r), sluice::http::TransferHandlers{{}, {}, [&answered](sluice::http::HttpResult&& res) {
                                                                       answered += res.status == 200 ? 1 : 0;
                                                                   }, {}});
        ++sent;
    });
    QObject::connect(&poll, &QTimer::timeout, &window, [&] { client.poll(sluice::Duration::zero()); });
    if (!gatewayUrl.isEmpty()) {
        send.start(333);
        poll.start(20);
    }
    // Requests per minute, column 3, above zero on every row.
    const auto everyRowBusy = [table] {
        if (table->rowCount() < 2) {
            return false;
        }
        for (int row = 0; row < table->rowCount(); ++row) {
            const QTableWidgetItem* rpm = table->item(row, 3);
            if (rpm == nullptr || rpm->text().toDouble() <= 0) {
                return false;
            }
        }
        return true;
    };
    QElapsedTimer running;
    running.start();
    out() << "running the fleet for at least " << runSeconds << " s…" << Qt::endl;
    const bool ready =
        waitFor([&] { return running.elapsed() >= runSeconds * 1000 && everyRowBusy(); }, std::chrono::seconds(timeoutSeconds));
    send.stop();
    out() << "sent " << sent << " requests through " << gatewayUrl << ", " << answered << " answered" << Qt::endl;
    if (!ready) {
        out() << "sluice-screenshots: the Fleet tab lists " << table->rowCount()
              << " instances, not two or more each with requests per minute above zero" << Qt::endl;
        return 1;
    }
    settle(1000ms);
    const bool saved = save(window, dir, QStringLiteral("fleet"));
    // What is still in flight ends with the client, before the window.
    poll.stop();
    return saved ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv)
{
    // No keychain service may answer: a desktop's keychain could ask to be
    // unlocked, and the pictures must not depend on the machine.
    qputenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/sluice-screenshots");
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("Sluice"));
    // Its own name, so the settings it clears are nobody else's (tests use
    // test mode too).
    QApplication::setApplicationName(QStringLiteral("Sluice screenshots"));
    QStandardPaths::setTestModeEnabled(true);

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Renders the console on a live demo run to PNG files."));
    parser.addHelpOption();
    const QCommandLineOption outOption(QStringLiteral("out"), QStringLiteral("Write the PNG files to DIR."),
                                       QStringLiteral("DIR"), QStringLiteral("docs/screenshots"));
    const QCommandLineOption sizeOption(QStringLiteral("size"), QStringLiteral("Window size, WIDTHxHEIGHT."),
                                        QStringLiteral("SIZE"), QStringLiteral("1400x900"));
    const QCommandLineOption runOption(QStringLiteral("run-seconds"),
                                       QStringLiteral("Let the demo run at least this long first."),
                                       QStringLiteral("SECONDS"), QStringLiteral("60"));
    const QCommandLineOption timeoutOption(QStringLiteral("timeout"),
                                           QStringLiteral("Give up when the demo has not shown everything by then."),
                                           QStringLiteral("SECONDS"), QStringLiteral("240"));
    const QCommandLineOption attachOption(
        QStringLiteral("attach"),
        QStringLiteral("Attach to a headless instance's control endpoint HOST:PORT instead of running the demo, and "
                       "save attached-dashboard.png only."),
        QStringLiteral("ADDRESS"));
    const QCommandLineOption attachTokenOption(QStringLiteral("attach-token-env"),
                                               QStringLiteral("Environment variable holding the instance's token."),
                                               QStringLiteral("VAR"));
    const QCommandLineOption fleetOption(
        QStringLiteral("fleet"),
        QStringLiteral("Open a workspace made from CONFIG (a configuration with a \"shared\" section) and save its "
                       "Fleet tab as fleet.png only, once it lists two instances or more with traffic."),
        QStringLiteral("CONFIG"));
    const QCommandLineOption fleetGatewayOption(
        QStringLiteral("fleet-gateway"),
        QStringLiteral("With --fleet: send chat requests, 3 a second, to this gateway (another instance's, "
                       "http://127.0.0.1:PORT) while it runs."),
        QStringLiteral("URL"));
    parser.addOption(attachOption);
    parser.addOption(attachTokenOption);
    parser.addOption(fleetOption);
    parser.addOption(fleetGatewayOption);
    parser.addOption(outOption);
    parser.addOption(sizeOption);
    parser.addOption(runOption);
    parser.addOption(timeoutOption);
    parser.process(app);

    const QStringList size = parser.value(sizeOption).split(QLatin1Char('x'));
    const int width = size.value(0).toInt();
    const int height = size.value(1).toInt();
    const int runSeconds = parser.value(runOption).toInt();
    const int timeoutSeconds = parser.value(timeoutOption).toInt();
    if (size.size() != 2 || width < 640 || height < 480 || runSeconds < 0 || timeoutSeconds <= runSeconds) {
        out() << "sluice-screenshots: --size must be WIDTHxHEIGHT (at least 640x480) and --timeout above --run-seconds"
              << Qt::endl;
        return 2;
    }
    const QDir dir(parser.value(outOption));
    if (!QDir().mkpath(dir.path())) {
        out() << "sluice-screenshots: cannot create " << dir.path() << Qt::endl;
        return 2;
    }

    QTemporaryDir dataHome;
    if (!dataHome.isValid()) {
        out() << "sluice-screenshots: no temporary directory: " << dataHome.errorString() << Qt::endl;
        return 1;
    }
    // A fresh start each time: the dashboard's range and the last tab are
    // settings, and the pictures must not depend on the previous run.
    QSettings settings;
    settings.clear();

    sluice::ui::KeyVault vault;
    sluice::ui::MainWindow window(vault, settings, dataHome.path());
    window.resize(width, height);
    if (parser.isSet(attachOption)) {
        sluice::ui::RemoteTarget target;
        target.address = parser.value(attachOption).toStdString();
        if (parser.isSet(attachTokenOption)) {
            target.token = sluice::Secret(qEnvironmentVariable(qPrintable(parser.value(attachTokenOption))).toStdString());
        }
        return attachedShot(window, dir, std::move(target), runSeconds, timeoutSeconds);
    }
    if (parser.isSet(fleetOption)) {
        return fleetShot(window, dir, parser.value(fleetOption), parser.value(fleetGatewayOption), runSeconds,
                         timeoutSeconds);
    }
    window.showFirstRun();
    window.show();
    settle(500ms);
    if (!save(window, dir, QStringLiteral("first-run"))) {
        return 1;
    }

    QString failure;
    bool opened = false;
    QObject::connect(&window, &sluice::ui::MainWindow::sessionOpened, &window, [&] { opened = true; });
    QObject::connect(&window, &sluice::ui::MainWindow::openFailed, &window,
                     [&](const QString& error) { failure = error; });
    sluice::ui::OpenRequest request;
    request.name = QStringLiteral("demo");
    request.demo = true;
    window.openWorkspace(std::move(request));
    if (!waitFor([&] { return opened || !failure.isEmpty(); }, 30s) || !opened) {
        out() << "sluice-screenshots: the demo did not open: " << failure << Qt::endl;
        return 1;
    }
    QTabWidget* tabs = window.tabs();
    tabs->setCurrentIndex(0);

    // What the pictures must show, as the engine counts it.
    struct Wanted {
        const char* what;
        std::function<bool(const sluice::host::HostStatus&)> met;
    };
    using sluice::FailureClass;
    const auto failures = [](const sluice::host::HostStatus& s, FailureClass c) {
        return s.dispatch.failures[static_cast<std::size_t>(c)];
    };
    const std::vector<Wanted> wanted = {
        {"300 requests completed", [](const auto& s) { return s.dispatch.completed >= 300; }},
        {"a 429 met (rate limited)", [&](const auto& s) { return failures(s, FailureClass::RateLimited) > 0; }},
        {"a key out of quota", [&](const auto& s) { return failures(s, FailureClass::QuotaExhausted) > 0; }},
        {"a dead letter", [](const auto& s) { return s.dispatch.deadLettered > 0; }},
        {"requests queued for admission", [](const auto& s) { return s.dispatch.queued > 0; }},
    };
    sluice::host::EngineHost& host = window.session()->host();
    QElapsedTimer running;
    running.start();
    // Once seen is enough: a queue that has drained still drew its line.
    std::vector<bool> seen(wanted.size(), false);
    const auto missing = [&] {
        QStringList list;
        const sluice::host::HostStatus s = host.status();
        for (std::size_t i = 0; i < wanted.size(); ++i) {
            seen[i] = seen[i] || wanted[i].met(s);
            if (!seen[i]) {
                list << QString::fromLatin1(wanted[i].what);
            }
        }
        return list;
    };
    out() << "running the demo for at least " << runSeconds << " s…" << Qt::endl;
    const bool ready = waitFor([&] { return running.elapsed() >= runSeconds * 1000 && missing().isEmpty(); },
                               std::chrono::seconds(timeoutSeconds));
    if (!ready) {
        out() << "sluice-screenshots: after " << running.elapsed() / 1000 << " s the demo has not shown: "
              << missing().join(QStringLiteral(", ")) << Qt::endl;
        return 1;
    }
    const sluice::host::HostStatus status = host.status();
    out() << "after " << running.elapsed() / 1000 << " s: " << status.dispatch.completed << " completed, "
          << failures(status, FailureClass::RateLimited) << " 429s, " << status.dispatch.deadLettered
          << " dead letters" << Qt::endl;

    for (int i = 0; i < tabs->count(); ++i) {
        // The demo shares nothing, so its Fleet tab only says how to: the
        // Fleet picture comes from --fleet, with other instances running.
        if (qobject_cast<sluice::ui::FleetPanel*>(tabs->widget(i)) != nullptr) {
            continue;
        }
        tabs->setCurrentIndex(i);
        // A panel refreshes when shown; its store reads answer from a
        // worker thread a moment later.
        settle(1500ms);
        // A list shows more with a row selected (the dead letters' timeline
        // and body): select the first where there is one.
        if (auto* table = tabs->widget(i)->findChild<QTableWidget*>(QStringLiteral("deadLetters"))) {
            waitFor([table] { return table->rowCount() > 0; }, 10s);
            if (table->rowCount() > 0) {
                table->selectRow(0);
                settle(1000ms);
            }
        }
        // The load-test tab shows a finished comparison: the ramp to 5x
        // (it meets the TPM limit about 25 s in) for 45 s through Sluice,
        // then through a naive client with 5 in flight, each against its
        // own mock.
        if (auto* panel = qobject_cast<sluice::ui::LoadTestPanel*>(tabs->widget(i))) {
            auto* workload = panel->findChild<QComboBox*>(QStringLiteral("workload"));
            workload->setCurrentIndex(std::max(0, workload->findData(QStringLiteral("ramp-to-5x.json"))));
            panel->findChild<QSpinBox*>(QStringLiteral("duration"))->setValue(45);
            panel->findChild<QComboBox*>(QStringLiteral("compare"))->setCurrentIndex(1);
            panel->findChild<QSpinBox*>(QStringLiteral("naiveConcurrency"))->setValue(5);
            panel->findChild<QPushButton*>(QStringLiteral("start"))->click();
            out() << "running a load test with a naive comparison…" << Qt::endl;
            if (!waitFor([panel] { return panel->runner().progress().phase == sluice::ui::RunnerPhase::Finished; },
                         300s)) {
                out() << "sluice-screenshots: the load test did not finish in 300 s" << Qt::endl;
                return 1;
            }
            settle(1500ms);
        }
        if (auto* clients = qobject_cast<sluice::ui::ClientsPanel*>(tabs->widget(i))) {
            if (!driveClients(*clients)) {
                return 1;
            }
        }
        // The what-if tab replays this demo run's own recorded usage under
        // the demo's configuration with every RPM and TPM limit halved.
        if (auto* panel = qobject_cast<sluice::ui::WhatIfPanel*>(tabs->widget(i))) {
            panel->setProposedConfigText(halvedLimits(panel->proposedConfigText()));
            bool finished = false;
            QObject::connect(panel, &sluice::ui::WhatIfPanel::finished, panel, [&finished] { finished = true; });
            panel->run();
            out() << "replaying the demo's usage with its limits halved…" << Qt::endl;
            if (!waitFor([&finished] { return finished; }, 120s) || !panel->result()) {
                out() << "sluice-screenshots: the what-if replay did not finish" << Qt::endl;
                return 1;
            }
            settle(1000ms);
        }
        if (!save(window, dir, slugOf(tabs->tabText(i)))) {
            return 1;
        }
    }
    return runBatchFile(window, dataHome.path(), dir) ? 0 : 1;
}
