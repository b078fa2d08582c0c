// Manual pages and bash completion written from the CLI11 app itself, so
// they list exactly the subcommands and options that --help shows and cannot
// drift from them. The build runs `sluice-cli --help-man DIR` and
// `sluice-cli --help-completion` (hidden flags) to produce what the packages
// install. Thread-safety: plain functions over a fully built app, one thread.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace sluice::cli {

// Writes sluice-cli.1 and one sluice-cli-<subcommand>.1 per subcommand into
// `dir`. Throws std::runtime_error naming the file it could not write.
void writeManualPages(const CLI::App& app, const std::string& dir);

// A bash completion script for sluice-cli: subcommands, their options, the
// values of options restricted to a set, file names for the others.
std::string bashCompletion(const CLI::App& app);

// Adds the hidden --help-man DIR and --help-completion flags to `app`. Both
// act as soon as they are parsed (before the subcommand requirement is
// checked) and end the parse with CLI::Success.
void addDocumentationFlags(CLI::App& app);

}  // namespace sluice::cli
