#include "desktop/desktop_options.h"

#include "doc/roff.h"
#include "sluice_version.h"

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace sluice::app {

namespace {

void addOption(doc::ManPage& page, const QStringList& names, const QString& valueName, const QString& description)
{
    std::string tag;
    for (const QString& name : names) {
        tag += (tag.empty() ? "" : ", ") + doc::optionName((name.size() == 1 ? "-" : "--") + name.toStdString());
    }
    if (!valueName.isEmpty()) {
        tag += " " + doc::italic(valueName.toStdString());
    }
    page.tagged(tag, doc::roffText(description.toStdString()));
}

void writeManualPage(const std::string& dir)
{
    using namespace sluice::doc;
    ManPage page("sluice", 1, std::string("Sluice ") + kSluiceVersion, "Sluice Manual");
    page.nameSection("desktop console that keeps LLM API traffic under every provider limit");
    page.section("Synopsis");
    page.paragraph(bold("sluice") + " [" + italic("OPTIONS") + "]");
    page.section("Description");
    page.paragraph(roffText(desktopDescription().toStdString()));
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
}

}  // namespace

QString desktopDescription()
{
    return QStringLiteral("Sluice: keeps LLM API traffic just under every provider limit.");
}

std::optional<int> writeManualPageIfAsked(int argc, char** argv)
{
    if (argc != 3 || std::string_view(argv[1]) != "--help-man") {
        return std::nullopt;
    }
    try {
        writeManualPage(argv[2]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice: %s\n", e.what());
        return 1;
    }
    return 0;
}

}  // namespace sluice::app
