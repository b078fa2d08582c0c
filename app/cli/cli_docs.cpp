#include "cli/cli_docs.h"

#include "cli/commands.h"
#include "doc/roff.h"
#include "sluice_version.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <sstream>
#include <vector>

namespace sluice::cli {

namespace {

constexpr std::string_view kProgram = "sluice-cli";

std::string source()
{
    return std::string("Sluice ") + sluice::kSluiceVersion;
}

std::vector<const CLI::App*> subcommandsOf(const CLI::App& app)
{
    return app.get_subcommands([](const CLI::App* sub) { return !sub->get_group().empty(); });
}

// Options that --help lists: hidden ones have an empty group.
std::vector<const CLI::Option*> visibleOptions(const CLI::App& app)
{
    return app.get_options([](const CLI::Option* opt) { return !opt->get_group().empty(); });
}

std::vector<std::string> optionNames(const CLI::Option& opt)
{
    std::vector<std::string> names;
    for (const auto& s : opt.get_snames()) {
        names.push_back("-" + s);
    }
    for (const auto& l : opt.get_lnames()) {
        names.push_back("--" + l);
    }
    return names;
}

bool takesValue(const CLI::Option& opt)
{
    return opt.get_type_size_max() > 0 && opt.get_expected_max() > 0;
}

// The allowed values of an option checked by CLI::IsMember: its type name
// reads "TEXT:{a,b,c}".
std::vector<std::string> choices(const CLI::Option& opt)
{
    const std::string type = opt.get_type_name();
    const auto open = type.find('{');
    const auto close = type.find('}', open);
    std::vector<std::string> out;
    if (open == std::string::npos || close == std::string::npos) {
        return out;
    }
    std::stringstream list(type.substr(open + 1, close - open - 1));
    std::string item;
    while (std::getline(list, item, ',')) {
        const auto first = item.find_first_not_of(' ');
        if (first != std::string::npos) {
            out.push_back(item.substr(first));
        }
    }
    return out;
}

bool hasOption(const CLI::App& app, std::string_view name)
{
    for (const CLI::Option* opt : visibleOptions(app)) {
        for (const auto& n : optionNames(*opt)) {
            if (n == name) {
                return true;
            }
        }
    }
    return false;
}

void optionsSection(doc::ManPage& page, const CLI::App& app)
{
    page.section("Options");
    for (const CLI::Option* opt : visibleOptions(app)) {
        std::string tag;
        for (const auto& name : optionNames(*opt)) {
            tag += (tag.empty() ? "" : ", ") + doc::optionName(name);
        }
        if (takesValue(*opt)) {
            tag += " " + doc::italic(opt->get_type_name());
        }
        std::string body = doc::roffText(opt->get_description());
        if (!body.empty() && body.back() != '.') {
            body += '.';
        }
        if (!opt->get_default_str().empty()) {
            body += " Default: " + doc::bold(opt->get_default_str()) + ".";
        }
        if (opt->get_required()) {
            body += " Required.";
        }
        page.tagged(tag, body);
    }
}

void exitStatusSection(doc::ManPage& page)
{
    page.section("Exit status");
    page.tagged(doc::bold(std::to_string(kExitOk)), "Success.");
    page.tagged(doc::bold(std::to_string(kExitFailure)), "The work ran and something failed.");
    page.tagged(doc::bold(std::to_string(kExitBadInput)),
                "Bad flags, configuration or input; nothing was started or written.");
}

void filesSection(doc::ManPage& page)
{
    page.section("Files");
    page.tagged(doc::italic("$XDG_DATA_HOME/sluice/"),
                "Workspaces and state databases (default " + doc::italic("~/.local/share/sluice/") +
                    ") when no " + doc::optionName("--state") + " is given.");
    page.tagged(doc::italic("~/.config/sluice/gateway.json"),
                "The configuration the " + doc::bold("sluice-gateway.service") + " systemd user unit passes to " +
                    doc::bold("sluice-cli serve") + " (" + doc::bold("systemctl --user enable --now sluice-gateway") +
                    ").");
    page.tagged(doc::italic("~/.config/sluice/worker.json"),
                "The configuration the " + doc::bold("sluice-worker.service") + " systemd user unit passes to " +
                    doc::bold("sluice-cli worker") + ".");
    page.tagged(doc::italic("/usr/share/sluice/"),
                "Example configurations, the built-in pricing table and example workloads.");
}

std::string seeAlso(const CLI::App* sub, const std::vector<const CLI::App*>& all)
{
    std::vector<std::string> refs;
    if (sub != nullptr) {
        refs.push_back(doc::pageRef(kProgram, 1));
        if (hasOption(*sub, "--config")) {
            refs.push_back(doc::pageRef("sluice-config", 5));
        }
        if (hasOption(*sub, "--workload")) {
            refs.push_back(doc::pageRef("sluice-workload", 5));
        }
    } else {
        refs.push_back(doc::pageRef("sluice", 1));
        for (const CLI::App* s : all) {
            refs.push_back(doc::pageRef(std::string(kProgram) + "-" + s->get_name(), 1));
        }
        refs.push_back(doc::pageRef("sluice-config", 5));
        refs.push_back(doc::pageRef("sluice-workload", 5));
    }
    std::string out;
    for (const auto& r : refs) {
        out += (out.empty() ? "" : ", ") + r;
    }
    return out;
}

doc::ManPage mainPage(const CLI::App& app)
{
    const auto subs = subcommandsOf(app);
    doc::ManPage page(kProgram, 1, source(), "Sluice Manual");
    page.nameSection("run the Sluice rate-limit engine without a display");
    page.section("Synopsis");
    page.paragraph(doc::bold(kProgram) + " " + doc::italic("COMMAND") + " [" + doc::italic("OPTIONS") + "]");
    page.lineBreak();
    page.paragraph(doc::bold(kProgram) + " " + doc::optionName("--help") + " | " + doc::optionName("--version"));
    page.section("Description");
    page.paragraph(doc::roffText(app.get_description()));
    page.paragraph(doc::bold(kProgram) +
                   " runs the engine of Sluice headless: it admits each request only when every limit on its path "
                   "(provider, API key, model) has room for it, and settles its budget to the real usage afterwards. "
                   "Each command has its own manual page; " +
                   doc::bold("sluice-cli COMMAND --help") + " lists the same options.");
    page.section("Commands");
    for (const CLI::App* sub : subs) {
        page.tagged(doc::bold(sub->get_name()),
                    doc::roffText(sub->get_description()) + ". See " +
                        doc::pageRef(std::string(kProgram) + "-" + sub->get_name(), 1) + ".");
    }
    optionsSection(page, app);
    exitStatusSection(page);
    page.section("Environment");
    page.tagged(doc::bold("XDG_DATA_HOME"), "Where state is kept (see FILES).");
    page.paragraph("API keys come from the environment variables the configuration names (see " +
                   doc::pageRef("sluice-config", 5) + "), never from files or flags.");
    filesSection(page);
    page.section("See also");
    page.paragraph(seeAlso(nullptr, subs));
    return page;
}

doc::ManPage subcommandPage(const CLI::App& sub, const std::vector<const CLI::App*>& all)
{
    const std::string title = std::string(kProgram) + "-" + sub.get_name();
    doc::ManPage page(title, 1, source(), "Sluice Manual");
    std::string summary = sub.get_description();
    if (!summary.empty()) {
        summary[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(summary[0])));
    }
    page.nameSection(summary);
    page.section("Synopsis");
    page.paragraph(doc::bold(std::string(kProgram) + " " + sub.get_name()) + " [" + doc::italic("OPTIONS") + "]");
    page.section("Description");
    page.paragraph(doc::roffText(sub.get_description()) + ".");
    if (!sub.get_footer().empty()) {
        page.paragraph(doc::roffText(sub.get_footer()));
    }
    optionsSection(page, sub);
    exitStatusSection(page);
    filesSection(page);
    page.section("See also");
    page.paragraph(seeAlso(&sub, all));
    return page;
}

// Option names, subcommand names and choices are plain words: joined, they
// need no quoting in the script.
std::string join(const std::vector<std::string>& list, std::string_view separator)
{
    std::string out;
    for (const auto& w : list) {
        if (!out.empty()) {
            out += separator;
        }
        out += w;
    }
    return out;
}

std::string words(const std::vector<std::string>& list)
{
    return join(list, " ");
}

std::vector<std::string> allOptionNames(const CLI::App& app)
{
    std::vector<std::string> names;
    for (const CLI::Option* opt : visibleOptions(app)) {
        const auto n = optionNames(*opt);
        names.insert(names.end(), n.begin(), n.end());
    }
    return names;
}

void completionCase(std::ostream& out, const CLI::App& app, std::string_view label)
{
    out << "    " << label << ")\n        case \"$prev\" in\n";
    for (const CLI::Option* opt : visibleOptions(app)) {
        const auto names = optionNames(*opt);
        if (!takesValue(*opt) || names.empty()) {
            continue;
        }
        out << "            " << join(names, "|") << ")\n";
        const std::string type = opt->get_type_name();
        if (const auto values = choices(*opt); !values.empty()) {
            out << "                COMPREPLY=($(compgen -W '" << words(values) << "' -- \"$cur\")); return ;;\n";
        } else if (type.rfind("INT", 0) == 0 || type.rfind("UINT", 0) == 0 || type.rfind("FLOAT", 0) == 0) {
            out << "                COMPREPLY=(); return ;;\n";  // a number: nothing to offer
        } else {
            out << "                COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n";
        }
    }
    out << "        esac\n";
    out << "        COMPREPLY=($(compgen -W '" << words(allOptionNames(app)) << "' -- \"$cur\")) ;;\n";
}

}  // namespace

