// "concurrency": "auto" against the in-process mock (docs/benchmarks.md,
// "Adaptive concurrency"):
//
//   bench_adaptive hidden [--rpm N] [--latency-ms L] [--seconds S] [--sliding-window]
//        a provider with an RPM limit it does not announce (no rate-limit
//        headers) and Sluice told nothing but "concurrency": "auto"; demand 3×
//        the limit queued at once. After the first 30 s: the share of the limit
//        used and of requests answered 429, from the mock's own counters.
//   bench_adaptive knee [--seconds S]
//        a server without limits whose latency grows past 16 in flight
//        (500 ms, +50 ms per extra answer): a sweep of fixed concurrencies,
//        then "auto"; throughput and p50 latency in steady state, against the
//        best fixed concurrency and the unloaded latency measured in the same run.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/adaptive_controller.h"
#include "dispatch/dispatcher.h"
#include "dispatch/fan_out_listener.h"
#include "mock/mock_provider.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The latency of every successful attempt that ended after `from`.
class Probe : public DispatchListener {
public:
    explicit Probe(TimePoint from) : m_from(from) {}
    void onFinished(JobOutcome&&) override {}
    void onAttempt(const AttemptReport& r) override
    {
        if (r.status == 200 && r.finishedAt >= m_from) {
            const std::lock_guard lock(m_mutex);
            m_latencies.push_back(r.finishedAt - r.sentAt);
        }
    }
    double p50Ms()
    {
        const std::lock_guard lock(m_mutex);
        if (m_latencies.empty()) {
            return 0;
        }
        auto mid = m_latencies.begin() + static_cast<std::ptrdiff_t>(m_latencies.size() / 2);
        std::nth_element(m_latencies.begin(), mid, m_latencies.end());
        return std::chrono::duration<double, std::milli>(*mid).count();
    }

private:
    TimePoint m_from;
    std::mutex m_mutex;
    std::vector<Duration> m_latencies;
};

Config configFor(const std::string& baseUrl, const json& providerLimits)
{
    const json root = {{"providers", json::array({{{"name", "mock"},
                                                   {"flavor", "openai"},
                                                   {"base_url", baseUrl},
                                                   {"limits", providerLimits},
                                                   {"models", {{"gpt-4o-mini", json::object()}}},
                                                   {"keys", json::array({{{"name", "main"}, {"env", "K"}}})}}})}};
    return loadConfig(JsonSource("bench.json", root.dump()),
                      [](const std::string&) { return std::optional<std::string>("sk-mock"); });
}

JobSpec job(int i)
{
    JobSpec j;
    j.customId = "j" + std::to_string(i);
    j.body = {{"model", "gpt-4o-mini"},
              {"max_tokens", 20},
              {"messages", json::array({{{"role", "user"}, {"content", "hello " + std::to_string(i)}}})}};
    return j;
}

struct RunResult {
    double acceptedPerSecond = 0;  // after the warm-up, from the mock's counters
    double share429 = 0;           // of requests after the warm-up
    double p50Ms = 0;
    std::int64_t finalLimit = 0;
};

// Runs `jobs` queued at once through a dispatcher configured with
// `providerLimits` for `seconds`, measuring from `warmup` on.
RunResult run(const mock::MockConfig& m, const json& providerLimits, int jobs, double seconds, double warmup)
{
    SystemClock clock;
    mock::MockProvider provider(clock, m);
    provider.start();
    Admission admission(clock);
    const Config config = configFor(provider.baseUrl(), providerLimits);
    AdaptiveConcurrencyController adaptive(clock, config);
    const auto warm = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(warmup));
    Probe probe(clock.now() + warm);
    FanOutListener listeners{&adaptive, &probe};
    DispatcherOptions opt;
    opt.seed = 42;
    Dispatcher d(config, clock, admission, listeners, opt);
    adaptive.attach(d);
    d.start();
    for (int i = 0; i < jobs; ++i) {
        d.submit(job(i));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    RunResult out;
    for (const auto& s : adaptive.status()) {
        out.finalLimit = s.limit;
    }
    d.stop();
    const mock::MockStats s = provider.stats();
    provider.stop();
    std::int64_t accepted = 0;
    std::int64_t total = 0;
    std::int64_t limited = 0;
    std::int64_t first = -1;
    std::int64_t last = -1;
    for (const auto& sec : s.series) {
        // Whole seconds after the warm-up, the last (cut by stop) left out.
        if (sec.second < static_cast<std::int64_t>(warmup) || sec.second >= static_cast<std::int64_t>(seconds) - 1) {
            continue;
        }
        first = first < 0 ? sec.second : first;
        last = sec.second;
        accepted += sec.accepted;
        limited += sec.rateLimited;
        total += sec.accepted + sec.rateLimited + sec.errors;
    }
    const double span = first < 0 ? 1.0 : static_cast<double>(last - first + 1);
    out.acceptedPerSecond = static_cast<double>(accepted) / span;
    out.share429 = total > 0 ? static_cast<double>(limited) / static_cast<double>(total) : 0;
    out.p50Ms = probe.p50Ms();
    return out;
}

