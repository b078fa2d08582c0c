// `sluice-cli whatif`: replays a recorded window of traffic (a workspace
// database's per-minute rollups, or a recorded-requests JSONL file) under a
// proposed configuration against a simulated provider in simulated time,
// and prints what would have happened beside what did. Reads only.
#include "cli/commands.h"
#include "cli/progress.h"

#include "core/json_source.h"
#include "core/timefmt.h"
#include "simulate/provider_model.h"
#include "simulate/recorded_traffic.h"
#include "simulate/replay.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cinttypes>
#include <cstdio>
#include <filesystem>

namespace sluice::cli {

namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

struct WhatIfOptions {
    std::string workspace;
    std::string input;
    std::string config;
    std::string current;
    std::string window = "1h";
    std::string progress = "auto";
    std::uint64_t seed = 1;
    bool json = false;
};

std::string seconds(const std::optional<Duration>& d)
{
    if (!d) {
        return "–";
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f s", std::chrono::duration<double>(*d).count());
    return buf;
}

std::string count(std::int64_t n)
{
    return std::to_string(n);
}

Json msOrNull(const std::optional<Duration>& d)
{
    return d ? Json(std::chrono::duration_cast<std::chrono::milliseconds>(*d).count()) : Json(nullptr);
}

Json toJson(const simulate::RunFigures& f)
{
    Json minutes = Json::array();
    for (const simulate::MinuteFigures& m : f.minutes) {
        minutes.push_back({{"completed", m.completed}, {"rate_limited", m.rateLimited}, {"spend_micro_usd", m.spendMicroUsd}});
    }
    return {{"requests", f.requests},
            {"completed", f.completed},
            {"failed", f.failed},
            {"rate_limited", f.rateLimited},
            {"provider_limited", f.providerLimited},
            {"server_errors", f.serverErrors},
            {"timeouts", f.timeouts},
            {"attempts", f.attempts},
            {"throughput_per_minute", f.throughputPerMinute()},
            {"wait_p50_ms", msOrNull(f.waitP50)},
            {"wait_p95_ms", msOrNull(f.waitP95)},
            {"latency_p50_ms", msOrNull(f.latencyP50)},
            {"latency_p95_ms", msOrNull(f.latencyP95)},
            {"missed_deadlines", f.missedDeadlines ? Json(*f.missedDeadlines) : Json(nullptr)},
            {"spend_micro_usd", f.spendMicroUsd},
            {"input_tokens", f.inputTokens},
            {"output_tokens", f.outputTokens},
            {"span_s", std::chrono::duration<double>(f.span).count()},
            {"minutes", minutes}};
}

void printTable(const simulate::Comparison& c)
{
    const simulate::RunFigures& r = c.recorded;
    const simulate::RunFigures& s = c.simulated;
    std::printf("What if? %s\n\n", c.source.c_str());
    std::printf("%-26s %16s %16s\n", "", "recorded", "simulated");
    const auto row = [](const char* name, const std::string& a, const std::string& b) {
        std::printf("%-26s %16s %16s\n", name, a.c_str(), b.c_str());
    };
    char tr[32];
    char ts[32];
    std::snprintf(tr, sizeof tr, "%.1f", r.throughputPerMinute());
    std::snprintf(ts, sizeof ts, "%.1f", s.throughputPerMinute());
    row("requests", count(r.requests), count(s.requests));
    row("completed", count(r.completed), count(s.completed));
    row("failed", count(r.failed), count(s.failed));
    row("throughput (per minute)", tr, ts);
    row("wait p50", seconds(r.waitP50), seconds(s.waitP50));
    row("wait p95", seconds(r.waitP95), seconds(s.waitP95));
    row("latency p50", seconds(r.latencyP50), seconds(s.latencyP50));
    row("latency p95", seconds(r.latencyP95), seconds(s.latencyP95));
    row("429s", count(r.rateLimited), count(s.rateLimited));
    row("  of which provider-wide", "–", count(s.providerLimited));
    row("5xx answers", count(r.serverErrors), count(s.serverErrors));
    row("timeouts", count(r.timeouts), count(s.timeouts));
    row("missed deadlines", r.missedDeadlines ? count(*r.missedDeadlines) : "–",
        s.missedDeadlines ? count(*s.missedDeadlines) : "–");
    row("spend", formatUsd(r.spendMicroUsd), formatUsd(s.spendMicroUsd));
    row("took (first arrival → end)", shortDuration(r.span), shortDuration(s.span));
}

int runWhatIf(const WhatIfOptions& opt)
{
    const auto bad = [](const std::string& message) {
        std::fprintf(stderr, "sluice-cli whatif: %s\n", message.c_str());
        return kExitBadInput;
    };
    if (opt.workspace.empty() == opt.input.empty()) {
        return bad("give the recorded traffic as --workspace DB or --input recorded.jsonl (one of them)");
    }
    const std::optional<Duration> window = parseGoDuration(opt.window);
    if (!window || *window <= Duration::zero()) {
        return bad("--window: must be a duration such as 1h, 30m or 24h (got \"" + opt.window + "\")");
    }
    // The configuration the traffic ran under: given, or the workspace's
    // own settings file beside its database, or else the proposed one.
    std::string currentPath = opt.current;
    if (currentPath.empty() && !opt.workspace.empty()) {
        const std::filesystem::path settings = std::filesystem::path(opt.workspace).replace_extension(".json");
        std::error_code ec;
        if (std::filesystem::is_regular_file(settings, ec)) {
            currentPath = settings.string();
        }
    }
    simulate::RecordedTraffic traffic;
    Config proposed;
    Config current;
    try {
        proposed = simulate::loadSimConfigFile(opt.config);
        current = currentPath.empty() ? proposed : simulate::loadSimConfigFile(currentPath);
        traffic = opt.workspace.empty() ? simulate::readRecordedJsonl(opt.input, *window)
                                        : simulate::readWorkspaceTraffic(opt.workspace, *window);
    } catch (const InputError& e) {
        return bad(e.what());
    } catch (const simulate::RecordedTrafficError& e) {
        return bad(e.what());
    }
    if (traffic.requests.empty()) {
        return bad(traffic.source + ": no requests were recorded in the window");
    }
    std::fprintf(stderr, "sluice-cli whatif: replaying %zu requests (%s) under %s, provider limits from %s\n",
                 traffic.requests.size(), traffic.source.c_str(), opt.config.c_str(),
                 currentPath.empty() ? opt.config.c_str() : currentPath.c_str());
    ProgressLine line(stderr, progressWanted(opt.progress, stderr));
    simulate::ReplayOptions ro;
    ro.seed = opt.seed;
    ro.progress = [&line, &traffic](double fraction, Duration simulated) {
        line.update("simulated " + shortDuration(simulated) + " of " + shortDuration(traffic.length) + " " +
                    progressBar(std::min(fraction, 1.0), 30));
    };
    const simulate::Comparison c = simulate::replay(traffic, current, proposed, ro);
    line.finish();
    std::fprintf(stderr, "sluice-cli whatif: %s simulated in %.2f s\n", shortDuration(c.simulatedTime).c_str(),
                 std::chrono::duration<double>(c.wallTime).count());
    if (opt.json) {
        const Json doc = {{"source", c.source},
                          {"window_start", formatRfc3339(c.windowStart)},
                          {"window_s", std::chrono::duration<double>(c.window).count()},
                          {"simulated_s", std::chrono::duration<double>(c.simulatedTime).count()},
                          {"wall_s", std::chrono::duration<double>(c.wallTime).count()},
                          {"recorded", toJson(c.recorded)},
                          {"simulated", toJson(c.simulated)}};
        std::printf("%s\n", doc.dump(2).c_str());
    } else {
        printTable(c);
    }
    return kExitOk;
}

}  // namespace

void addWhatIfCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<WhatIfOptions>();
    CLI::App* cmd = app.add_subcommand(
        "whatif", "Replay recorded traffic under a proposed configuration in simulated time, beside what happened");
    cmd->add_option("--workspace", opt->workspace, "A workspace database (NAME.db): replay its per-minute usage");
    cmd->add_option("--input", opt->input, "A recorded-requests JSONL file (docs/whatif.md)");
    cmd->add_option("--config", opt->config, "The proposed configuration (a config file or a workspace's NAME.json)")
        ->required();
    cmd->add_option("--current", opt->current,
                    "The configuration the traffic ran under, whose limits the simulated provider enforces "
                    "(default: the workspace's NAME.json, else --config)");
    cmd->add_option("--window", opt->window, "How much of the end of the record to replay (1h, 24h, 30m)")
        ->capture_default_str();
    cmd->add_option("--seed", opt->seed, "Seed of the simulated provider's draws")->capture_default_str();
    cmd->add_flag("--json", opt->json, "Print the comparison as JSON");
    cmd->add_option("--progress", opt->progress, "Progress on stderr: auto, always or never")->capture_default_str();
    cmd->callback([opt, &exitCode] { exitCode = runWhatIf(*opt); });
}

}  // namespace sluice::cli
