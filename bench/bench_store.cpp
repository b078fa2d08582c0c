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

// Items are jobs: perIteration of them each iteration.
void report(benchmark::State& state, std::size_t perIteration)
{
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(perIteration));
    state.SetLabel(durabilityOf(state) == Durability::Normal ? "synchronous=NORMAL" : "synchronous=FULL");
}

// Batches of 1,000, 100 and 1 (one commit per item) with NORMAL; 1,000 and
// 1 with FULL.
void batchesAndModes(benchmark::internal::Benchmark* b)
{
    b->Args({1000, 0})->Args({100, 0})->Args({1, 0})->Args({1000, 1})->Args({1, 1});
    b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

// enqueueMany: one commit per batch of range(0) jobs; a batch of 1 is the
// ungrouped cost, one commit per job.
void BM_Enqueue(benchmark::State& state)
{
    Fixture f(durabilityOf(state));
    const auto batch = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        state.PauseTiming();
        const std::vector<NewJob> jobs = f.nextJobs(batch);
        state.ResumeTiming();
        benchmark::DoNotOptimize(f.store->enqueueMany(jobs));
    }
    report(state, batch);
}
BENCHMARK(BM_Enqueue)->Apply(batchesAndModes);

// completeMany: range(0) results (~1 KB each) stored and their jobs marked
// done in one commit; the lease that precedes it is not timed.
void BM_Complete(benchmark::State& state)
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
    report(state, batch);
}
BENCHMARK(BM_Complete)->Apply(batchesAndModes);

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
    report(state, batch);
}
BENCHMARK(BM_Lease)->Args({1000, 0})->UseRealTime()->Unit(benchmark::kMicrosecond);

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
    report(state, batch);
}
BENCHMARK(BM_LeaseAndRecord)->Args({1000, 0})->Args({1000, 1})->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
