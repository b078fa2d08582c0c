// sluice: the desktop console. Opens the last workspace, or the first-run
// page (try the demo, or connect a provider); `sluice --demo` goes straight
// to the demo: an embedded mock provider with realistic limits and a
// workload that pushes against them. `sluice --help-man DIR` writes
// sluice(1) (desktop/desktop_options.h).
#include "desktop/desktop_options.h"
#include "key_vault.h"
#include "main_window.h"
#include "sluice_version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>
#include <QStandardPaths>

#include "host/workspace.h"

#include <cstdio>
#include <filesystem>

int main(int argc, char** argv)
{
    if (const auto status = sluice::app::writeManualPageIfAsked(argc, argv)) {
        return *status;
    }
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("Sluice"));
    QApplication::setApplicationName(QStringLiteral("Sluice"));
    QApplication::setApplicationVersion(QString::fromLatin1(sluice::kSluiceVersion));

    QCommandLineParser parser;
    parser.setApplicationDescription(sluice::app::desktopDescription());
    parser.addHelpOption();
    parser.addVersionOption();
    const sluice::app::DesktopOptions options;
    const QCommandLineOption& demo = options.demo;
    const QCommandLineOption& workspace = options.workspace;
    const QCommandLineOption& firstRun = options.firstRun;
    parser.addOptions(options.all());
    parser.process(app);

    // Workspaces sit where sluice-cli keeps its state ($XDG_DATA_HOME/sluice).
    const QString dataHome = QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation);
    if (parser.isSet(workspace)) {
        // A name that does not exist is a mistake to report, not a reason to
        // open something else (or create an empty workspace) in its place.
        const QString name = parser.value(workspace);
        QString problem;
        try {
            if (!sluice::host::workspaceExists(name.toStdString(), std::filesystem::path(dataHome.toStdString()))) {
                const auto paths = sluice::host::workspacePaths(name.toStdString(), std::filesystem::path(dataHome.toStdString()));
                problem = QStringLiteral("no workspace \"%1\" (no %2); `sluice` without --workspace shows the "
                                         "first-run page, where a new one is made")
                              .arg(name, QString::fromStdString(paths.settings.string()));
            }
        } catch (const std::exception& e) {
            problem = QString::fromUtf8(e.what());
        }
        if (!problem.isEmpty()) {
            std::fprintf(stderr, "sluice: --workspace: %s\n", problem.toLocal8Bit().constData());
            return 2;
        }
    }

    std::optional<sluice::ui::RemoteTarget> attachTarget;
    if (parser.isSet(options.attach)) {
        attachTarget.emplace();
        attachTarget->address = parser.value(options.attach).toStdString();
        if (parser.isSet(options.attachTokenEnv)) {
            const QString var = parser.value(options.attachTokenEnv);
            if (qEnvironmentVariable(qPrintable(var)).isEmpty()) {
                std::fprintf(stderr, "sluice: --attach-token-env %s: the variable is not set or empty\n",
                             var.toLocal8Bit().constData());
                return 2;
            }
            attachTarget->token = sluice::Secret(qEnvironmentVariable(qPrintable(var)).toStdString());
        }
    }

    QSettings settings;
    sluice::ui::KeyVault vault;
    sluice::ui::MainWindow window(vault, settings, dataHome);
    window.show();

    sluice::ui::OpenRequest request;
    if (attachTarget) {
        window.attachInstance(std::move(*attachTarget));
    } else if (parser.isSet(demo)) {
        request.name = QStringLiteral("demo");
        request.demo = true;
        window.openWorkspace(std::move(request));
    } else if (parser.isSet(workspace)) {
        request.name = parser.value(workspace);
        window.openWorkspace(std::move(request));
    } else if (const auto last = window.lastWorkspace(); last && !parser.isSet(firstRun)) {
        request.name = *last;
        request.demo = *last == QStringLiteral("demo");
        window.openWorkspace(std::move(request));
    } else {
        window.showFirstRun();
    }
    return QApplication::exec();
}
