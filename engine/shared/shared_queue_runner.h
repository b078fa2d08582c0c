// SharedQueueRunner: feeds a SharedQueue to the Dispatcher, the shared
// queue's counterpart of QueueRunner (whose JobStore is a concrete SQLite
// store, not an interface a stream could stand behind). It leases entries
// (keeping a bounded number outstanding), takes over entries whose holder's
// lease lapsed, renews the leases it holds every lease/3, submits the jobs,
// and turns each outcome into a completion or a dead letter through the
// queue's completion script, which accepts one result per custom_id. A
// job that cannot run here (bad body, unknown endpoint) is dead-lettered at
// once. Stopping releases what it still holds, so others need not wait out
// the lease.
//
// Thread-safety: start/stop/stats from any thread; the DispatchListener
// callbacks come from the dispatcher thread and only queue work for the
// runner's own thread, which does every Redis call.
#pragma once

#include "dispatch/dispatcher.h"
#include "shared/shared_queue.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace sluice::shared {

struct SharedQueueRunnerOptions {
    std::chrono::milliseconds leaseTime = std::chrono::seconds(30);
    // Jobs leased ahead of what runs: small, so one instance does not hold
    // the queue while others sit idle.
    std::size_t maxOutstanding = 32;
    std::chrono::milliseconds pollInterval = std::chrono::milliseconds(50);
    // A job taken over from lapsed leases more often than this (its holders
    // keep dying on it) is dead-lettered as "worker_lost".
    std::int64_t maxDeliveries = 5;
};

struct SharedQueueRunnerStats {
    std::uint64_t leased = 0;
    std::uint64_t takenOver = 0;  // of which claimed from a lapsed lease
    std::uint64_t completed = 0;  // results this runner stored
    std::uint64_t deadLettered = 0;
    std::uint64_t refused = 0;    // outcomes the queue refused (lease lost, result already there)
    std::uint64_t released = 0;
    std::uint64_t outstanding = 0;
    std::string lastError;        // the last Redis error, if any
};

class SharedQueueRunner : public DispatchListener {
public:
    SharedQueueRunner(SharedQueue& queue, Clock& clock, SharedQueueRunnerOptions options = {},
                      DispatchListener* downstream = nullptr);
    ~SharedQueueRunner() override;
    SharedQueueRunner(const SharedQueueRunner&) = delete;
    SharedQueueRunner& operator=(const SharedQueueRunner&) = delete;

    void attach(Dispatcher& dispatcher) { m_dispatcher = &dispatcher; }
    void start();
    // Stops leasing, records every outcome received so far, and releases
    // the entries still outstanding. Stop the dispatcher first.
    void stop();
    SharedQueueRunnerStats stats() const;
    // Drain: leases nothing more; what it holds runs and its outcomes are
    // recorded as before (stats().outstanding falls to 0). stop() still
    // ends it.
    void closeIntake() noexcept { m_intakeClosed = true; }
    bool intakeClosed() const noexcept { return m_intakeClosed.load(); }

    void onFinished(JobOutcome&& outcome) override;
    void onSent(const SendReport& report) override;
    void onAttempt(const AttemptReport& report) override;
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override;
    void onProviderLearned(const std::string& provider, const std::string& what) override;

private:
    struct Held {
        std::string entryId;
        QueuedJob job;
    };
    void run();
    bool flush();  // false when Redis refused the writes (kept for later)
    void leaseMore();
    // Dead-letters a leased entry (counted; a Redis error is noted, not thrown).
    void deadLetterLeased(const LeasedEntry& le, const SharedResult& result);
    void renew();
    void noteError(const std::exception& e);

    SharedQueue& m_queue;
    Clock& m_clock;
    SharedQueueRunnerOptions m_options;
    DispatchListener* m_downstream;
    Dispatcher* m_dispatcher = nullptr;

    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::vector<JobOutcome> m_finished;
    std::unordered_map<std::string, Held> m_outstanding;  // by custom_id
    SharedQueueRunnerStats m_stats;
    std::atomic<bool> m_stopping{false};
    std::atomic<bool> m_intakeClosed{false};
    std::thread m_thread;
    TimePoint m_lastRenew{};
};

}  // namespace sluice::shared
