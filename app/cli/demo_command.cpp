// `sluice-cli demo`: a workload that pushes against realistic limits through
// the real admission engine, printed live. It shows reserve → settle,
// concurrency, RPM and TPM binding, and waiting, with no provider at all.
#include "cli/commands.h"

#include "admission/admission.h"

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

namespace sluice::cli {

namespace {

struct DemoOptions {
    int seconds = 20;
    int workers = 32;
};

int runDemo(const DemoOptions& opt)
{
    using namespace std::chrono;
    SystemClock clock;
    Admission admission(clock);
    const ScopeId provider = admission.addScope(Admission::root(), "demo-provider", {concurrency(24)});
    const ScopeId key = admission.addScope(provider, "demo-key",
                                           {perMinute(Measure::Requests, 600, 20),
                                            perMinute(Measure::TotalTokens, 200'000, 20'000)});
    const ScopeId model = admission.addScope(key, "gpt-4o-mini", {perMinute(Measure::OutputTokens, 60'000)});
    const Path path = admission.pathTo(model);

    std::printf("sluice-cli demo: %d workers for %d s through the admission engine\n", opt.workers, opt.seconds);
    std::printf("limits: 24 in flight (provider), 600 RPM burst 20 and 200k TPM burst 20k (key), 60k OTPM (model)\n");
    std::printf("%4s %8s %8s %10s %10s %9s %8s\n", "t", "sent/s", "inflight", "tpm-used", "otpm-used", "waiting", "est/act");

    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> sent{0};
    std::atomic<std::int64_t> estimated{0};
    std::atomic<std::int64_t> actual{0};
    std::vector<std::jthread> workers;
    for (int w = 0; w < opt.workers; ++w) {
        workers.emplace_back([&, w](std::stop_token st) {
            std::mt19937 rng(static_cast<unsigned>(w) * 7919u + 1u);
            std::uniform_int_distribution<int> prompt(200, 1500);
            std::uniform_int_distribution<int> latencyMs(150, 900);
            while (!stop.load() && !st.stop_requested()) {
                Cost c;
                c.inputTokens = prompt(rng);
                c.outputTokens = 400;  // max_tokens: reserved up front
                Acquisition got = admission.acquire(path, c, clock.now() + seconds(5), st);
                if (got.status != AcquireStatus::Acquired) {
                    continue;
                }
                ++sent;
                // Stand-in for the HTTP call: the real dispatcher sends here.
                std::this_thread::sleep_for(milliseconds(latencyMs(rng)));
                Cost used = c;
                used.outputTokens = std::uniform_int_distribution<int>(40, 400)(rng);
                estimated += c.inputTokens + c.outputTokens;
                actual += used.inputTokens + used.outputTokens;
                admission.settle(std::move(got.reservation), used);
            }
        });
    }

    std::int64_t lastSent = 0;
    for (int t = 1; t <= opt.seconds; ++t) {
        std::this_thread::sleep_for(seconds(1));
        const auto k = admission.snapshot(key);
        const auto m = admission.snapshot(model);
        const auto p = admission.snapshot(provider);
        const std::int64_t now = sent.load();
        const double ratio = actual.load() > 0 ? static_cast<double>(estimated.load()) / static_cast<double>(actual.load()) : 0.0;
        std::printf("%4d %8lld %8lld %10lld %10lld %9zu %8.2f\n", t, static_cast<long long>(now - lastSent),
                    static_cast<long long>(p.dimensions[0].used), static_cast<long long>(k.dimensions[1].used),
                    static_cast<long long>(m.dimensions[0].used), admission.waiting(), ratio);
        std::fflush(stdout);
        lastSent = now;
    }
    stop = true;
    for (auto& w : workers) {
        w.request_stop();
    }
    workers.clear();
    std::printf("sent %lld requests in %d s (%.0f RPM against a 600 RPM limit); settled %lld estimated tokens down to %lld\n",
                static_cast<long long>(sent.load()), opt.seconds, static_cast<double>(sent.load()) * 60.0 / opt.seconds,
                static_cast<long long>(estimated.load()), static_cast<long long>(actual.load()));
    return kExitOk;
}

}  // namespace

void addDemoCommand(CLI::App& app, int& exitCode)
{
    auto opt = std::make_shared<DemoOptions>();
    CLI::App* cmd = app.add_subcommand("demo", "Run a live workload against realistic limits (no provider needed)");
    cmd->add_option("--seconds", opt->seconds, "How long to run")->check(CLI::Range(1, 3600));
    cmd->add_option("--workers", opt->workers, "Concurrent workers")->check(CLI::Range(1, 512));
    cmd->callback([opt, &exitCode] { exitCode = runDemo(*opt); });
}

}  // namespace sluice::cli
