// `sluice-cli loadtest`: runs a workload (docs/loadtest.md) through the
// engine against the config's providers, or against an in-process mock set
// up as those providers (--mock), optionally a second time under another
// config or through the naive fixed-concurrency client, and reports the runs
// side by side. Real traffic is estimated and confirmed before it is sent.
#include "cli/adaptive_target.h"
#include "cli/commands.h"
#include "cli/loadtest_report.h"
#include "cli/process_signals.h"
#include "cli/progress.h"
#include "cli/shared_run.h"

#include "config/config.h"
#include "core/atomic_file.h"
#include "core/timefmt.h"
#include "loadcheck/load_plan.h"
#include "loadtest/load_test.h"
#include "loadtest/mock_setup.h"
#include "mock/mock_provider.h"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace sluice::cli {

namespace {

using nlohmann::json;
using namespace sluice::loadtest;

struct LoadtestOptions {
    std::string config;
    std::string workload;
    std::string report;
    std::string duration;
    double scale = 1;
    std::string end;
    bool mock = false;
    std::string mockConfig;
    std::string compare;
    int compareNaive = 0;
    int naiveRetries = 2;
    bool yes = false;
    std::string progress = "auto";
};

// One run of the comparison.
using RunPlan = loadcheck::PlannedRun;

std::optional<Duration> parseDurationFlag(const std::string& text)
{
    if (auto d = parseGoDuration(text)) {
        return d;
    }
    return parseDecimalSeconds(text);
}

mock::MockConfig readMockConfig(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw mock::ConfigError(path + ": cannot read: " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return mock::parseMockConfig(text.str(), path);
}

std::string fileLabel(const std::string& path)
{
    return std::filesystem::path(path).filename().string();
}

// Asks on the terminal; false unless the answer is yes.
bool confirm()
{
    std::fprintf(stderr, "Send this traffic? [y/N] ");
    std::fflush(stderr);
    std::string answer;
    if (!std::getline(std::cin, answer)) {
        return false;
    }
    return answer == "y" || answer == "Y" || answer == "yes";
}

LoadTestOptions runOptions(const LoadtestOptions& opt, const RunPlan& plan, std::optional<Duration> duration)
{
    LoadTestOptions o;
    o.label = plan.label;
    o.duration = duration;
    o.scale = opt.scale;
    if (opt.end == "cut") {
        o.end = EndMode::Cut;
    } else if (opt.end == "drain") {
        o.end = EndMode::Drain;
    }
    o.naiveConcurrency = plan.naive;
    o.naive.maxRetries = opt.naiveRetries;
    return o;
}

// Runs one plan to the end with a progress line; nullopt when interrupted
// before it started.
std::optional<LoadTestSummary> runOne(const LoadtestOptions& opt, const RunPlan& plan, const Workload& workload,
                                      const std::optional<mock::MockConfig>& mockConfig,
                                      std::optional<Duration> duration, const std::string& prefix,
                                      std::vector<std::string>& keyProblems)
{
    SystemClock clock;
    std::unique_ptr<mock::MockProvider> provider;
    Config config = plan.config;
    if (mockConfig) {
        // A fresh mock per run: full buckets and counters of its own.
        provider = std::make_unique<mock::MockProvider>(clock, *mockConfig);
        provider->start();
        config = pointedAt(std::move(config), provider->baseUrl());
    }
    LoadTestOptions runOpts = runOptions(opt, plan, duration);
    if (config.shared && !plan.naive) {
        // "shared": the run's dispatcher shares limits, signals and the
        // fleet with the namespace, as batch, worker and serve do.
        runOpts.target = sharedSluiceTarget(config, clock, runOpts.dispatcher, "sluice-cli loadtest");
    }
    // "concurrency": "auto": the same wiring as batch and serve, in front of
    // Sluice's dispatcher (the naive client has none).
    auto adaptive = std::make_shared<std::shared_ptr<AdaptiveWiring>>();
    if (!plan.naive) {
        runOpts.wrapTarget = [config, &clock, adaptive](loadtest::TargetFactory inner) {
            return withAdaptive(std::move(inner), config, clock, adaptive);
        };
    }
    LoadTest test(workload, std::move(config), clock, std::move(runOpts));
    ProgressLine progress(stderr, progressWanted(opt.progress, stderr));
    test.start();
    bool stopping = false;
    while (!test.waitFinished(std::chrono::milliseconds(250))) {
        if (stopRequested() && !stopping) {
            stopping = true;
            test.stop();
        }
        progress.update(loadTestProgress(prefix, test.snapshot(std::numeric_limits<std::int64_t>::max())));
    }
    progress.update(loadTestProgress(prefix, test.snapshot(std::numeric_limits<std::int64_t>::max())));
    progress.finish();
    for (const std::string& p : test.keyProblems()) {
        std::fprintf(stderr, "sluice-cli loadtest: %s: key %s quarantined\n", plan.label.c_str(), p.c_str());
        keyProblems.push_back(plan.label + ": " + p);
    }
    if (*adaptive && !(*adaptive)->empty()) {
        std::fprintf(stderr, "sluice-cli loadtest: %s: adaptive concurrency at the end: %s\n", plan.label.c_str(),
                     (*adaptive)->describe().c_str());
    }
    if (provider) {
        provider->stop();
    }
    return test.summary();
}

int runLoadtest(const LoadtestOptions& opt)
{
    const char* me = "sluice-cli loadtest";
    std::optional<Duration> duration;
    if (!opt.duration.empty()) {
        duration = parseDurationFlag(opt.duration);
        if (!duration || *duration <= Duration::zero()) {
            std::fprintf(stderr, "%s: --duration: must be a duration like 30s, 2m or 90 (got \"%s\")\n", me,
                         opt.duration.c_str());
            return kExitBadInput;
        }
    }
    const EnvLookup env = opt.mock ? mockKeyLookup() : processEnvironment();
    // Every run is planned and checked, and real traffic estimated, before
    // any starts (loadcheck::planLoadTest, as the console's load-test tab).
    SystemClock clock;
    loadcheck::LoadPlan planned;
    try {
        loadcheck::LoadPlanRequest request;
        request.config = loadConfigFile(opt.config, env);
        request.label = opt.compare.empty() ? "sluice" : fileLabel(opt.config);
        if (!opt.compare.empty()) {
            request.compare = loadConfigFile(opt.compare, env);
            request.compareLabel = fileLabel(opt.compare);
            if (request.label == request.compareLabel) {
                request.label = opt.config;
                request.compareLabel = opt.compare;
            }
        } else if (opt.compareNaive > 0) {
            request.compareNaive = opt.compareNaive;
        }
        Workload loaded = loadWorkloadFile(opt.workload);
        if (opt.mock) {
            request.mockKeepsLimits = !opt.mockConfig.empty();
            request.mock = request.mockKeepsLimits ? readMockConfig(opt.mockConfig) : mock::MockConfig::defaults();
        }
        request.estimateRealTraffic = true;
        request.options = [&opt, duration](const RunPlan& plan) { return runOptions(opt, plan, duration); };
        planned = loadcheck::planLoadTest(std::move(request), std::move(loaded), clock);
    } catch (const InputError& e) {
        std::fprintf(stderr, "%s: %s\nNothing was sent.\n", me, e.what());
        return kExitBadInput;
    } catch (const mock::ConfigError& e) {
        std::fprintf(stderr, "%s: --mock-config: %s\nNothing was sent.\n", me, e.what());
        return kExitBadInput;
    }
    const std::vector<RunPlan>& plans = planned.runs;
    const Workload& workload = planned.workload;
    const std::optional<mock::MockConfig>& mockConfig = planned.mock;
    std::vector<WorkloadEstimate> estimates;
    for (const RunPlan& plan : plans) {
        if (plan.estimate) {
            estimates.push_back(*plan.estimate);
            std::fprintf(stderr, "%s: run \"%s\" sends real traffic to", me, plan.label.c_str());
            for (const ProviderConfig& p : plan.config.providers) {
                std::fprintf(stderr, " %s (%s)", p.name.c_str(), p.baseUrl.c_str());
            }
            std::fprintf(stderr, ":\n  %s\n", describeEstimate(estimates.back(), plan.config.pricing.asOf()).c_str());
        }
    }
    if (!estimates.empty() && !opt.yes) {
        if (isatty(STDIN_FILENO) == 0 || isatty(STDERR_FILENO) == 0) {
            std::fprintf(stderr, "%s: refusing to send real traffic without a confirmation: run it on a terminal, "
                                 "or pass --yes (or --mock to rehearse)\nNothing was sent.\n", me);
            return kExitBadInput;
        }
        if (!confirm()) {
            std::fprintf(stderr, "Nothing was sent.\n");
            return kExitFailure;
        }
    }

    watchStopSignals();
    std::vector<LoadTestSummary> summaries;
    std::vector<std::string> keyProblems;
    for (std::size_t i = 0; i < plans.size() && !stopRequested(); ++i) {
        const std::string prefix =
            plans.size() > 1 ? "[" + std::to_string(i + 1) + "/" + std::to_string(plans.size()) + " " + plans[i].label + "]"
                             : std::string();
        try {
            if (auto s = runOne(opt, plans[i], workload, mockConfig, duration, prefix, keyProblems)) {
                summaries.push_back(std::move(*s));
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s: run \"%s\": %s\n", me, plans[i].label.c_str(), e.what());
            return kExitFailure;
        }
    }
    std::printf("%s", sideBySide(summaries).c_str());
    std::fflush(stdout);

    if (!opt.report.empty()) {
        json runs = json::array();
        for (const LoadTestSummary& s : summaries) {
            runs.push_back(toJson(s));
        }
        const json report = {{"report", "sluice-loadtest"},
                             {"version", 1},
                             {"workload", {{"file", opt.workload}, {"name", workload.name}, {"seed", workload.seed}}},
                             {"config", opt.config},
                             {"mock", opt.mock},
                             {"scale", opt.scale},
                             {"interrupted", stopRequested()},
                             {"key_problems", keyProblems},
                             {"runs", runs}};
        try {
            writeFileAtomically(opt.report, [&](std::ostream& out) { out << report.dump(2) << '\n'; });
        } catch (const FileError& e) {
            std::fprintf(stderr, "%s: %s\n", me, e.what());
            return kExitFailure;
        }
        std::fprintf(stderr, "%s: report written to %s\n", me, opt.report.c_str());
    }
    if (stopRequested()) {
        std::fprintf(stderr, "%s: interrupted; the report covers what ran\n", me);
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace

void addLoadtestCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<LoadtestOptions>();
    CLI::App* cmd = app.add_subcommand("loadtest", "Run a workload through the engine and report (docs/loadtest.md)");
    cmd->add_option("--config", opt->config, "Configuration file (docs/configuration.md)")->required();
    cmd->add_option("--workload", opt->workload, "Workload file (docs/loadtest.md)")->required();
    cmd->add_option("--report", opt->report, "Write the runs' summaries as JSON to this file");
    cmd->add_option("--duration", opt->duration, "Replace the workload's duration (30s, 2m, 90)");
    cmd->add_option("--scale", opt->scale, "Multiply every arrival rate (and a recorded replay's speed)")
        ->check(CLI::Range(1e-6, 1e6));
    cmd->add_option("--end", opt->end, "Replace the workload's end: drain (wait for every request) or cut")
        ->check(CLI::IsMember({"drain", "cut"}));
    cmd->add_flag("--mock", opt->mock, "Run against an in-process mock set up as the config's providers");
    cmd->add_option("--mock-config", opt->mockConfig, "With --mock: the mock's own configuration (docs/mock.md)");
    auto* compare = cmd->add_option("--compare", opt->compare, "Run the workload again under this config");
    auto* naive = cmd->add_option("--compare-naive", opt->compareNaive,
                                  "Run the workload again through a naive client with this fixed concurrency")
                      ->check(CLI::Range(1, 10000));
    compare->excludes(naive);
    cmd->add_option("--naive-retries", opt->naiveRetries, "Retries of the naive client (default 2, as the SDKs)")
        ->check(CLI::Range(0, 1000));
    cmd->add_flag("--yes", opt->yes, "Send real traffic without asking (for scripts)");
    cmd->add_option("--progress", opt->progress, "Live progress line: auto (on a terminal), always, never")
        ->check(CLI::IsMember({"auto", "always", "never"}));
    cmd->callback([opt, &exitCode] {
        if (!opt->mockConfig.empty() && !opt->mock) {
            std::fprintf(stderr, "sluice-cli loadtest: --mock-config needs --mock\n");
            exitCode = kExitBadInput;
            return;
        }
        exitCode = runLoadtest(*opt);
    });
}

}  // namespace sluice::cli
