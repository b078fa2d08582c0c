// `sluice-cli demo`: the engine end to end with no provider account. An
// embedded mock provider enforces realistic per-second limits; a workload
// offers about twice what they allow; the dispatcher learns the limits from
// the first response and keeps traffic just under them. A second client
// shares one key without Sluice, so the provider's 429s and their triage
// show too. Printed live, once a second.
#include "cli/commands.h"
#include "cli/process_signals.h"
#include "cli/progress.h"

#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "host/demo.h"
#include "host/demo_neighbour.h"
#include "mock/mock_provider.h"

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <thread>

namespace sluice::cli {

namespace {

using nlohmann::json;

struct DemoOptions {
    int seconds = 20;
    double rate = 16;  // jobs offered per second
};

class Tally : public DispatchListener {
public:
    void onFinished(JobOutcome&& o) override { ++(o.result == JobResult::Completed ? completed : failed); }
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override
    {
        std::fprintf(stderr, "  ! key %s/%s quarantined: %s\n", provider.c_str(), key.c_str(), reason.c_str());
    }
    std::atomic<std::uint64_t> completed{0};
    std::atomic<std::uint64_t> failed{0};
};

// The demo workspace's OpenAI provider, as the console's demo has it, on
// the engine's one demo mock (host::demoMockConfig): its keys team-a and
// team-b, whose values host::demoKeyLookup gives.
Config demoConfig(const std::string& baseUrl)
{
    const json root = {
        {"global", {{"limits", {{"concurrency", 64}}}}},
        {"providers",
         json::array({{{"name", "mock"},
                       {"flavor", "openai"},
                       {"base_url", baseUrl},
                       {"models", {{"gpt-4o-mini", {{"default_max_tokens", 300}}}}},
                       {"keys", json::array({{{"name", "team-a"}, {"env", "SLUICE_DEMO_KEY_TEAM_A"}},
                                             {{"name", "team-b"}, {"env", "SLUICE_DEMO_KEY_TEAM_B"}}})}}})},
        {"retry", {{"max_attempts", 6}}},
        {"tenants", {{"interactive", {{"weight", 3}}}, {"batch", {{"weight", 1}}}}}};
    return loadConfig(JsonSource("demo config", root.dump()), host::demoKeyLookup(nullptr));
}

int runDemo(const DemoOptions& opt)
{
    using namespace std::chrono;
    SystemClock clock;
    const mock::MockConfig mockConfig = host::demoMockConfig();
    const mock::RateLimits& limits = mockConfig.models.at("gpt-4o-mini").limits;
    mock::MockProvider provider(clock, mockConfig);
    provider.start();
    Admission admission(clock);
    Tally tally;
    Dispatcher dispatcher(demoConfig(provider.baseUrl()), clock, admission, tally);
    dispatcher.start();
    watchStopSignals();

    std::printf("sluice-cli demo: a mock provider at %s enforces %lld RPM and %lldk TPM per second on gpt-4o-mini;\n"
                "Sluice is told nothing and learns them from the first response. %.0f jobs/s are offered (~2x the\n"
                "limit), from two tenants; another client hammers the \"team-b\" key without Sluice. %d s; Ctrl-C stops.\n\n",
                provider.baseUrl().c_str(), static_cast<long long>(limits.requestsPerMinute),
                static_cast<long long>(limits.tokensPerMinute / 1000), opt.rate, opt.seconds);
    std::printf("%4s %8s %9s %11s %8s %8s %6s %6s %9s\n", "t", "done", "in flight", "tok/min", "queued", "429 us", "429 it",
                "5xx", "spend");

    // The other client: no limiter, 6 requests every second on key team-b.
    host::DemoNeighbourOptions other;
    other.rate = 6;
    other.maxTokens = 50;
    other.firstAfter = Duration::zero();
    other.burst = other.period;  // all the time, not in bursts
    host::DemoNeighbour rogue(clock, provider.baseUrl(), other);
    rogue.start();

    const TimePoint start = clock.now();
    std::uint64_t submitted = 0;
    std::int64_t lastTokens = 0;
    std::int64_t lastRejected = 0;
    for (int t = 1; t <= opt.seconds && !stopRequested(); ++t) {
        // Offer this second's jobs spread across it, alternating tenants.
        const auto target = static_cast<std::uint64_t>(opt.rate * t);
        while (submitted < target) {
            JobSpec j;
            j.customId = "demo-" + std::to_string(submitted);
            j.tenant = submitted % 4 == 0 ? "interactive" : "batch";
            j.priority = submitted % 4 == 0 ? 1 : 0;
            std::string prompt = "Summarise item " + std::to_string(submitted) + ": ";
            for (std::uint64_t w = 0; w < 40 + submitted % 120; ++w) {
                prompt += "lorem ";
            }
            j.body = {{"model", "gpt-4o-mini"},
                      {"max_tokens", 200},
                      {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}};
            dispatcher.submit(std::move(j));
            ++submitted;
        }
        std::this_thread::sleep_until(start + seconds(t));  // the display's once-a-second cadence
        const DispatcherStats s = dispatcher.stats();
        const mock::MockStats m = provider.stats();
        std::int64_t rejected = 0;
        for (auto v : m.rateLimited) {
            rejected += v;
        }
        const std::int64_t tokens = s.inputTokens + s.outputTokens;
        std::printf("%4d %8llu %9llu %11s %8llu %8llu %6lld %6llu %9s\n", t, static_cast<unsigned long long>(s.completed),
                    static_cast<unsigned long long>(s.inFlight), groupThousands((tokens - lastTokens) * 60).c_str(),
                    static_cast<unsigned long long>(s.queued),
                    static_cast<unsigned long long>(s.failures[static_cast<std::size_t>(FailureClass::RateLimited)]),
                    static_cast<long long>(rejected - lastRejected),
                    static_cast<unsigned long long>(s.failures[static_cast<std::size_t>(FailureClass::Overloaded)] +
                                                    s.failures[static_cast<std::size_t>(FailureClass::ServerError)]),
                    formatUsd(s.spendMicroUsd).c_str());
        std::fflush(stdout);
        lastTokens = tokens;
        lastRejected = rejected;
    }
    rogue.stop();
    const DispatcherStats s = dispatcher.stats();
    dispatcher.stop();
    provider.stop();
    std::printf("\n%llu jobs done, %llu dead-lettered, %llu still queued when the demo ended.\n"
                "\"429 us\" counts Sluice's own requests that met a 429 (key team-b, squeezed by the other client);\n"
                "\"429 it\" counts every 429 the provider sent per second, mostly to the other client.\n"
                "Keys now: ",
                static_cast<unsigned long long>(s.completed), static_cast<unsigned long long>(s.deadLettered),
                static_cast<unsigned long long>(s.queued));
    for (const KeyStatus& k : s.keys) {
        static constexpr const char* kStates[] = {"ok", "cooling down", "quarantined", "disabled"};
        std::printf("%s %s; ", k.key.c_str(), kStates[static_cast<int>(k.state)]);
    }
    std::printf("\n");
    return kExitOk;
}

}  // namespace

void addDemoCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<DemoOptions>();
    CLI::App* cmd = app.add_subcommand("demo", "Watch Sluice keep a workload under a mock provider's limits (no account needed)");
    cmd->add_option("--seconds", opt->seconds, "How long to run")->check(CLI::Range(1, 3600));
    cmd->add_option("--rate", opt->rate, "Jobs offered per second")->check(CLI::Range(1.0, 500.0));
    cmd->callback([opt, &exitCode] { exitCode = runDemo(*opt); });
}

}  // namespace sluice::cli
