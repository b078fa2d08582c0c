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
// window gets its screenshot without a change here.
//
// Every wait is on a condition, polled by the event loop, with a deadline:
// a demo that never gets there is an error (exit status 1), not a set of
// empty pictures.
#include "key_vault.h"
#include "loadtest_panel.h"
#include "loadtest_runner.h"
#include "main_window.h"

#include <QApplication>
#include <QComboBox>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextStream>
#include <QTimer>

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
    parser.addOption(attachOption);
    parser.addOption(attachTokenOption);
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
        if (!save(window, dir, slugOf(tabs->tabText(i)))) {
            return 1;
        }
    }
    return 0;
}
