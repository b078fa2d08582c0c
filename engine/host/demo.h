// The built-in demo: what `sluice --demo` and `sluice-cli demo` run so a new
// user sees limits, queues and 429 triage within seconds, with no account
// and no network. The mock provider plays OpenAI and Anthropic with
// per-second enforcement; DemoWorkload queues a stream of requests whose
// rate swings above and below what the limits allow, so the queue grows and
// drains, and a few requests ask for more output than the model allows, so
// the dead-letter browser has something to fix and requeue.
//
// demoMockConfig() is the one demo mock: the console's demo workspace and
// `sluice-cli demo` (its OpenAI keys team-a and team-b) both run on it.
// The demo workspace (WorkspaceConfig::demo()) names the keys; the mock
// knows them by the values demoKeyLookup() gives: key team-b's real limit is
// below what the workspace says (the provider, not Sluice, refuses: 429s),
// and key trial runs out of quota (quarantined).
//
// Thread-safety: the free functions are pure. DemoWorkload: start/stop from
// one thread; setRate and stats from any thread.
#pragma once

#include "config/config.h"
#include "core/clock.h"
#include "mock/mock_config.h"
#include "store/job_store.h"

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace sluice::host {

// The mock as the demo workspace's providers.
mock::MockConfig demoMockConfig();
// The demo keys' values, by the variable names the demo workspace uses;
// every other name is looked up in `fallback`.
EnvLookup demoKeyLookup(EnvLookup fallback);

struct DemoWorkloadOptions {
    // Requests per second on average; the rate swings ±swing of it over
    // `period`. Once key trial is out of quota (about ten seconds in), the
    // demo's limits carry about 7.5/s (OpenAI's two keys ~6.5/s, bound by
    // TPM; Anthropic ~1/s, bound by OTPM): the average sits at ~90% of that,
    // so around each peak the queue grows, then drains. The first peak comes
    // a quarter period in.
    double rate = 7;
    double swing = 0.6;
    Duration period = std::chrono::seconds(60);
    // Share of requests for Anthropic (the rest go to OpenAI).
    double anthropicShare = 0.13;
    // One request in this many asks for more output than the model allows
    // (a dead letter to fix); 0 for none.
    int invalidEvery = 50;
    // No more is queued while this many jobs wait in the store.
    std::int64_t maxPending = 3000;
    std::uint64_t seed = 1;
    Duration tick = std::chrono::milliseconds(100);
};

struct DemoWorkloadStats {
    std::uint64_t queued = 0;
    bool running = false;
};

class DemoWorkload {
public:
    // `poke` is called after each enqueue (QueueRunner::poke). `store` and
    // `clock` must outlive the workload.
    DemoWorkload(store::JobStore& store, Clock& clock, DemoWorkloadOptions options, std::function<void()> poke);
    ~DemoWorkload();
    DemoWorkload(const DemoWorkload&) = delete;
    DemoWorkload& operator=(const DemoWorkload&) = delete;

    void start();
    void stop();
    // Scales the whole workload (1 = as configured).
    void setScale(double scale);
    DemoWorkloadStats stats() const;

private:
    void run();
    std::vector<store::NewJob> makeJobs(std::size_t n);

    store::JobStore& m_store;
    Clock& m_clock;
    const DemoWorkloadOptions m_options;
    std::function<void()> m_poke;

    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_stopping = false;
    double m_scale = 1;
    std::uint64_t m_queued = 0;
    std::uint64_t m_rng = 0;
    std::string m_runTag;  // keeps custom ids unique across restarts
    std::thread m_thread;
    ClockSubscription m_subscription;
};

// Which model a demo body asks for, and a body for it: for tests and the
// benchmark, which queue their own jobs.
store::NewJob demoJob(std::string customId, bool anthropic, int promptWords, int maxTokens);

}  // namespace sluice::host