void writeManualPages(const CLI::App& app, const std::string& dir)
{
    const auto subs = subcommandsOf(app);
    mainPage(app).writeTo(dir + "/" + std::string(kProgram) + ".1");
    for (const CLI::App* sub : subs) {
        subcommandPage(*sub, subs).writeTo(dir + "/" + std::string(kProgram) + "-" + sub->get_name() + ".1");
    }
}

std::string bashCompletion(const CLI::App& app)
{
    const auto subs = subcommandsOf(app);
    std::vector<std::string> names;
    for (const CLI::App* sub : subs) {
        names.push_back(sub->get_name());
    }
    std::ostringstream out;
    out << "# bash completion for sluice-cli, generated by sluice-cli --help-completion (" << source() << ")\n"
        << "_sluice_cli()\n{\n"
        << "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd='' i\n"
        << "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        << "        case ${COMP_WORDS[i]} in\n"
        << "            " << join(names, "|") << ") cmd=${COMP_WORDS[i]}; break ;;\n"
        << "        esac\n    done\n"
        << "    case $cmd in\n";
    for (const CLI::App* sub : subs) {
        completionCase(out, *sub, sub->get_name());
    }
    out << "    *)\n        if [[ $cur == -* ]]; then\n"
        << "            COMPREPLY=($(compgen -W '" << words(allOptionNames(app)) << "' -- \"$cur\"))\n"
        << "        else\n"
        << "            COMPREPLY=($(compgen -W '" << words(names) << "' -- \"$cur\"))\n"
        << "        fi ;;\n"
        << "    esac\n}\n"
        << "complete -o filenames -F _sluice_cli sluice-cli\n";
    return out.str();
}

void addDocumentationFlags(CLI::App& app)
{
    // An empty group hides them from --help and from the pages themselves.
    app.add_option_function<std::string>(
           "--help-man",
           [&app](const std::string& dir) {
               writeManualPages(app, dir);
               throw CLI::Success();
           },
           "Write the manual pages into DIR")
        ->group("")
        ->trigger_on_parse();
    app.add_flag_callback(
           "--help-completion",
           [&app] {
               std::cout << bashCompletion(app);
               throw CLI::Success();
           },
           "Print a bash completion script")
        ->group("")
        ->trigger_on_parse();
}

}  // namespace sluice::cli
