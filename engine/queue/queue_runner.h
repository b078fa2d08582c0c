// QueueRunner: feeds a durable JobStore to the Dispatcher and writes what
// happens back. It leases ready jobs (keeping a bounded number outstanding,
// no model more than half of them while other models' jobs are ready),
// submits them, and turns each outcome into one group-committed store update:
// every failed attempt, the result or the dead letter, and the job's
// timeline. The dispatcher thread never touches the disk: outcomes are
// handed to this runner's own thread.
//
// Thread-safety: start/stop/stats/flush from any thread; the
// DispatchListener callbacks come from the dispatcher thread and only queue
// work. One runner per store at a time (a FileLock guards batch runs).
#pragma once

#include "dispatch/dispatch_types.h"
#include "store/job_store.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace sluice {

class Dispatcher;

struct QueueRunnerOptions {
    std::string owner = "sluice";  // lease owner name
    std::chrono::milliseconds leaseDuration = std::chrono::minutes(5);
    std::size_t maxOutstanding = 2048;  // jobs leased and not yet finished
    std::chrono::milliseconds flushInterval = std::chrono::milliseconds(50);
    std::size_t flushBatch = 1000;
};

struct QueueRunnerStats {
    std::uint64_t leased = 0;
    std::uint64_t submitted = 0;
    std::uint64_t rejected = 0;   // leased but not runnable (bad body, no provider): failed at once
    std::uint64_t recorded = 0;   // outcomes written to the store
    std::uint64_t outstanding = 0;
    std::string lastError;        // the last store error, if any
    // Why the runner stopped leasing on its own: the store cannot be written
    // (a full disk, a read-only or damaged file). Says what happened to the
    // state and what to do; empty while all is well.
    std::string failure;
};

class QueueRunner : public DispatchListener {
public:
    // `downstream` (metrics, UI) receives every callback after the runner.
    QueueRunner(store::JobStore& store, Clock& clock, QueueRunnerOptions options = {},
                DispatchListener* downstream = nullptr);
    ~QueueRunner() override;
    QueueRunner(const QueueRunner&) = delete;
    QueueRunner& operator=(const QueueRunner&) = delete;

    // The dispatcher is built with this runner as its listener, then
    // attached; start() needs both.
    void attach(Dispatcher& dispatcher) { m_dispatcher = &dispatcher; }
    void start();
    // Stops leasing, writes every outcome received so far, and releases the
    // leases of jobs still outstanding (they are pending again).
    void stop();

    // True when the store has nothing pending or leased and every outcome
    // received has been written.
    bool drained() const;
    // True once the store could not be written for a reason that retrying
    // will not fix (stats().failure says which). The runner then leases
    // nothing more and keeps the outcomes it could not write, trying them
    // again at every flush and at stop() (space freed meanwhile saves them);
    // the caller should stop the dispatcher and report the failure.
    bool failed() const;
    QueueRunnerStats stats() const;
    // Wakes the runner to lease now (after a requeue, for instance).
    void poke();

    void onFinished(JobOutcome&& outcome) override;
    void onSent(const SendReport& report) override;
    void onAttempt(const AttemptReport& report) override;
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override;
    void onProviderProblem(const std::string& provider, const std::string& reason) override;
    void onProviderLearned(const std::string& provider, const std::string& what) override;

private:
    void run();
    void flush();
    void leaseMore();
    std::optional<std::string> submitLeased(store::Job& job);
    store::Updates toUpdates(JobOutcome&& outcome, store::JobId id) const;
    // Records a store error; a lasting one (full, read-only, damaged) fails the run.
    void storeError(const std::exception& e);

    store::JobStore& m_store;
    Clock& m_clock;
    QueueRunnerOptions m_options;
    DispatchListener* m_downstream;
    Dispatcher* m_dispatcher = nullptr;

    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::vector<JobOutcome> m_finished;  // from the dispatcher, not yet written
    // Outcomes a failed write left over, by custom_id; runner thread only
    // (and stop() after it has joined).
    store::Updates m_unwritten;
    std::vector<std::string> m_unwrittenIds;
    struct Outstanding {
        store::JobId id = 0;
        std::string model;
    };
    std::unordered_map<std::string, Outstanding> m_outstanding;  // by custom_id
    // Jobs outstanding per model: no model may take every slot (leaseMore).
    std::unordered_map<std::string, std::size_t> m_outstandingByModel;
    void forgetOutstanding(std::unordered_map<std::string, Outstanding>::iterator it);
    QueueRunnerStats m_stats;
    bool m_poked = false;
    std::atomic<bool> m_stopping{false};
    std::thread m_thread;
    TimePoint m_lastHeartbeat{};
};

}  // namespace sluice
