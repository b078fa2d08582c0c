// Admission decisions per second on the path the issue names: 3 scopes × 3
// rate dimensions plus a concurrency dimension (10 checks per decision).
// Run: build/release/bench/bench_admission (see docs/benchmarks.md).
#include "admission/admission.h"

#include <benchmark/benchmark.h>

#include <mutex>
#include <vector>

using namespace sluice;

namespace {

constexpr std::int64_t kHuge = std::int64_t{1} << 40;

struct Setup {
    SystemClock clock;
    Admission admission{clock};
    Path path;

    // A small limit lets the rate dimensions bind.
    explicit Setup(std::int64_t limit = kHuge)
    {
        const ScopeId provider = admission.addScope(
            Admission::root(), "provider",
            {perMinute(Measure::Requests, limit), perMinute(Measure::TotalTokens, limit),
             perMinute(Measure::InputTokens, limit), concurrency(kHuge)});
        const ScopeId key = admission.addScope(
            provider, "key",
            {perMinute(Measure::Requests, limit), perMinute(Measure::InputTokens, limit),
             perMinute(Measure::OutputTokens, limit)});
        const ScopeId model = admission.addScope(
            key, "model",
            {perMinute(Measure::Requests, limit), perMinute(Measure::TotalTokens, limit),
             perMinute(Measure::OutputTokens, limit)});
        path = admission.pathTo(model);
    }
};

// Built once per benchmark run (before its threads start) by the Setup hook.
Setup* g_setup = nullptr;

void makeOpen(const benchmark::State&)
{
    g_setup = new Setup();
}

void makeExhausted(const benchmark::State&)
{
    g_setup = new Setup(1'000'000);
    Cost big;
    big.requests = 1'000'000;
    big.inputTokens = 500'000;
    big.outputTokens = 500'000;
    Decision fill = g_setup->admission.tryAcquire(g_setup->path, big);
    g_setup->admission.settle(std::move(fill.reservation), big);
}

void tearDown(const benchmark::State&)
{
    delete g_setup;
    g_setup = nullptr;
}

Cost requestCost()
{
    Cost c;
    c.inputTokens = 900;
    c.outputTokens = 300;
    return c;
}

// Admit (reserving on all 10 dimensions) then settle to real usage: one
// decision and its settlement per iteration.
void BM_AdmitAndSettle(benchmark::State& state)
{
    const Cost cost = requestCost();
    Cost actual = cost;
    actual.outputTokens = 120;
    for (auto _ : state) {
        Decision d = g_setup->admission.tryAcquire(g_setup->path, cost);
        benchmark::DoNotOptimize(d.verdict);
        g_setup->admission.settle(std::move(d.reservation), actual);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdmitAndSettle)->Setup(makeOpen)->Teardown(tearDown)->Threads(1)->Threads(2)->UseRealTime();

// Admission decisions that reserve, timed alone: each iteration admits a
// batch of requests; settling them happens with the timer paused.
void BM_Admit(benchmark::State& state)
{
    constexpr int kBatch = 1024;
    const Cost cost = requestCost();
    std::vector<Decision> batch;
    batch.reserve(kBatch);
    for (auto _ : state) {
        for (int i = 0; i < kBatch; ++i) {
            batch.push_back(g_setup->admission.tryAcquire(g_setup->path, cost));
        }
        state.PauseTiming();
        for (Decision& d : batch) {
            g_setup->admission.settle(std::move(d.reservation), cost);
        }
        batch.clear();
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_Admit)->Setup(makeOpen)->Teardown(tearDown)->Threads(1)->Threads(2)->UseRealTime();

// The same with the time supplied by the caller, as the dispatcher does: it
// reads the clock once per wake-up and decides every ready job against it.
void BM_AdmitAt(benchmark::State& state)
{
    constexpr int kBatch = 1024;
    const Cost cost = requestCost();
    std::vector<Decision> batch;
    batch.reserve(kBatch);
    for (auto _ : state) {
        const TimePoint now = g_setup->clock.now();
        for (int i = 0; i < kBatch; ++i) {
            batch.push_back(g_setup->admission.tryAcquireAt(g_setup->path, cost, now));
        }
        state.PauseTiming();
        for (Decision& d : batch) {
            g_setup->admission.settle(std::move(d.reservation), cost);
        }
        batch.clear();
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_AdmitAt)->Setup(makeOpen)->Teardown(tearDown)->Threads(1)->Threads(2)->UseRealTime();

// A decision alone: would the request fit now? (No reservation.)
void BM_Decide(benchmark::State& state)
{
    const Cost cost = requestCost();
    for (auto _ : state) {
        benchmark::DoNotOptimize(g_setup->admission.check(g_setup->path, cost));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decide)->Setup(makeOpen)->Teardown(tearDown)->Threads(1)->Threads(2)->UseRealTime();

// Under pressure: every dimension is exhausted, so each decision computes
// the exact earliest time and the binding dimension.
void BM_RefuseWithEarliestTime(benchmark::State& state)
{
    const Cost cost = requestCost();
    for (auto _ : state) {
        Decision d = g_setup->admission.tryAcquire(g_setup->path, cost);
        benchmark::DoNotOptimize(d.notBefore);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RefuseWithEarliestTime)->Setup(makeExhausted)->Teardown(tearDown)->Threads(1)->Threads(2)->UseRealTime();

// Baseline for the same run: the hand-written limiter the issue compares
// against, a mutex guarding two floating-point token buckets (requests and
// tokens) with a clock read per decision. Our decisions check five times as
// many dimensions; docs/benchmarks.md gives the ratio.
class TwoBucketLimiter {
public:
    bool allow(double tokens)
    {
        std::lock_guard guard(m_mutex);
        const auto now = std::chrono::steady_clock::now();
        const double dt = std::chrono::duration<double>(now - m_last).count();
        m_last = now;
        m_requests = std::min(m_requestCap, m_requests + dt * m_requestRate);
        m_tokens = std::min(m_tokenCap, m_tokens + dt * m_tokenRate);
        if (m_requests < 1 || m_tokens < tokens) {
            return false;
        }
        m_requests -= 1;
        m_tokens -= tokens;
        return true;
    }

private:
    std::mutex m_mutex;
    std::chrono::steady_clock::time_point m_last = std::chrono::steady_clock::now();
    double m_requestCap = 1e12, m_requestRate = 1e12, m_requests = 1e12;
    double m_tokenCap = 1e15, m_tokenRate = 1e15, m_tokens = 1e15;
};

TwoBucketLimiter* g_baseline = nullptr;

void BM_BaselineMutexTwoBuckets(benchmark::State& state)
{
    for (auto _ : state) {
        benchmark::DoNotOptimize(g_baseline->allow(1200));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineMutexTwoBuckets)
    ->Setup([](const benchmark::State&) { g_baseline = new TwoBucketLimiter(); })
    ->Teardown([](const benchmark::State&) {
        delete g_baseline;
        g_baseline = nullptr;
    })
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
