// Job store throughput on a real file (a fresh directory under /tmp, WAL,
// synchronous=NORMAL unless the benchmark says FULL): enqueues, leases and
// completions per second, grouped into one commit per batch as the
// dispatcher does, and ungrouped (one commit per call) for comparison.
// Run: build/release/bench/bench_store (see docs/benchmarks.md).
#include "core/clock.h"
#include "store/job_store.h"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace sluice;
using namespace sluice::store;

namespace {

// A chat request and a response of realistic size (~300 B and ~1 KB).
const std::string kRequestBody =
    R"({"model":"gpt-4o-mini","max_tokens":256,"messages":[{"role":"system","content":"You are a careful )"
    R"(assistant that answers briefly."},{"role":"user","content":"Summarise the attached paragraph about )"
    R"(rate limits in two sentences, and name the binding limit if there is one."}]})";
const std::string kResponseBody = [] {
    std::string s = R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,)"
                    R"("message":{"role":"assistant","content":")";
    s += std::string(800, 'x');
    s += R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":61,"completion_tokens":200,"total_tokens":261}})";
    return s;
}();

class Fixture {
public:
    explicit Fixture(Durability durability)
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "sluice-bench-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        m_dir = pattern;
        StoreOptions options;
        options.durability = durability;
        store = std::make_unique<JobStore>(m_dir / "bench.db", clock, options);
    }
    Fixture(const Fixture&) = delete;
    Fixture& operator=(const Fixture&) = delete;
    ~Fixture()
    {
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }

    std::vector<NewJob> nextJobs(std::size_t n)
    {
        std::vector<NewJob> jobs(n);
        for (NewJob& j : jobs) {
            j.customId = "request-" + std::to_string(m_next++);
            j.url = "/v1/chat/completions";
            j.body = kRequestBody;
            j.model = "gpt-4o-mini";
            j.tenant = (m_next % 3 == 0) ? "batch" : "interactive";
        }
        return jobs;
    }

    // Keeps at least n jobs ready to lease.
    void ensurePending(std::size_t n)
    {
        const auto pending = static_cast<std::size_t>(store->counts().pending);
        if (pending < n) {
            store->enqueueMany(nextJobs(std::max<std::size_t>(n - pending, 10'000)));
        }
    }

    SystemClock clock;
    std::unique_ptr<JobStore> store;

private:
    std::filesystem::path m_dir;
    std::int64_t m_next = 0;
};

Durability durabilityOf(const benchmark::State& state)
{
    return state.range(1) == 0 ? Durability::Normal : Durability::Full;
}

void setLabel(benchmark::State& state)
{
    state.SetLabel(durabilityOf(state) == Durability::Normal ? "synchronous=NORMAL" : "synchronous=FULL");
}

// enqueueMany: one commit per batch of range(0) jobs.
void BM_EnqueueMany(benchmark::State& state)
{
    Fixture f(durabilityOf(state));
    const auto batch = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        state.PauseTiming();
        const std::vector<NewJob> jobs = f.nextJobs(batch);
        state.ResumeTiming();
        benchmark::DoNotOptimize(f.store->enqueueMany(jobs));
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
    setLabel(state);
}
BENCHMARK(BM_EnqueueMany)->Args({1000, 0})->Args({100, 0})->Args({1000, 1})->UseRealTime()->Unit(benchmark::kMillisecond);

// enqueue: one commit per job, the cost grouping avoids.
void BM_EnqueueOne(benchmark::State& state)
{
    Fixture f(durabilityOf(state));
    for (auto _ : state) {
        state.PauseTiming();
        const std::vector<NewJob> jobs = f.nextJobs(1);
        state.ResumeTiming();
        benchmark::DoNotOptimize(f.store->enqueue(jobs.front()));
    }
    state.SetItemsProcessed(state.iterations());
    setLabel(state);
}
BENCHMARK(BM_EnqueueOne)->Args({1, 0})->Args({1, 1})->UseRealTime()->Unit(benchmark::kMicrosecond);

// completeMany: range(0) results (~1 KB each) stored and their jobs marked
// done in one commit; the lease that precedes it is not timed.
void BM_CompleteMany(benchmark::State& state)
{
    Fixture f(durabilityOf(state));
    const auto batch = static_cast<std::size_t>(state.range(0));
    std::vector<Completion> completions;
    for (auto _ : state) {
        state.PauseTiming();
        f.ensurePending(batch);
        completions.clear();
        for (const Job& j : f.store->lease({"bench", batch, std::chrono::minutes(5), {}})) {
            completions.push_back({j.id, {200, kResponseBody, "req-" + j.customId, "key-1", {}}});
        }
        state.ResumeTiming();
        benchmark::DoNotOptimize(f.store->completeMany(completions));
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
    setLabel(state);
}
BENCHMARK(BM_CompleteMany)->Args({1000, 0})->Args({100, 0})->Args({1000, 1})->UseRealTime()->Unit(benchmark::kMillisecond);

// complete: one commit per result.
void BM_CompleteOne(benchmark::State& state)
{
    Fixture f(durabilityOf(state));
    std::vector<Job> leased;
    for (auto _ : state) {
        if (leased.empty()) {
            state.PauseTiming();
            f.ensurePending(1000);
            leased = f.store->lease({"bench", 1000, std::chrono::minutes(5), {}});
            state.ResumeTiming();
        }
        const Job j = std::move(leased.back());
        leased.pop_back();
        benchmark::DoNotOptimize(f.store->complete({j.id, {200, kResponseBody, "req", "key-1", {}}}));
    }
    state.SetItemsProcessed(state.iterations());
    setLabel(state);
}
BENCHMARK(BM_CompleteOne)->Args({1, 0})->Args({1, 1})->UseRealTime()->Unit(benchmark::kMicrosecond);

// lease: range(0) ready jobs marked leased and read back, one commit.
void BM_Lease(benchmark::State& state)
{
    Fixture f(durabilityOf(state));
    const auto batch = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        state.PauseTiming();
        f.ensurePending(batch);
        state.ResumeTiming();
        benchmark::DoNotOptimize(f.store->lease({"bench", batch, std::chrono::minutes(5), {}}));
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
    setLabel(state);
}
BENCHMARK(BM_Lease)->Args({1000, 0})->UseRealTime()->Unit(benchmark::kMillisecond);

// The dispatcher's cycle, all timed: lease a batch, then record its
// outcomes in one commit (90% done, 8% retried, 2% dead-lettered).
void BM_LeaseAndRecord(benchmark::State& state)
{
    Fixture f(durabilityOf(state));
    const auto batch = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        state.PauseTiming();
        f.ensurePending(batch);
        state.ResumeTiming();
        Updates u;
        std::size_t i = 0;
        for (const Job& j : f.store->lease({"bench", batch, std::chrono::minutes(5), {}})) {
            if (i % 50 == 49) {
                u.failures.push_back({j.id, "bench", {"bad_request", 400, "invalid", "key-1", true, {}, {}}});
            } else if (i % 12 == 11) {
                u.retries.push_back({j.id, "bench", {"server_error", 503, "overloaded", "key-1", true, {}, {}},
                                     f.clock.wallNow()});
            } else {
                u.completions.push_back({j.id, {200, kResponseBody, "req", "key-1", {}}});
            }
            ++i;
        }
        benchmark::DoNotOptimize(f.store->recordMany(u));
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
    setLabel(state);
}
BENCHMARK(BM_LeaseAndRecord)->Args({1000, 0})->Args({1000, 1})->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
