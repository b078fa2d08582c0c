// LoadTest: one run of a workload against a target (Sluice's dispatcher over
// a config, or the naive fixed-concurrency client). Its own thread submits
// each arrival's requests at their scheduled times on the injected Clock,
// starts a pipeline's next stage when the calls it depends on complete, and
// ends by draining or cutting the run; every request's queue time, latency,
// time to first token, outcome, tokens and spend are tracked, and a summary
// is built when it ends.
//
// For a console panel: construct (throws InputError naming the workload
// file and line when the workload cannot run on this config), start(), poll
// snapshot() on a timer, stop() to end early (what was measured is kept),
// read summary() once finished() is true. Nothing here blocks on traffic.
//
// Thread-safety: every public member from any thread. snapshot() and
// summary() take one short lock; start() and stop() only signal the run's
// thread. The destructor stops the run and waits for its thread.
#pragma once

#include "config/config.h"
#include "loadtest/load_target.h"
#include "loadtest/naive_client.h"
#include "loadtest/request_factory.h"
#include "loadtest/summary.h"
#include "loadtest/workload.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace sluice::loadtest {

struct LoadTestOptions {
    std::string label;                  // names the run in reports; default: the target
    std::optional<Duration> duration;   // replaces the workload's
    double scale = 1;                   // multiplies arrival rates and recorded replay speed
    std::optional<EndMode> end;         // replaces the workload's
    // The target: Sluice over the config unless naiveConcurrency is set;
    // `target`, when set, replaces both (tests use a scripted target).
    std::optional<int> naiveConcurrency;
    NaiveClientOptions naive;
    DispatcherOptions dispatcher;
    TargetFactory target;
    // When set, wraps whichever factory was chosen above (the program puts
    // its own listeners in front of the target's, e.g. adaptive concurrency).
    std::function<TargetFactory(TargetFactory)> wrapTarget;
};

class LoadTest final : private DispatchListener {
public:
    // `clock` must outlive the LoadTest. The workload is adjusted by the
    // options and bound to the config here.
    LoadTest(Workload workload, Config config, Clock& clock, LoadTestOptions options = {});
    ~LoadTest() override;
    LoadTest(const LoadTest&) = delete;
    LoadTest& operator=(const LoadTest&) = delete;

    void start();
    // Ends the run early: nothing new is sent, requests in flight finish,
    // the rest is cancelled, and the summary covers what happened.
    void stop();

    // Live figures; the per-second series from second `seriesFrom` on, so a
    // panel polling often copies only what is new.
    LoadTestSnapshot snapshot(std::int64_t seriesFrom = 0) const;
    bool finished() const;
    // Block the caller (never the run) until the run has reached `state`
    // (or a later one), or `timeout` of real time passes.
    bool waitForState(LoadTestState state, Duration timeout) const;
    bool waitFinished(Duration timeout) const { return waitForState(LoadTestState::Finished, timeout); }
    std::optional<LoadTestSummary> summary() const;
    // Keys the target quarantined ("provider/key: reason"), for the operator.
    std::vector<std::string> keyProblems() const;

    const Workload& workload() const noexcept { return m_workload; }
    const std::string& label() const noexcept { return m_label; }

private:
    struct Call {
        TimePoint submittedAt{};
        std::string tenant;
        std::optional<std::uint64_t> pipeline;
        std::size_t stage = 0;
        bool stream = false;
    };
    struct PipelineRun {
        TimePoint started{};
        std::vector<int> left;        // per stage: calls not yet finished
        std::vector<bool> submitted;  // per stage
        int submittedCalls = 0;
        int open = 0;  // calls submitted and not finished
        bool failed = false;
        bool done = false;
    };
    struct Samples {
        std::uint64_t completed = 0;
        std::uint64_t failed = 0;
        std::vector<Duration> latency;
        std::vector<Duration> queueTime;
    };

    void onFinished(JobOutcome&& outcome) override;
    void onAttempt(const AttemptReport& report) override;
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override;

    void run();
    void startArrival(std::uint64_t arrival);
    void submitStages(const std::vector<std::pair<std::uint64_t, std::size_t>>& stages);
    void submit(JobSpec job, Call call);
    void endRun(EndMode mode);
    // Called with m_mutex held.
    void releaseReadyStages(std::uint64_t pipeline, PipelineRun& run);
    // onFinished's parts, under m_mutex.
    void countAttemptsLocked(const JobOutcome& o);
    void countCompletedLocked(const JobOutcome& o, const Call& call, Duration latency,
                              std::optional<Duration> queueTime, SecondSample& second,
                              std::initializer_list<Samples*> groups);
    void settlePipelineLocked(std::uint64_t pipeline, std::size_t stage, bool ok, TimePoint now);
    SecondSample& secondAt(TimePoint t);
    std::size_t outstanding() const;
    LoadTestSummary buildSummary() const;

    Workload m_workload;
    const Config m_config;
    Clock& m_clock;
    LoadTestOptions m_options;
    std::string m_label;
    std::string m_targetKind;
    RequestFactory m_factory;
    LimitFigures m_limits;

    mutable std::mutex m_mutex;
    mutable std::condition_variable m_cv;  // the run's thread waits on it
    mutable std::condition_variable m_stateCv;  // callers of waitForState wait on it
    LoadTestState m_state = LoadTestState::Ready;
    bool m_stopRequested = false;
    bool m_cutting = false;  // no more pipeline stages are started
    bool m_abandoned = false;  // being destroyed: no waiting for what is in flight
    TimePoint m_start{};
    WallTime m_startWall{};
    TimePoint m_arrivalsEnded{};
    TimePoint m_end{};
    std::deque<std::pair<std::uint64_t, std::size_t>> m_readyStages;  // (pipeline, stage) to submit
    std::unordered_map<std::string, Call> m_calls;  // submitted, not finished
    std::unordered_map<std::uint64_t, PipelineRun> m_pipelines;

    // What summary() reports as counted so far: requests, attempts, tokens,
    // spend, pipelines (the rest of a summary is computed when asked).
    LoadTestSummary m_totals;
    std::uint64_t m_liveAttempts = 0;
    std::uint64_t m_liveRateLimited = 0;
    std::vector<Duration> m_latency;
    std::vector<Duration> m_queueTime;
    std::vector<Duration> m_ttft;
    std::vector<Duration> m_pipelineLatency;
    std::map<std::string, Samples> m_byStage;
    std::map<std::string, Samples> m_byTenant;
    std::map<std::pair<std::string, std::string>, LaneSummary> m_byLane;  // (provider, model)
    std::deque<Duration> m_recentLatency;
    std::deque<Duration> m_recentQueue;
    std::vector<SecondSample> m_series;
    std::vector<std::string> m_keyProblems;
    std::optional<LoadTestSummary> m_summary;

    // Declared last: destroyed first, so no callback reaches a member that
    // is already gone.
    std::unique_ptr<LoadTarget> m_target;
    ClockSubscription m_clockSubscription;
    std::thread m_thread;
};

}  // namespace sluice::loadtest
