// LoadTestRunner: the console's load-test session, what the load-test panel
// starts and polls. It does what `sluice-cli loadtest --mock` does, off the
// GUI thread: its own controller thread loads the workload and the configs
// (which reads files), checks every run before any starts, then runs them
// one after another, each against a fresh in-process mock provider (full
// buckets, counters of its own) set up as the first config's providers. The
// workspace's engine is not touched: a rehearsal must not spend the
// workspace's limits or fill its queue.
//
// The panel polls progress() on its timer; results() holds each finished
// run's summary and what its mock counted, so the figures shown can be
// checked against an independent count.
//
// Thread-safety: every public member from any thread (the panel uses the GUI
// thread). Each takes one short lock, and progress() also the running
// LoadTest's own short lock; none waits on traffic or disk. The destructor
// stops the session and joins its thread.
#pragma once

#include "config/config.h"
#include "loadtest/load_test.h"
#include "mock/mock_config.h"
#include "mock/mock_stats.h"

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sluice::ui {

struct LoadTestRequest {
    // Loads the workload (it may read files), on the controller thread.
    std::function<loadtest::Workload()> workload;
    // The first run's config, built on the controller thread (it may read
    // files); key variables must resolve to mock keys (mockKeyLookup).
    std::function<Config()> config;
    std::string configLabel = "sluice";
    std::optional<Duration> duration;
    double scale = 1;
    // At most one comparison: the naive client with N in flight, or a
    // second config file (loaded with mock keys).
    std::optional<int> compareNaive;
    int naiveRetries = 2;
    std::string compareConfigPath;
    // The mock's starting point; the first config's limits replace its own.
    mock::MockConfig mockBase = mock::MockConfig::defaults();
};

enum class RunnerPhase : std::uint8_t { Idle, Preparing, Running, Finished, Stopped, Failed };

struct RunnerProgress {
    RunnerPhase phase = RunnerPhase::Idle;
    std::vector<std::string> labels;  // one per planned run
    std::size_t run = 0;              // the run in progress (index into labels)
    std::optional<loadtest::LoadTestSnapshot> snapshot;  // of that run
    WallTime runStartedAt{};          // of that run
    std::size_t finishedRuns = 0;
    std::string error;                // Failed: what went wrong, naming the file
};

struct RunResult {
    loadtest::LoadTestSummary summary;
    WallTime startedAt{};
    mock::MockStats mock;  // what the run's mock counted
    std::vector<std::string> keyProblems;
};

class LoadTestRunner {
public:
    // `clock` must outlive the runner; a SystemClock in the console.
    explicit LoadTestRunner(Clock& clock);
    ~LoadTestRunner();
    LoadTestRunner(const LoadTestRunner&) = delete;
    LoadTestRunner& operator=(const LoadTestRunner&) = delete;

    // Starts a session; false (and nothing started) while one is running.
    bool start(LoadTestRequest request);
    // Ends the session early: the current run stops (what it measured is
    // kept) and no further run starts. Returns at once.
    void stop();
    bool busy() const;

    // The series of the current run from second `seriesFrom` on.
    RunnerProgress progress(std::int64_t seriesFrom = 0) const;
    std::vector<RunResult> results() const;

private:
    void run(const LoadTestRequest& request);
    bool stopRequested() const;

    Clock& m_clock;
    mutable std::mutex m_mutex;
    RunnerPhase m_phase = RunnerPhase::Idle;
    bool m_stopRequested = false;
    std::vector<std::string> m_labels;
    std::size_t m_run = 0;
    WallTime m_runStartedAt{};
    // The run in progress, owned by the controller thread, which clears this
    // (under the lock) before destroying it.
    loadtest::LoadTest* m_current = nullptr;
    std::vector<RunResult> m_results;
    std::string m_error;
    std::thread m_thread;
};

}  // namespace sluice::ui
