#include "loadtest_runner.h"

#include "loadcheck/load_plan.h"
#include "loadtest/mock_setup.h"
#include "loadtest/request_factory.h"
#include "mock/mock_provider.h"

#include <filesystem>

namespace sluice::ui {

namespace {

using namespace sluice::loadtest;

// Long enough for any drain (a workload's drain_timeout_s bounds it); the
// wait ends as soon as the run does.
constexpr Duration kRunWait = std::chrono::hours(24);

using Plan = loadcheck::PlannedRun;

LoadTestOptions optionsFor(const LoadTestRequest& request, const Plan& plan)
{
    LoadTestOptions o;
    o.label = plan.label;
    o.duration = request.duration;
    o.scale = request.scale;
    o.naiveConcurrency = plan.naive;
    o.naive.maxRetries = request.naiveRetries;
    return o;
}

}  // namespace

LoadTestRunner::LoadTestRunner(Clock& clock) : m_clock(clock) {}

LoadTestRunner::~LoadTestRunner()
{
    stop();
    if (m_thread.joinable()) {
        m_thread.join();
    }
}

bool LoadTestRunner::start(LoadTestRequest request)
{
    std::lock_guard lock(m_mutex);
    if (m_phase == RunnerPhase::Preparing || m_phase == RunnerPhase::Running) {
        return false;
    }
    if (m_thread.joinable()) {
        // The previous session's thread has published its end and is
        // returning: a join that does not wait on traffic.
        m_thread.join();
    }
    m_phase = RunnerPhase::Preparing;
    m_stopRequested = false;
    m_labels.clear();
    m_run = 0;
    m_results.clear();
    m_error.clear();
    m_thread = std::thread([this, r = std::move(request)] { run(r); });
    return true;
}

void LoadTestRunner::stop()
{
    std::lock_guard lock(m_mutex);
    m_stopRequested = true;
    if (m_current != nullptr) {
        m_current->stop();  // only signals the run's thread
    }
}

bool LoadTestRunner::busy() const
{
    std::lock_guard lock(m_mutex);
    return m_phase == RunnerPhase::Preparing || m_phase == RunnerPhase::Running;
}

bool LoadTestRunner::stopRequested() const
{
    std::lock_guard lock(m_mutex);
    return m_stopRequested;
}

RunnerProgress LoadTestRunner::progress(std::int64_t seriesFrom) const
{
    std::lock_guard lock(m_mutex);
    RunnerProgress p;
    p.phase = m_phase;
    p.labels = m_labels;
    p.run = m_run;
    p.runStartedAt = m_runStartedAt;
    p.finishedRuns = m_results.size();
    p.error = m_error;
    if (m_current != nullptr) {
        p.snapshot = m_current->snapshot(seriesFrom);
    }
    return p;
}

std::vector<RunResult> LoadTestRunner::results() const
{
    std::lock_guard lock(m_mutex);
    return m_results;
}

void LoadTestRunner::run(const LoadTestRequest& request)
{
    // Everything is read and checked before any run starts, as the CLI
    // does (loadcheck::planLoadTest): a bad second config must not surface
    // after the first run.
    loadcheck::LoadPlan planned;
    try {
        loadcheck::LoadPlanRequest plan;
        plan.config = request.config();
        plan.label = request.configLabel;
        if (!request.compareConfigPath.empty()) {
            plan.compareLabel = std::filesystem::path(request.compareConfigPath).filename().string();
            if (plan.compareLabel == plan.label) {
                plan.compareLabel = request.compareConfigPath;
            }
            plan.compare = loadConfigFile(request.compareConfigPath, mockKeyLookup());
        } else if (request.compareNaive) {
            plan.compareNaive = request.compareNaive;
        }
        // The first config describes the provider; a second only adds its keys.
        plan.mock = request.mockBase;
        plan.options = [&request](const Plan& p) { return optionsFor(request, p); };
        planned = loadcheck::planLoadTest(std::move(plan), request.workload(), m_clock);
    } catch (const std::exception& e) {
        std::lock_guard lock(m_mutex);
        m_phase = RunnerPhase::Failed;
        m_error = e.what();
        return;
    }
    const std::vector<Plan>& plans = planned.runs;
    const Workload& workload = planned.workload;
    const mock::MockConfig& mockConfig = *planned.mock;
    {
        std::lock_guard lock(m_mutex);
        for (const Plan& plan : plans) {
            m_labels.push_back(plan.label);
        }
        m_phase = RunnerPhase::Running;
    }

    for (std::size_t i = 0; i < plans.size() && !stopRequested(); ++i) {
        try {
            mock::MockProvider provider(m_clock, mockConfig);
            provider.start();
            LoadTest test(workload, pointedAt(plans[i].config, provider.baseUrl()), m_clock, optionsFor(request, plans[i]));
            // Unpublished (under the lock) before `test` is destroyed, on
            // every way out, so progress() never reads a run that is gone.
            struct Unpublish {
                LoadTestRunner& runner;
                ~Unpublish()
                {
                    std::lock_guard lock(runner.m_mutex);
                    runner.m_current = nullptr;
                }
            } unpublish{*this};
            const WallTime startedAt = m_clock.wallNow();
            {
                std::lock_guard lock(m_mutex);
                m_run = i;
                m_runStartedAt = startedAt;
                m_current = &test;
                test.start();
                if (m_stopRequested) {
                    test.stop();
                }
            }
            while (!test.waitFinished(kRunWait)) {
            }
            RunResult result;
            result.summary = *test.summary();
            result.startedAt = startedAt;
            // Every response was read before the run finished, and the mock
            // counts a request before its last byte goes out: complete.
            result.mock = provider.stats();
            result.keyProblems = test.keyProblems();
            std::lock_guard lock(m_mutex);
            m_results.push_back(std::move(result));
        } catch (const std::exception& e) {
            std::lock_guard lock(m_mutex);
            m_phase = RunnerPhase::Failed;
            m_error = "run \"" + plans[i].label + "\": " + e.what();
            return;
        }
    }
    std::lock_guard lock(m_mutex);
    m_phase = m_stopRequested ? RunnerPhase::Stopped : RunnerPhase::Finished;
}

}  // namespace sluice::ui
