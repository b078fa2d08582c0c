// The desktop console's command-line options, defined once: main() gives
// them to its QCommandLineParser, and `sluice --help-man DIR` writes the
// sluice(1) manual page from them (the build runs it, before any display is
// needed), so the page cannot drift from --help.
// Thread-safety: none needed; plain values and a function run before the
// application starts.
#pragma once

#include <QCommandLineOption>
#include <QList>
#include <QString>

#include <optional>

namespace sluice::app {

struct DesktopOptions {
    QCommandLineOption demo{QStringLiteral("demo"), QStringLiteral("Open the demo: a built-in mock provider and a workload.")};
    QCommandLineOption workspace{QStringLiteral("workspace"), QStringLiteral("Open workspace NAME."),
                                 QStringLiteral("NAME")};
    QCommandLineOption firstRun{QStringLiteral("first-run"),
                                QStringLiteral("Show the first-run page even when a workspace could be reopened.")};

    QCommandLineOption attach{QStringLiteral("attach"),
                              QStringLiteral("Attach to a headless instance's control endpoint HOST:PORT (sluice-cli "
                                             "serve, batch or worker --control) instead of opening a workspace."),
                              QStringLiteral("ADDRESS")};
    QCommandLineOption attachTokenEnv{QStringLiteral("attach-token-env"),
                                      QStringLiteral("Environment variable holding the instance's control token."),
                                      QStringLiteral("VAR")};

    QList<QCommandLineOption> all() const { return {demo, workspace, firstRun, attach, attachTokenEnv}; }
};

// The one-line description --help prints.
QString desktopDescription();

// For `sluice --help-man DIR`: writes DIR/sluice.1 and returns the exit
// status (1, with the reason on stderr, when it cannot). Any other command
// line: nullopt, and the console starts as usual.
std::optional<int> writeManualPageIfAsked(int argc, char** argv);

}  // namespace sluice::app
