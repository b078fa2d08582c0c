// EngineHost: one running engine for one workspace, as the desktop console
// (and its tests, screenshots and benchmark) use it. It owns, in the order
// they are built: the workspace's JobStore, the engine assembled as every
// program assembles it (EngineRuntime: the shared link, the admission
// state, the QueueRunner that feeds the store to the Dispatcher, the
// Dispatcher itself), the metrics recorder (live series, and per-minute rollups written to the
// workspace's database for reports) and, for a demo, an embedded mock provider every provider points at and a
// workload that pushes against its limits. The console talks to nothing
// else in the engine.
//
// Thread-safety: construct, start() and stop() from one thread. Reads
// (status(), config()) take short locks and never wait on traffic or disk.
// Control calls (pause, limits, providers, keys) hand the change to the
// dispatcher thread and return at once. Store calls (requeue, counts, dead
// letters through store()) may wait on the disk: make them from a worker
// thread, never the GUI's.
#pragma once

#include "admission/admission.h"
#include "dispatch/adaptive_wiring.h"
#include "dispatch/dispatcher.h"
#include "host/demo.h"
#include "host/demo_neighbour.h"
#include "host/engine_runtime.h"
#include "host/limit_history.h"
#include "host/shared_link.h"
#include "metrics/metrics_recorder.h"
#include "metrics/rollup_store.h"
#include "mock/mock_provider.h"
#include "queue/file_lock.h"
#include "queue/queue_runner.h"
#include "store/job_store.h"

#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice::host {

struct HostOptions {
    std::filesystem::path database;  // the workspace's JobStore
    Config config;
    // Set: an embedded mock provider with this configuration serves every
    // provider of the config (their base URLs are replaced).
    std::optional<mock::MockConfig> mock;
    // Set: the demo workload queues requests while the host runs.
    std::optional<DemoWorkloadOptions> workload;
    // Set, with a mock: another program shares a demo key in bursts.
    std::optional<DemoNeighbourOptions> neighbour;
    DispatcherOptions dispatcher;
    QueueRunnerOptions runner;
    metrics::RecorderOptions metrics;
    // Set (shared::sharedLinkFactory): a config with "shared" makes the
    // host share budgets, signals and the fleet through Redis.
    SharedLinkFactory shared;
};

// Something the operator should hear about: a key quarantined, the store
// failing.
struct HostEvent {
    WallTime at{};
    std::string text;
};

struct HostStatus {
    DispatcherStats dispatch;
    QueueRunnerStats runner;
    std::vector<ScopeState> scopes;  // every admission scope, id order
    bool intakeOpen = false;         // the demo workload is queueing
    bool hasWorkload = false;
    std::uint64_t workloadQueued = 0;
    std::string mockUrl;  // empty without an embedded mock
    bool queueHeld = false;  // see EngineHost::holdQueue
    std::vector<HostEvent> events;  // the latest, oldest first
    // As last sampled with the metrics gauges (about once a second);
    // inactive without "shared".
    SharedLinkStatus shared;
};

class EngineHost : private DispatchListener {
public:
    // Locks the workspace (DATABASE.lock, as sluice-cli batch does), opens
    // (creating) the store and starts the mock, if any. Throws
    // std::runtime_error naming the file when another process has the
    // workspace open, store::StoreError when the store cannot be opened,
    // std::runtime_error when the mock cannot listen.
    EngineHost(Clock& clock, HostOptions options);
    ~EngineHost() override;
    EngineHost(const EngineHost&) = delete;
    EngineHost& operator=(const EngineHost&) = delete;

    void start();
    // Stops the workload, the dispatcher (in-flight requests are abandoned;
    // their jobs go back to pending) and the runner. Idempotent.
    void stop();

    // Holding the queue: nothing is taken from the store to be sent (the
    // runner does not run), so queued jobs stay where they are until the
    // operator decides. Call before start(); releaseQueue() ends it.
    void holdQueue();
    void releaseQueue();
    bool queueHeld() const;
    // While held: dead-letters every pending job, ready or waiting for a
    // retry, with `reason`, and returns how many. Waits on the disk: a worker thread.
    std::size_t discardQueued(const std::string& reason);

