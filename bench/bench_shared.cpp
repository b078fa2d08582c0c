// Shared-budget admission throughput: N processes, each an Admission with a
// RedisBudget on one local redis-server (started here, persistence off),
// admit and settle as fast as they can for S seconds; the figure is the sum
// of their admissions per second. In the same run: the same processes
// without sharing (the local ledger alone, the ceiling) and with the local
// lease off (one script round trip per admission, the naive design).
//
//   bench_shared [--instances 3] [--seconds 5]
#include "admission/admission.h"
#include "shared/redis_budget.h"
#include "shared/signal_bus.h"
#include "support/redis_server.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace sluice;
using namespace sluice::shared;

namespace {

struct ChildResult {
    std::uint64_t admitted = 0;
    std::uint64_t remote = 0;
};

// One instance: the path a real request takes (global → provider → key →
// model), limits high enough that none binds, so the figure is the cost of
// deciding. Returns what it did.
ChildResult runInstance(const RedisEndpoint* endpoint, std::int64_t sliceDivisor, double seconds)
{
    SystemClock clock;
    std::unique_ptr<RedisBudget> budget;
    if (endpoint != nullptr) {
        RedisBudgetOptions o;
        o.ns = "bench";
        o.sliceDivisor = sliceDivisor;
        budget = std::make_unique<RedisBudget>(clock, *endpoint, o);
    }
    ChildResult out;
    {
        Admission admission(clock, budget.get());
        // Bursts keep capacity × period within the script's exact range.
        admission.setLimits(Admission::root(), {perMinute(Measure::Requests, 600'000'000, 5'000'000), concurrency(512)});
        const ScopeId provider = admission.addScope(Admission::root(), "openai");
        const ScopeId key = admission.addScope(provider, "key-1",
                                               {perMinute(Measure::Requests, 600'000'000, 5'000'000),
                                                perMinute(Measure::TotalTokens, 3'000'000'000, 50'000'000)});
        const ScopeId model =
            admission.addScope(key, "gpt-4o-mini", {perMinute(Measure::Requests, 600'000'000, 5'000'000)});
        const Path path = admission.pathTo(model);
        Cost cost;
        cost.inputTokens = 3;
        cost.outputTokens = 2;
        const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < end) {
            for (int i = 0; i < 64; ++i) {
                Decision d = admission.tryAcquire(path, cost);
                if (d.verdict == Verdict::Admit) {
                    admission.settle(std::move(d.reservation), cost);
                    ++out.admitted;
                }
            }
        }
    }
    if (budget) {
        out.remote = budget->status().remoteCalls;
    }
    return out;
}

struct Figure {
    double perSecond = 0;
    std::uint64_t remote = 0;
    std::uint64_t admitted = 0;
};

Figure runProcesses(int instances, const RedisEndpoint* endpoint, std::int64_t sliceDivisor, double seconds)
{
    std::vector<std::pair<pid_t, int>> children;
    for (int i = 0; i < instances; ++i) {
        int fds[2];
        if (::pipe(fds) != 0) {
            std::perror("pipe");
            std::exit(1);
        }
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            const ChildResult r = runInstance(endpoint, sliceDivisor, seconds);
            if (::write(fds[1], &r, sizeof r) != static_cast<ssize_t>(sizeof r)) {
                ::_exit(1);
            }
            ::_exit(0);
        }
        ::close(fds[1]);
        children.emplace_back(pid, fds[0]);
    }
    Figure f;
    for (auto [pid, fd] : children) {
        ChildResult r;
        if (::read(fd, &r, sizeof r) == static_cast<ssize_t>(sizeof r)) {
            f.admitted += r.admitted;
            f.remote += r.remote;
        }
        ::close(fd);
        int status = 0;
        ::waitpid(pid, &status, 0);
    }
    f.perSecond = static_cast<double>(f.admitted) / seconds;
    return f;
}

// Signal latency: one bus publishes, another receives; from the sender's
// wall clock at publish to the receiver's at delivery (same machine).
void signalLatency(const RedisEndpoint& endpoint, int count)
{
    std::mutex m;
    std::condition_variable cv;
    std::vector<double> ms;
    SignalBus rx(endpoint, "bench", "rx", [&](const SharedSignal& s) {
        const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        std::lock_guard g(m);
        ms.push_back(static_cast<double>(now - s.sentWallUs) / 1000.0);
        cv.notify_all();
    });
    SignalBus tx(endpoint, "bench", "tx", {});
    for (int i = 0; i < 500 && !(rx.subscribed()); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (int i = 0; i < count; ++i) {
        SharedSignal s;
        s.kind = SharedSignal::Kind::CoolDown;
        s.provider = "openai";
        s.key = "key-1";
        s.model = "gpt-4o-mini";
        tx.publish(s);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::unique_lock lock(m);
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return static_cast<int>(ms.size()) == count; });
    if (ms.empty()) {
        std::printf("  signals: none delivered\n");
        return;
    }
    std::sort(ms.begin(), ms.end());
    const auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ms.size())))]; };
    std::printf("  signals: %zu of %d delivered; publish to handler p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                ms.size(), count, at(0.5), at(0.99), ms.back());
}

}  // namespace

int main(int argc, char** argv)
{
    int instances = 3;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--instances") == 0) {
            instances = std::atoi(argv[i + 1]);
        } else if (std::strcmp(argv[i], "--seconds") == 0) {
            seconds = std::atof(argv[i + 1]);
        }
    }
    if (instances < 1 || instances > 16 || seconds <= 0 || seconds > 120) {
        std::fprintf(stderr, "usage: bench_shared [--instances 1-16] [--seconds 0-120]\n");
        return 2;
    }
    testing::RedisServerFixture redis;
    const RedisEndpoint endpoint = redis.endpoint();
    std::printf("%d instances, %.1f s each, redis-server on 127.0.0.1:%d\n", instances, seconds, redis.port());
    const Figure local = runProcesses(instances, nullptr, 0, seconds);
    std::printf("  local ledger only (not shared):        %12.0f admissions/s\n", local.perSecond);
    const Figure naive = runProcesses(instances, &endpoint, 0, seconds);
    std::printf("  shared, one script per admission:      %12.0f admissions/s (%llu round trips)\n",
                naive.perSecond, static_cast<unsigned long long>(naive.remote));
    const Figure leased = runProcesses(instances, &endpoint, 16, seconds);
    std::printf("  shared, local lease (default):         %12.0f admissions/s (%llu round trips, %.4f per admission)\n",
                leased.perSecond, static_cast<unsigned long long>(leased.remote),
                leased.admitted > 0 ? static_cast<double>(leased.remote) / static_cast<double>(leased.admitted) : 0.0);
    std::printf("  ratio local lease / one script each:   %12.1f\n",
                naive.perSecond > 0 ? leased.perSecond / naive.perSecond : 0.0);
    signalLatency(endpoint, 200);
    return 0;
}