mock::MockConfig baseMock(double latencyMs)
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency = mock::LatencyModel{latencyMs, 0, latencyMs, mock::DistributionKind::Fixed, 0, {}};
    m.output.distribution = mock::DistributionKind::Fixed;
    m.output.mean = 10;
    return m;
}

const json kAuto = {{"concurrency", {{"auto", {{"initial", 4}, {"max", 256}}}}}};

int hidden(std::int64_t rpm, double latencyMs, double seconds, bool sliding)
{
    mock::MockConfig m = baseMock(latencyMs);
    m.rateLimitHeaders = false;
    m.retryAfterMs = true;
    auto& limits = m.models["gpt-4o-mini"].limits;
    limits = mock::RateLimits{};
    limits.requestsPerMinute = rpm;
    limits.tokensPerMinute = 1'000'000'000;
    limits.granularity = 1s;
    limits.enforcement = sliding ? mock::Enforcement::SlidingWindow : mock::Enforcement::Bucket;
    const int jobs = static_cast<int>(3.0 * static_cast<double>(rpm) / 60.0 * seconds);
    const RunResult r = run(m, kAuto, jobs, seconds, 30);
    const double perSecond = static_cast<double>(rpm) / 60.0;
    std::printf("hidden: rpm %lld (%s, no headers), latency %.0f ms, %d jobs queued, %.0f s | after 30 s: "
                "%.1f req/s of %.1f = %.1f%% of the limit | 429: %.2f%% of requests | final limit %lld\n",
                static_cast<long long>(rpm), sliding ? "sliding window" : "1 s buckets", latencyMs, jobs, seconds,
                r.acceptedPerSecond, perSecond, 100.0 * r.acceptedPerSecond / perSecond, 100.0 * r.share429,
                static_cast<long long>(r.finalLimit));
    return 0;
}

int knee(double autoSeconds)
{
    mock::MockConfig m = baseMock(500);
    m.limitsEnabled = false;
    m.latency.knee = mock::LatencyModel::Knee{16, 50};
    constexpr double kSweepSeconds = 12;
    constexpr double kSweepWarmup = 4;
    const RunResult unloaded = run(m, {{"concurrency", 1}}, 100, 6, 1);
    std::printf("knee: unloaded (concurrency 1) p50 %.0f ms\n", unloaded.p50Ms);
    double best = 0;
    int bestC = 0;
    for (int c : {8, 12, 16, 20, 24, 32}) {
        const RunResult r = run(m, {{"concurrency", c}}, 2000, kSweepSeconds, kSweepWarmup);
        std::printf("knee: fixed %2d: %.1f req/s, p50 %.0f ms\n", c, r.acceptedPerSecond, r.p50Ms);
        if (r.acceptedPerSecond > best) {
            best = r.acceptedPerSecond;
            bestC = c;
        }
    }
    const double warmup = std::min(30.0, autoSeconds / 2);
    const RunResult a = run(m, kAuto, 4000, autoSeconds, warmup);
    std::printf("knee: auto (%.0f s, measured after %.0f s): %.1f req/s = %.1f%% of the best fixed (%d: %.1f req/s), "
                "p50 %.0f ms = %.2fx unloaded | final limit %lld\n",
                autoSeconds, warmup, a.acceptedPerSecond, 100.0 * a.acceptedPerSecond / best, bestC, best, a.p50Ms,
                a.p50Ms / unloaded.p50Ms, static_cast<long long>(a.finalLimit));
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    const std::string mode = argc > 1 ? argv[1] : "";
    std::int64_t rpm = 3000;
    double latencyMs = 1000;
    double seconds = mode == "knee" ? 60 : 90;
    bool sliding = false;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        const bool hasValue = i + 1 < argc;
        if (a == "--rpm" && hasValue) {
            rpm = std::atoll(argv[++i]);
        } else if (a == "--latency-ms" && hasValue) {
            latencyMs = std::atof(argv[++i]);
        } else if (a == "--seconds" && hasValue) {
            seconds = std::atof(argv[++i]);
        } else if (a == "--sliding-window") {
            sliding = true;
        } else {
            std::fprintf(stderr, "bench_adaptive: unknown option or missing value: %s\n", a.c_str());
            return 2;
        }
    }
    if (mode == "hidden") {
        return hidden(rpm, latencyMs, seconds, sliding);
    }
    if (mode == "knee") {
        return knee(seconds);
    }
    std::fprintf(stderr, "usage: bench_adaptive hidden [--rpm N] [--latency-ms L] [--seconds S] [--sliding-window]\n"
                         "       bench_adaptive knee [--seconds S]\n");
    return 2;
}
