// Signals across instances: how many 429s N instances sharing one API key
// meet against the mock, with and without SignalBus carrying each one's
// cool-downs to the others, in the same run. The key's limit is hidden (no
// rate-limit headers, nothing configured), so 429s are the only teacher;
// each instance sends with a few requests in flight. One local
// redis-server (started here, persistence off); the mock in-process.
//
//   bench_signals [instances=4] [jobs-per-instance=30] [rpm=240] [granularity-s=10] [per-second=0]
//
// per-second: each instance's jobs arrive at that pace (0: all at once, a
// backlog), so the instances' requests are spread in time as steady
// traffic is.
//
// The mock enforces rpm with a bucket of rpm × granularity / 60 s, so its
// 429s ask for a real pause (a quarter of a second at the defaults) rather
// than a near miss.
//
// Prints, per mode, the requests sent, the 429s met and the time to finish
// every job; then the ratio of 429s with signals to without.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "mock/mock_provider.h"
#include "shared/shared_membership.h"
#include "support/redis_server.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

using namespace sluice;
using nlohmann::json;

namespace {

class Count : public DispatchListener {
public:
    void onFinished(JobOutcome&&) override { ++finished; }
    std::atomic<int> finished{0};
};

struct Result {
    std::uint64_t sent = 0;
    std::uint64_t rateLimited = 0;
    double seconds = 0;
    std::uint64_t signalsApplied = 0;
    std::int64_t maxLatencyUs = -1;  // a peer's publish to the apply here, the worst seen
};

Config configFor(const std::string& baseUrl, int redisPort)
{
    json root = {{"providers",
                  json::array({{{"name", "mock"},
                                {"flavor", "openai"},
                                {"base_url", baseUrl},
                                {"learn_limits", false},
                                {"keys", json::array({{{"name", "main"}, {"env", "K"}, {"limits", {{"concurrency", 4}}}}})}}})},
                 {"retry", {{"max_attempts", 3}}},
                 {"shared",
                  {{"redis", "redis://127.0.0.1:" + std::to_string(redisPort) + "/0"}, {"namespace", "bench-signals"}}}};
    return loadConfig(JsonSource("bench.json", root.dump()), [](const std::string&) {
        return std::optional<std::string>("sk-mock");
    });
}

Result run(bool signals, int instances, int jobs, int rpm, int granularityS, double perSecond, int redisPort)
{
    SystemClock clock;
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 40;
    m.latency.perOutputTokenMs = 0;
    m.latency.firstTokenMs = 0;
    m.rateLimitHeaders = false;
    m.models["gpt-4o-mini"].limits = mock::RateLimits{};
    m.models["gpt-4o-mini"].limits.requestsPerMinute = rpm;
    m.models["gpt-4o-mini"].limits.granularity = std::chrono::seconds(granularityS);
    mock::MockProvider provider(clock, m);
    provider.start();
    const Config config = configFor(provider.baseUrl(), redisPort);

    struct Instance {
        std::unique_ptr<Admission> admission;
        Count count;
        std::unique_ptr<shared::SharedMembership> membership;
        std::unique_ptr<Dispatcher> dispatcher;
        std::unique_ptr<shared::MembershipAttachment> attached;
    };
    std::vector<std::unique_ptr<Instance>> all;
    for (int i = 0; i < instances; ++i) {
        auto in = std::make_unique<Instance>();
        in->admission = std::make_unique<Admission>(clock);
        if (signals) {
            in->membership = shared::makeMembership(config, clock, "bench_signals", nullptr);
        }
        DispatcherOptions o;
        o.seed = static_cast<std::uint64_t>(i + 1);
        o.peerSignals = in->membership ? in->membership->observer() : nullptr;
        in->dispatcher = std::make_unique<Dispatcher>(config, clock, *in->admission, in->count, o);
        in->attached = std::make_unique<shared::MembershipAttachment>(in->membership.get(), *in->dispatcher);
        all.push_back(std::move(in));
    }
    if (signals) {
        // Set-up, not measurement: every subscriber listening first.
        for (auto& in : all) {
            while (!in->membership->signals().subscribed()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
    }
    const auto start = std::chrono::steady_clock::now();
    const auto submit = [&](int i, int j) {
        JobSpec s;
        s.customId = "i" + std::to_string(i) + "-" + std::to_string(j);
        s.flavor = ApiFlavor::OpenAI;
        s.body = {{"model", "gpt-4o-mini"},
                  {"max_tokens", 10},
                  {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
        all[static_cast<std::size_t>(i)]->dispatcher->submit(std::move(s));
    };
    for (int i = 0; i < instances; ++i) {
        all[static_cast<std::size_t>(i)]->dispatcher->start();
    }
    if (perSecond <= 0) {
        for (int i = 0; i < instances; ++i) {
            for (int j = 0; j < jobs; ++j) {
                submit(i, j);
            }
        }
    } else {
        // Instance i's job j arrives at (j + i / instances) / perSecond:
        // the instances interleaved, as independent clients are.
        for (int j = 0; j < jobs; ++j) {
            for (int i = 0; i < instances; ++i) {
                const double at = (j + static_cast<double>(i) / instances) / perSecond;
                std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                          std::chrono::duration<double>(at)));
                submit(i, j);
            }
        }
    }
    Result r;
    for (auto& in : all) {
        in->dispatcher->waitIdle(std::chrono::minutes(5));
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (auto& in : all) {
        const DispatcherStats s = in->dispatcher->stats();
        r.sent += s.attempts;
        r.rateLimited += s.failures[static_cast<std::size_t>(FailureClass::RateLimited)];
        if (in->membership) {
            const shared::SignalCounters c = in->membership->signals().counters();
            r.signalsApplied += c.applied;
            r.maxLatencyUs = std::max(r.maxLatencyUs, c.maxLatencyUs);
        }
        in->attached.reset();
        in->dispatcher->stop();
    }
    provider.stop();
    return r;
}

}  // namespace

int main(int argc, char** argv)
{
    const int instances = argc > 1 ? std::atoi(argv[1]) : 4;
    const int jobs = argc > 2 ? std::atoi(argv[2]) : 30;
    const int rpm = argc > 3 ? std::atoi(argv[3]) : 240;
    const int granularityS = argc > 4 ? std::atoi(argv[4]) : 10;
    const double perSecond = argc > 5 ? std::atof(argv[5]) : 0;
    testing::RedisServerFixture redis;
    std::printf("%d instances x %d jobs on one key, hidden limit %d rpm (bucket %d), 4 in flight each\n", instances,
                jobs, rpm, rpm * granularityS / 60);
    if (perSecond > 0) {
        std::printf("each instance's jobs arrive at %.2f/s\n", perSecond);
    }
    const Result without = run(false, instances, jobs, rpm, granularityS, perSecond, redis.port());
    const Result with = run(true, instances, jobs, rpm, granularityS, perSecond, redis.port());
    for (const auto& [name, r] : {std::pair{"without signals", without}, std::pair{"with signals", with}}) {
        std::printf("%-16s sent %5llu  429s %5llu (%.1f%% of sent)  all done in %.2f s  signals applied %llu\n", name,
                    static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.rateLimited),
                    r.sent > 0 ? 100.0 * static_cast<double>(r.rateLimited) / static_cast<double>(r.sent) : 0.0,
                    r.seconds, static_cast<unsigned long long>(r.signalsApplied));
    }
    std::printf("signals: publish to apply at most %.2f ms\n", static_cast<double>(with.maxLatencyUs) / 1000.0);
    std::printf("429s with / without signals: %.2f\n",
                without.rateLimited > 0 ? static_cast<double>(with.rateLimited) / static_cast<double>(without.rateLimited)
                                        : 0.0);
    return 0;
}
