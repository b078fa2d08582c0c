// What recording metrics costs the dispatcher thread, and what readers pay.
// The dispatcher calls onSent and onAttempt for every request; both must
// stay a short lock and an append, whatever readers are doing.
// Run: build/release/bench/bench_metrics (see docs/benchmarks.md).
#include "metrics/metrics_recorder.h"
#include "metrics/prometheus.h"

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using namespace sluice;
using namespace sluice::metrics;

namespace {

// Three keys × four models on one provider: 12 key+model leaves, 20 scopes.
const std::vector<std::string> kKeys = {"prod-1", "prod-2", "batch-key"};
const std::vector<std::string> kModels = {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "o4-mini"};

// A sink that keeps nothing: the drain's rollup work without the disk.
class NullSink : public RollupSink {
public:
    void addRollups(std::span<const RollupRow>) override {}
};

AttemptReport report(std::size_t i, TimePoint sentAt, TimePoint now)
{
    AttemptReport r;
    r.provider = "openai";
    r.key = kKeys[i % kKeys.size()];
    r.model = kModels[i % kModels.size()];
    r.tenant = "default";
    r.sentAt = sentAt;
    r.finishedAt = now;
    r.status = 200;
    r.estimatedInputTokens = 900;
    r.estimatedOutputTokens = 300;
    r.usage = ResponseUsage{880, 120, {}};
    r.spendMicroUsd = 1234;
    if (i % 3 == 0) {
        r.timeToFirstToken = std::chrono::milliseconds(180);
    }
    return r;
}

// The dispatcher's cost per request: onSent then onAttempt. The reports are
// built outside the loop, as the dispatcher builds them anyway. `reader`
// adds a thread that drains and snapshots every millisecond, the GUI and
// /metrics at their worst.
void recordLoop(benchmark::State& state, bool reader)
{
    SystemClock clock;
    RecorderOptions o;
    o.maxPendingEvents = std::size_t{1} << 26;
    MetricsRecorder rec(clock, o);
    const TimePoint t0 = clock.now();
    std::vector<AttemptReport> reports;
    for (std::size_t i = 0; i < 1024; ++i) {
        reports.push_back(report(i, t0, t0 + std::chrono::milliseconds(800)));
    }
    std::atomic<bool> done{false};
    std::thread drainer;
    if (reader) {
        drainer = std::thread([&] {
            while (!done.load()) {
                benchmark::DoNotOptimize(rec.snapshot());
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        });
    }
    std::size_t i = 0;
    for (auto _ : state) {
        const AttemptReport& r = reports[i & 1023];
        rec.onSent(SendReport{r.provider, r.key, r.model, r.tenant, r.sentAt});
        rec.onAttempt(r);
        ++i;
        if (!reader && (i & 0xffff) == 0) {
            // Keep the buffer from growing without a reader; not what is measured.
            state.PauseTiming();
            rec.snapshot();
            state.ResumeTiming();
        }
    }
    done = true;
    if (drainer.joinable()) {
        drainer.join();
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_RecordRequest(benchmark::State& state)
{
    recordLoop(state, false);
}
BENCHMARK(BM_RecordRequest);

void BM_RecordRequestWhileReading(benchmark::State& state)
{
    recordLoop(state, true);
}
BENCHMARK(BM_RecordRequestWhileReading)->UseRealTime();

// Baseline: the same two appends of a 112-byte record to a vector under a
// mutex, with no interning and no clock: the floor for any locked buffer.
void BM_BaselineMutexAppend(benchmark::State& state)
{
    struct Record {
        std::array<std::int64_t, 14> fields{};
    };
    std::mutex m;
    std::vector<Record> buffer;
    buffer.reserve(1 << 20);
    for (auto _ : state) {
        for (int k = 0; k < 2; ++k) {
            std::lock_guard g(m);
            buffer.push_back(Record{});
        }
        if (buffer.size() >= (1 << 20) - 2) {
            buffer.clear();
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineMutexAppend);

// The reader side: draining one request's two events into 5 scopes × 3
// resolutions (and the rollup of its minute).
void BM_DrainRequest(benchmark::State& state)
{
    ManualClock clock;
    NullSink sink;
    MetricsRecorder rec(clock, {}, state.range(0) != 0 ? &sink : nullptr);
    constexpr std::size_t kBatch = 10'000;
    std::vector<AttemptReport> reports;
    for (std::size_t i = 0; i < kBatch; ++i) {
        reports.push_back(report(i, clock.now(), clock.now() + std::chrono::milliseconds(800)));
    }
    for (auto _ : state) {
        state.PauseTiming();
        for (const AttemptReport& r : reports) {
            rec.onSent(SendReport{r.provider, r.key, r.model, r.tenant, r.sentAt});
            rec.onAttempt(r);
        }
        state.ResumeTiming();
        benchmark::DoNotOptimize(rec.snapshot());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_DrainRequest)->Arg(0)->Arg(1)->ArgName("rollups");

// Readers: a snapshot of every scope, a 10-minute series at 1 s, and the
// Prometheus text, on a recorder that has seen an hour of traffic.
struct Warm {
    ManualClock clock;
    MetricsRecorder rec{clock};
    Warm()
    {
        const TimePoint start = clock.now();
        std::size_t i = 0;
        while (clock.now() - start < std::chrono::hours(1)) {
            const TimePoint at = clock.now();
            const AttemptReport r = report(i++, at, at + std::chrono::milliseconds(500));
            rec.onSent(SendReport{r.provider, r.key, r.model, r.tenant, r.sentAt});
            clock.advance(std::chrono::milliseconds(50));
            rec.onAttempt(r);
        }
    }
};

void BM_Snapshot(benchmark::State& state)
{
    Warm w;
    for (auto _ : state) {
        benchmark::DoNotOptimize(w.rec.snapshot());
    }
}
BENCHMARK(BM_Snapshot);

void BM_SeriesTenMinutesAt1s(benchmark::State& state)
{
    Warm w;
    for (auto _ : state) {
        benchmark::DoNotOptimize(w.rec.series(ScopeKey::ofKey("openai", "prod-1"), std::chrono::seconds(1),
                                              w.clock.now() - std::chrono::minutes(10), w.clock.now()));
    }
}
BENCHMARK(BM_SeriesTenMinutesAt1s);

void BM_PrometheusText(benchmark::State& state)
{
    Warm w;
    for (auto _ : state) {
        benchmark::DoNotOptimize(prometheusText(w.rec.snapshot()));
    }
}
BENCHMARK(BM_PrometheusText);

}  // namespace

BENCHMARK_MAIN();
