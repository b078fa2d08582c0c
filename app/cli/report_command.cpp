// `sluice-cli report`: a usage report from the per-minute metrics a run
// recorded in its state database, as CSV, JSON or one self-contained HTML
// file. Reads only; the output is written atomically.
#include "cli/commands.h"
#include "cli/progress.h"

#include "core/atomic_file.h"
#include "core/timefmt.h"
#include "metrics/report.h"
#include "metrics/rollup_store.h"

#include <CLI/CLI.hpp>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <iostream>

namespace sluice::cli {

namespace {

struct ReportOptions {
    std::string state;
    std::string from;
    std::string to;
    std::string by = "model";
    std::string format;
    std::string output;
};

// RFC 3339, or a date alone for its UTC midnight.
std::optional<WallTime> parseTime(const std::string& text)
{
    if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
        return parseRfc3339(text + "T00:00:00Z");
    }
    return parseRfc3339(text);
}

// The format named by the output file's extension: CSV for none (or standard
// output), empty for an extension that names no format this writes.
std::string formatFromOutput(const std::string& output)
{
    std::string ext = std::filesystem::path(output).extension().string();
    for (char& c : ext) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (ext.empty() || ext == ".csv") {
        return "csv";
    }
    if (ext == ".json") {
        return "json";
    }
    if (ext == ".html" || ext == ".htm") {
        return "html";
    }
    return {};
}

int runReport(const ReportOptions& opt)
{
    const auto bad = [](const std::string& message) {
        std::fprintf(stderr, "sluice-cli report: %s\n", message.c_str());
        return kExitBadInput;
    };
    metrics::ReportGrouping by{};
    if (!metrics::parseGrouping(opt.by, by)) {
        return bad("--by: must be key, model, provider, hour or day (got \"" + opt.by + "\")");
    }
    metrics::ReportFormat format{};
    const std::string formatName = opt.format.empty() ? formatFromOutput(opt.output) : opt.format;
    if (formatName.empty()) {
        return bad("--output " + opt.output + ": reports are written as csv, json or html; name the file .csv, .json "
                   "or .html, or give --format");
    }
    if (!metrics::parseReportFormat(formatName, format)) {
        return bad("--format: must be csv, json or html (got \"" + opt.format + "\")");
    }
    std::optional<WallTime> from;
    std::optional<WallTime> to;
    if (!opt.from.empty() && !(from = parseTime(opt.from))) {
        return bad("--from: \"" + opt.from + "\" is not a date (2026-01-31) or an RFC 3339 time (2026-01-31T08:00:00Z)");
    }
    if (!opt.to.empty() && !(to = parseTime(opt.to))) {
        return bad("--to: \"" + opt.to + "\" is not a date (2026-01-31) or an RFC 3339 time (2026-01-31T08:00:00Z)");
    }
    if (from && to && *from >= *to) {
        return bad("--from must be before --to");
    }
    std::error_code ec;
    if (!std::filesystem::is_regular_file(opt.state, ec)) {
        return bad(opt.state + ": no such state file");
    }

    std::vector<metrics::RollupRow> rows;
    try {
        store::StoreOptions so;
        so.readOnly = true;
        const metrics::RollupStore rollups(opt.state, so);
        const auto extent = rollups.extent();
        const WallTime now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
        if (!from) {
            from = extent ? extent->first : now;
        }
        if (!to) {
            to = extent ? extent->second + std::chrono::minutes(1) : std::max(*from, now) + std::chrono::minutes(1);
        }
        if (*from >= *to) {
            return bad("--from " + formatRfc3339(*from) + " is after the last metrics in " + opt.state + " (" +
                       formatRfc3339(*to) + "); give --to");
        }
        rows = rollups.rows(*from, *to);
        if (!extent) {
            std::fprintf(stderr, "sluice-cli report: %s holds no metrics yet; the report is empty\n", opt.state.c_str());
        }
    } catch (const store::StoreError& e) {
        return bad(std::string(e.what()) + "\nNo report was written.");
    }

    metrics::Report report = metrics::buildReport(rows, *from, *to, by);
    // The file's name only: a report is passed around, the directory layout
    // of the machine that ran the batch is nobody's business.
    report.source = std::filesystem::path(opt.state).filename().string();
    report.generatedAt = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    const std::string text = metrics::renderReport(report, format);
    if (opt.output.empty() || opt.output == "-") {
        std::cout << text << std::flush;
    } else {
        try {
            writeFileAtomically(opt.output, [&](std::ostream& out) { out << text; });
        } catch (const FileError& e) {
            std::fprintf(stderr, "sluice-cli report: %s\n", e.what());
            return kExitFailure;
        }
    }
    const metrics::Totals& t = report.total.totals;
    std::fprintf(stderr, "%s: %zu rows by %s, %s to %s: %s requests, %s completed, spend %s%s\n",
                 opt.output.empty() ? "stdout" : opt.output.c_str(), report.rows.size(), opt.by.c_str(),
                 formatRfc3339(*from).c_str(), formatRfc3339(*to).c_str(),
                 groupThousands(static_cast<std::int64_t>(t.sent)).c_str(),
                 groupThousands(static_cast<std::int64_t>(t.completed)).c_str(), formatUsd(t.spendMicroUsd).c_str(),
                 report.unpricedModels.empty()
                     ? ""
                     : (" + " + std::to_string(t.unpriced) + " responses of unknown spend (unpriced models)").c_str());
    return kExitOk;
}

}  // namespace

void addReportCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<ReportOptions>();
    CLI::App* cmd = app.add_subcommand("report", "Usage report (requests, 429s, tokens, latency, spend) from a state database");
    cmd->add_option("--state", opt->state, "State database of a run (sluice-cli batch --state)")->required();
    cmd->add_option("--from", opt->from, "Start, inclusive: 2026-01-31 or 2026-01-31T08:00:00Z (default: first metrics)");
    cmd->add_option("--to", opt->to, "End, exclusive (default: after the last metrics)");
    cmd->add_option("--by", opt->by, "Group by key, model, provider, hour or day (UTC)")
        ->check(CLI::IsMember({"key", "model", "provider", "hour", "day"}));
    cmd->add_option("--format", opt->format, "csv, json or html (default: from --output's extension, else csv)")
        ->check(CLI::IsMember({"csv", "json", "html"}));
    cmd->add_option("--output", opt->output, "File to write (atomically); - or none for standard output");
    cmd->callback([opt, &exitCode] { exitCode = runReport(*opt); });
}

}  // namespace sluice::cli
