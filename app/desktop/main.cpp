// sluice: the desktop console. Opens the last workspace, or the first-run
// page (try the demo, or connect a provider); `sluice --demo` goes straight
// to the demo: an embedded mock provider with realistic limits and a
// workload that pushes against them.
//
// `sluice --help-man DIR` (used by the build, before any display is needed)
// writes sluice.1 from the same option definitions the parser uses.
#include "doc/roff.h"
#include "key_vault.h"
#include "main_window.h"
#include "sluice_version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>
#include <QStandardPaths>

#include <cstdio>
#include <exception>
#include <string_view>

namespace {

const QString kDescription = QStringLiteral("Sluice: keeps LLM API traffic just under every provider limit.");

struct DesktopOptions {
    QCommandLineOption demo{QStringLiteral("demo"), QStringLiteral("Open the demo: a built-in mock provider and a workload.")};
    QCommandLineOption workspace{QStringLiteral("workspace"), QStringLiteral("Open workspace NAME."), QStringLiteral("NAME")};
    QCommandLineOption firstRun{QStringLiteral("first-run"),
                                QStringLiteral("Show the first-run page even when a workspace could be reopened.")};

    QList<QCommandLineOption> all() const { return {demo, workspace, firstRun}; }
};

void addOption(sluice::doc::ManPage& page, const QStringList& names, const QString& valueName, const QString& description)
{
    std::string tag;
    for (const QString& name : names) {
        tag += (tag.empty() ? "" : ", ") + sluice::doc::optionName((name.size() == 1 ? "-" : "--") + name.toStdString());
    }
    if (!valueName.isEmpty()) {
        tag += " " + sluice::doc::italic(valueName.toStdString());
    }
    page.tagged(tag, sluice::doc::roffText(description.toStdString()));
}

int writeManualPage(const std::string& dir)
{
    using namespace sluice::doc;
    ManPage page("sluice", 1, std::string("Sluice ") + sluice::kSluiceVersion, "Sluice Manual");
    page.nameSection("desktop console that keeps LLM API traffic under every provider limit");
    page.section("Synopsis");
    page.paragraph(bold("sluice") + " [" + italic("OPTIONS") + "]");
    page.section("Description");
    page.paragraph(roffText(kDescription.toStdString()));
    page.paragraph(bold("sluice") +
                   " opens the last workspace, or the first-run page (try the demo, or connect a provider). Its tabs: "
                   "the dashboard (requests and tokens per minute against their limits, 429s, latency, queue, spend), "
                   "providers, keys and limits (edited while traffic flows), the queue, dead letters and load tests. "
                   "The same engine runs headless as " +
                   pageRef("sluice-cli", 1) + ".");
    page.section("Options");
    for (const QCommandLineOption& opt : DesktopOptions{}.all()) {
        addOption(page, opt.names(), opt.valueName(), opt.description());
    }
    // What QCommandLineParser::addHelpOption and addVersionOption add.
    addOption(page, {QStringLiteral("h"), QStringLiteral("help")}, {}, QStringLiteral("Display help on the options."));
    addOption(page, {QStringLiteral("help-all")}, {}, QStringLiteral("Display help including Qt specific options."));
    addOption(page, {QStringLiteral("v"), QStringLiteral("version")}, {}, QStringLiteral("Display version information."));
    page.section("Files");
    page.tagged(italic("$XDG_DATA_HOME/sluice/"),
                "Workspaces (default " + italic("~/.local/share/sluice/") + "), shared with " + bold("sluice-cli") + ".");
    page.tagged(italic("$XDG_CONFIG_HOME/Sluice/Sluice.conf"),
                "The console's settings (default " + italic("~/.config/Sluice/Sluice.conf") +
                    "). API keys are kept in the system keychain or read from environment variables, never here.");
    page.section("See also");
    page.paragraph(pageRef("sluice-cli", 1) + ", " + pageRef("sluice-config", 5) + ", " + pageRef("sluice-workload", 5));
    page.writeTo(dir + "/sluice.1");
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc == 3 && std::string_view(argv[1]) == "--help-man") {
        try {
            return writeManualPage(argv[2]);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "sluice: %s\n", e.what());
            return 1;
        }
    }

    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("Sluice"));
    QApplication::setApplicationName(QStringLiteral("Sluice"));
    QApplication::setApplicationVersion(QString::fromLatin1(sluice::kSluiceVersion));

    QCommandLineParser parser;
    parser.setApplicationDescription(kDescription);
    parser.addHelpOption();
    parser.addVersionOption();
    const DesktopOptions options;
    parser.addOptions(options.all());
    parser.process(app);
    const QCommandLineOption& demo = options.demo;
    const QCommandLineOption& workspace = options.workspace;
    const QCommandLineOption& firstRun = options.firstRun;

    QSettings settings;
    sluice::ui::KeyVault vault;
    // Workspaces sit where sluice-cli keeps its state ($XDG_DATA_HOME/sluice).
    sluice::ui::MainWindow window(vault, settings, QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation));
    window.show();

    sluice::ui::OpenRequest request;
    if (parser.isSet(demo)) {
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
