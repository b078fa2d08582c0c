// `sluice-cli mock`: the mock provider as a process. Prints
// "listening on http://HOST:PORT" as its first line, then serves until
// SIGINT or SIGTERM.
#include "cli/commands.h"
#include "cli/process_signals.h"

#include "mock/mock_provider.h"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <pthread.h>

namespace sluice::cli {

namespace {

struct MockOptions {
    std::string listen;
    std::string configFile;
    std::optional<double> latencyMs;
    bool noLimits = false;
    std::optional<std::uint64_t> seed;
    std::optional<int> threads;
    bool retryAfterMs = false;
};

mock::MockConfig buildConfig(const MockOptions& opt)
{
    mock::MockConfig cfg = mock::MockConfig::defaults();
    if (!opt.configFile.empty()) {
        std::ifstream in(opt.configFile, std::ios::binary);
        if (!in) {
            throw mock::ConfigError(opt.configFile + ": cannot read: " + std::strerror(errno));
        }
        std::ostringstream text;
        text << in.rdbuf();
        cfg = mock::parseMockConfig(text.str(), opt.configFile);
    }
    // Flags win over the file.
    if (!opt.listen.empty()) {
        mock::parseListenAddress(opt.listen, "--listen", cfg.host, cfg.port);
    }
    if (opt.latencyMs) {
        cfg.latency.baseMs = *opt.latencyMs;
        cfg.latency.firstTokenMs = *opt.latencyMs;
        cfg.latency.perOutputTokenMs = 0;
    }
    if (opt.noLimits) {
        cfg.limitsEnabled = false;
    }
    if (opt.seed) {
        cfg.seed = *opt.seed;
    }
    if (opt.threads) {
        cfg.ioThreads = *opt.threads;
    }
    if (opt.retryAfterMs) {
        cfg.retryAfterMs = true;
    }
    return cfg;
}

int runMock(const MockOptions& opt)
{
    mock::MockConfig cfg;
    try {
        cfg = buildConfig(opt);
    } catch (const mock::ConfigError& e) {
        std::fprintf(stderr, "sluice-cli mock: %s\n", e.what());
        return kExitBadInput;
    }
    raiseDescriptorLimit();

    // Blocked before any thread starts, so the io threads inherit the mask
    // and the signals wait for sigwait below.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

    SystemClock clock;
    mock::MockProvider provider(clock, cfg);
    try {
        provider.start();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-cli mock: %s\n", e.what());
        return kExitFailure;
    }
    std::printf("listening on %s\n", provider.baseUrl().c_str());
    std::fflush(stdout);
    std::string models;
    for (const auto& [name, m] : cfg.models) {
        models += (models.empty() ? "" : ", ") + name + " (" + std::string(mock::flavourName(m.flavour)) + ")";
    }
    std::fprintf(stderr, "sluice-cli mock: %zu key(s), models %s; limits %s; stats at /mock/stats; Ctrl-C stops\n",
                 cfg.keys.size(), models.c_str(), cfg.limitsEnabled ? "enforced" : "off");

    int signal = 0;
    sigwait(&stopSignals, &signal);
    provider.stop();
    const mock::MockStats s = provider.stats();
    std::int64_t limited = s.tooLarge + s.quotaExhausted;
    for (const auto n : s.rateLimited) {
        limited += n;
    }
    std::fprintf(stderr, "sluice-cli mock: stopped (%s): %lld requests, %lld accepted, %lld answered 429\n",
                 signal == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(s.requests),
                 static_cast<long long>(s.accepted), static_cast<long long>(limited));
    return kExitOk;
}

}  // namespace

void addMockCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<MockOptions>();
    CLI::App* cmd = app.add_subcommand(
        "mock", "Run the mock LLM provider (OpenAI and Anthropic dialects) with limits and faults");
    cmd->add_option("--listen", opt->listen, "HOST:PORT to listen on; port 0 picks a free one (default 127.0.0.1:0)");
    cmd->add_option("--config", opt->configFile, "JSON configuration file (see docs/mock.md)");
    cmd->add_option("--latency-ms", opt->latencyMs,
                    "Every answer (and a stream's first token) after this many ms, no per-token time")
        ->check(CLI::Range(0.0, 3'600'000.0));
    cmd->add_flag("--no-limits", opt->noLimits, "Enforce no rate limits and send no rate-limit headers");
    cmd->add_option("--seed", opt->seed, "Seed for output lengths, latency and faults");
    cmd->add_option("--threads", opt->threads, "I/O threads")->check(CLI::Range(1, 64));
    cmd->add_flag("--retry-after-ms", opt->retryAfterMs, "Send retry-after-ms on 429s too, as Azure does");
    cmd->callback([opt, &exitCode] { exitCode = runMock(*opt); });
}

}  // namespace sluice::cli
