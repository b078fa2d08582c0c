// sluice-cli: the Sluice engine without a GUI.
#include "cli/cli_docs.h"
#include "cli/commands.h"
#include "sluice_version.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv)
{
    CLI::App app{"Sluice keeps LLM API traffic just under every rate limit.", "sluice-cli"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("sluice-cli ") + sluice::kSluiceVersion);
    sluice::cli::addDocumentationFlags(app);

    int exitCode = sluice::cli::kExitOk;
    sluice::cli::addDemoCommand(app, exitCode);
    sluice::cli::addBatchCommand(app, exitCode);
    sluice::cli::addMockCommand(app, exitCode);
    sluice::cli::addReportCommand(app, exitCode);
    sluice::cli::addLoadtestCommand(app, exitCode);
    sluice::cli::addTokensCommand(app, exitCode);
    sluice::cli::addServeCommand(app, exitCode);
    sluice::cli::addWorkerCommand(app, exitCode);
    sluice::cli::addWhatIfCommand(app, exitCode);
    sluice::cli::addLimitsCommand(app, exitCode);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return sluice::cli::kExitBadInput;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-cli: %s\n", e.what());
        return sluice::cli::kExitFailure;
    }
    return exitCode;
}