    // What the whole engine could carry, as it was at each moment since the
    // host started (sampled with the metrics gauges, about once a second).
    const LimitHistory& limitHistory() const noexcept { return m_limitHistory; }
    // Spend since the start of today (UTC, or the global daily budget's
    // day): what earlier runs recorded in the rollups today, plus this
    // run's. Short locks, no disk.
    std::int64_t spendTodayMicroUsd();

    HostStatus status() const;
    std::shared_ptr<const Config> config() const { return m_runtime->dispatcher().config(); }
    Clock& clock() noexcept { return m_clock; }
    const Admission& admission() const noexcept { return m_runtime->admission(); }
    // Live series and totals; its readers take short locks (never the
    // disk), so the GUI thread may call them.
    metrics::MetricsRecorder& metrics() noexcept { return *m_metrics; }
    // The per-minute rollups for reports. Reads the disk: a worker thread.
    metrics::RollupStore& rollups() noexcept { return *m_rollups; }
    const std::filesystem::path& databasePath() const noexcept { return m_options.database; }
    std::string mockUrl() const;

    void pause() { m_runtime->dispatcher().pause(); }
    void resume() { m_runtime->dispatcher().resume(); }
    // Opens or closes the intake (the demo workload). Draining is closing it
    // while dispatch goes on until the store has nothing left.
    void setIntakeOpen(bool open);
    void setWorkloadScale(double scale);

    // Each throws InputError naming the problem and then changes nothing.
    void setLimits(const LimitTarget& target, std::vector<LimitSpec> limits);
    void addProvider(ProviderConfig provider);
    void removeProvider(const std::string& provider);
    void addKey(const std::string& provider, KeyConfig key);
    void removeKey(const std::string& provider, const std::string& key);
    void setKeyEnabled(const std::string& provider, const std::string& key, bool enabled);

    // The writable store. Its calls may wait on the disk.
    store::JobStore& store() noexcept { return *m_store; }
    // Requeues and wakes the runner, so the job goes at once.
    bool requeue(store::JobId id);
    bool editAndRequeue(store::JobId id, const std::string& body);
    std::size_t requeueDead(const store::DeadLetterFilter& filter);

    // For programs that also listen (metrics): every dispatcher callback is
    // passed on to `listener` after the host's own bookkeeping. Set before
    // start(); it must outlive the host's run.
    void setDownstream(DispatchListener* listener) { m_downstream = listener; }
    Dispatcher& dispatcher() noexcept { return m_runtime->dispatcher(); }

private:
    void onFinished(JobOutcome&& outcome) override;
    void onSent(const SendReport& report) override;
    void onAttempt(const AttemptReport& report) override;
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override;
    void onProviderProblem(const std::string& provider, const std::string& reason) override;
    void onProviderLearned(const std::string& provider, const std::string& what) override;
    void addEvent(std::string text);

    void sampleShared();

    Clock& m_clock;
    HostOptions m_options;
    std::unique_ptr<FileLock> m_lock;
    std::unique_ptr<mock::MockProvider> m_mock;
    std::unique_ptr<store::JobStore> m_store;
    std::unique_ptr<metrics::RollupStore> m_rollups;
    // "concurrency": "auto": between the dispatcher and the host's own
    // listener; before the runtime, so it outlives the dispatcher.
    std::unique_ptr<AdaptiveWiring> m_adaptive;
    // The shared link, admission, runner and dispatcher (host/engine_runtime.h),
    // after the store the runner feeds from.
    std::unique_ptr<EngineRuntime> m_runtime;
    // After the dispatcher: its gauge source reads the dispatcher, so it
    // goes first.
    std::unique_ptr<metrics::MetricsRecorder> m_metrics;
    std::unique_ptr<DemoWorkload> m_workload;
    std::unique_ptr<DemoNeighbour> m_neighbour;
    DispatchListener* m_downstream = nullptr;
    bool m_started = false;
    mutable std::mutex m_holdMutex;
    bool m_queueHeld = false;
    LimitHistory m_limitHistory;
    // Today's spend before this run (from the rollups) and that day's start.
    WallTime m_spendDayStart{};
    std::int64_t m_spendBeforeStart = 0;

    mutable std::mutex m_eventsMutex;
    std::deque<HostEvent> m_events;
    SharedLinkStatus m_sharedStatus;  // under m_eventsMutex
};

}  // namespace sluice::host
