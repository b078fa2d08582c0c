#include "loadtest/load_test.h"

#include "loadtest/arrivals.h"

#include <algorithm>
#include <set>

namespace sluice::loadtest {

namespace {

constexpr std::size_t kRecent = 1024;
constexpr std::size_t kMaxKeyProblems = 100;
// The run's thread re-checks conditions it has no callback for (the target
// taking in a pause) this often.
constexpr Duration kRecheck = std::chrono::milliseconds(20);
// Arrivals started per wake-up, so stage follow-ups are not held up behind
// a large burst.
constexpr int kArrivalsPerWake = 256;
constexpr Duration kCancelWait = std::chrono::seconds(30);

std::optional<WallTime> firstEvent(const JobOutcome& o, TimelineEvent::Kind kind)
{
    for (const TimelineEvent& e : o.timeline) {
        if (e.kind == kind) {
            return e.at;
        }
    }
    return std::nullopt;
}

// The first token of the attempt that succeeded, measured from its send.
std::optional<Duration> timeToFirstToken(const JobOutcome& o)
{
    std::optional<WallTime> sent;
    std::optional<Duration> ttft;
    for (const TimelineEvent& e : o.timeline) {
        if (e.kind == TimelineEvent::Kind::Sent) {
            sent = e.at;
            ttft.reset();
        } else if (e.kind == TimelineEvent::Kind::FirstToken && sent) {
            ttft = e.at - *sent;
        }
    }
    return ttft;
}

template <typename T>
void pushRecent(std::deque<T>& ring, T value)
{
    ring.push_back(value);
    if (ring.size() > kRecent) {
        ring.pop_front();
    }
}

}  // namespace

LoadTest::LoadTest(Workload workload, Config config, Clock& clock, LoadTestOptions options)
    : m_workload(workload.withOverrides(options.duration, options.scale)),
      m_config(std::move(config)),
      m_clock(clock),
      m_options(std::move(options)),
      m_factory(m_workload)
{
    if (m_options.end) {
        m_workload.end = *m_options.end;
    }
    TargetFactory make = m_options.target;
    if (make) {
        m_targetKind = "custom";
    } else if (m_options.naiveConcurrency) {
        NaiveClientOptions n = m_options.naive;
        n.concurrency = *m_options.naiveConcurrency;
        make = naiveTarget(m_config, m_clock, n);
        m_targetKind = "naive";
    } else {
        DispatcherOptions d = m_options.dispatcher;
        if (d.seed == 0) {
            d.seed = m_workload.seed;
        }
        make = sluiceTarget(m_config, m_clock, d);
        m_targetKind = "sluice";
    }
    m_label = !m_options.label.empty() ? m_options.label
              : m_options.naiveConcurrency ? "naive x" + std::to_string(*m_options.naiveConcurrency)
                                           : m_targetKind;
    if (m_options.wrapTarget) {
        make = m_options.wrapTarget(std::move(make));
    }
    m_target = make(*this);
    bindToConfig(m_workload, m_config, [this](const JobSpec& job) { return m_target->validate(job); });

    std::set<std::pair<std::string, std::string>> pairs;
    const auto addRoute = [&](ApiFlavor flavor, const std::string& model, const std::string& provider) {
        if (const ProviderConfig* p = m_config.route(flavor, model, provider)) {
            pairs.emplace(p->name, model);
        }
    };
    const auto addMix = [&](const RequestMix& mix) {
        for (const ModelChoice& m : mix.models) {
            addRoute(m.flavor.value_or(ApiFlavor::OpenAI), m.model, m.provider);
        }
    };
    addMix(m_workload.mix);
    if (m_workload.pipeline) {
        for (const Stage& s : m_workload.pipeline->stages) {
            addMix(s.mix);
        }
    }
    if (m_workload.replay) {
        for (const ReplayEntry& e : m_workload.replay->entries) {
            if (e.job) {
                addRoute(e.job->flavor, e.job->body.value("model", ""), e.job->provider);
            } else {
                addRoute(e.model.flavor.value_or(ApiFlavor::OpenAI), e.model.model, e.model.provider);
            }
        }
    }
    m_limits = configuredLimits(m_config, {pairs.begin(), pairs.end()});
    m_clockSubscription = m_clock.subscribe([this] {
        std::lock_guard guard(m_mutex);
        m_cv.notify_all();
    });
}

LoadTest::~LoadTest()
{
    {
        // Nothing will read the results: the run does not wait for requests
        // in flight, which the target's stop() aborts.
        std::lock_guard guard(m_mutex);
        m_abandoned = true;
    }
    stop();
    if (m_thread.joinable()) {
        m_thread.join();
    }
    m_target.reset();
}

void LoadTest::start()
{
    std::lock_guard guard(m_mutex);
    if (m_state != LoadTestState::Ready) {
        return;
    }
    m_state = LoadTestState::Running;
    m_stateCv.notify_all();
    m_start = m_clock.now();
    m_startWall = m_clock.wallNow();
    m_target->start();
    m_thread = std::thread([this] { run(); });
}

void LoadTest::stop()
{
    std::lock_guard guard(m_mutex);
    m_stopRequested = true;
    m_cv.notify_all();
}

bool LoadTest::finished() const
{
    std::lock_guard guard(m_mutex);
    return m_state == LoadTestState::Finished;
}

bool LoadTest::waitForState(LoadTestState state, Duration timeout) const
{
    std::unique_lock lock(m_mutex);
    return m_stateCv.wait_for(lock, timeout, [this, state] { return m_state >= state; });
}

std::optional<LoadTestSummary> LoadTest::summary() const
{
    std::lock_guard guard(m_mutex);
    return m_summary;
}

std::vector<std::string> LoadTest::keyProblems() const
{
    std::lock_guard guard(m_mutex);
    return m_keyProblems;
}

// ------------------------------------------------------------- the run

void LoadTest::run()
{
    WorkloadSchedule schedule(m_workload);
    std::optional<Duration> next = schedule.next();
    std::uint64_t arrival = 0;
    bool stopped = false;
    // Arrivals come until the duration is over, even when the last one is
    // earlier: the run's measured window is never shorter than planned.
    const TimePoint over = m_start + m_workload.duration;
    while (true) {
        const TimePoint due = next ? m_start + *next : over;
        std::vector<std::pair<std::uint64_t, std::size_t>> stages;
        {
            std::unique_lock lock(m_mutex);
            while (!m_stopRequested && m_readyStages.empty() && m_clock.now() < due) {
                m_clock.waitUntil(m_cv, lock, due);
            }
            stopped = m_stopRequested;
            stages.assign(m_readyStages.begin(), m_readyStages.end());
            m_readyStages.clear();
        }
        if (stopped) {
            break;
        }
        submitStages(stages);
        const TimePoint now = m_clock.now();
        for (int n = 0; next && now >= m_start + *next && n < kArrivalsPerWake; ++n) {
            startArrival(arrival++);
            next = schedule.next();
        }
        if (!next && now >= over) {
            break;
        }
    }
    {
        std::lock_guard guard(m_mutex);
        m_state = LoadTestState::Ending;
        m_arrivalsEnded = m_clock.now();
        m_end = std::max(m_end, m_arrivalsEnded);
        m_stateCv.notify_all();
    }
    endRun(stopped ? EndMode::Cut : m_workload.end);
    m_target->stop();
    std::lock_guard guard(m_mutex);
    m_end = std::max(m_end, m_start);
    m_summary = buildSummary();
    m_state = LoadTestState::Finished;
    m_stateCv.notify_all();
}

void LoadTest::startArrival(std::uint64_t arrival)
{
    const TimePoint now = m_clock.now();
    std::string tenant;
    {
        std::lock_guard guard(m_mutex);
        ++m_totals.arrivals;
        ++secondAt(now).arrivals;
    }
    if (m_workload.replay) {
        JobSpec job = m_factory.replayCall(arrival);
        Call call;
        call.tenant = job.tenant;
        submit(std::move(job), call);
        return;
    }
    if (!m_workload.pipeline) {
        JobSpec job = m_factory.single(arrival);
        Call call;
        call.tenant = job.tenant;
        submit(std::move(job), call);
        return;
    }
    const std::vector<Stage>& stages = m_workload.pipeline->stages;
    {
        std::lock_guard guard(m_mutex);
        PipelineRun& run = m_pipelines[arrival];
        run.started = now;
        run.left.resize(stages.size());
        run.submitted.assign(stages.size(), false);
        for (std::size_t s = 0; s < stages.size(); ++s) {
            run.left[s] = stages[s].count;
        }
        releaseReadyStages(arrival, run);
    }
}

void LoadTest::releaseReadyStages(std::uint64_t pipeline, PipelineRun& run)
{
    const std::vector<Stage>& stages = m_workload.pipeline->stages;
    for (std::size_t s = 0; s < stages.size(); ++s) {
        if (run.submitted[s]) {
            continue;
        }
        const bool ready = std::all_of(stages[s].after.begin(), stages[s].after.end(),
                                       [&](std::size_t dep) { return run.left[dep] == 0; });
        if (ready) {
            run.submitted[s] = true;
            run.submittedCalls += stages[s].count;
            run.open += stages[s].count;
            m_readyStages.emplace_back(pipeline, s);
        }
    }
    m_cv.notify_all();
}

void LoadTest::submitStages(const std::vector<std::pair<std::uint64_t, std::size_t>>& stages)
{
    for (const auto& [pipeline, stage] : stages) {
        for (int c = 0; c < m_workload.pipeline->stages[stage].count; ++c) {
            JobSpec job = m_factory.stageCall(pipeline, stage, c);
            Call call;
            call.tenant = job.tenant;
            call.pipeline = pipeline;
            call.stage = stage;
            submit(std::move(job), call);
        }
    }
}

void LoadTest::submit(JobSpec job, Call call)
{
    call.submittedAt = m_clock.now();
    call.stream = job.body.value("stream", false);
    const std::string id = job.customId;
    {
        std::lock_guard guard(m_mutex);
        ++m_totals.requests;
        m_calls.emplace(id, call);
    }
    try {
        m_target->submit(std::move(job));
    } catch (const InputError& e) {
        // bindToConfig checked every kind of request; one that still cannot
        // run is counted as failed rather than ending the run.
        JobOutcome out;
        out.customId = id;
        out.result = JobResult::DeadLettered;
        out.cls = FailureClass::BadRequest;
        out.reason = e.what();
        onFinished(std::move(out));
    }
}

std::size_t LoadTest::outstanding() const
{
    std::size_t pending = 0;
    for (const auto& [pipeline, stage] : m_readyStages) {
        pending += static_cast<std::size_t>(m_workload.pipeline->stages[stage].count);
    }
    return m_calls.size() + pending;
}

void LoadTest::endRun(EndMode mode)
{
    if (mode == EndMode::Drain) {
        // From the moment the state said so, for whoever watches it.
        const TimePoint deadline = m_arrivalsEnded + m_workload.drainTimeout;
        while (true) {
            std::vector<std::pair<std::uint64_t, std::size_t>> stages;
            {
                std::unique_lock lock(m_mutex);
                while (!m_stopRequested && m_readyStages.empty() && !m_calls.empty() && m_clock.now() < deadline) {
                    m_clock.waitUntil(m_cv, lock, deadline);
                }
                if (outstanding() == 0) {
                    return;
                }
                if (m_stopRequested || m_clock.now() >= deadline) {
                    break;
                }
                stages.assign(m_readyStages.begin(), m_readyStages.end());
                m_readyStages.clear();
            }
            submitStages(stages);
        }
    }
    // Cut: nothing new goes out; what is in flight finishes; the rest is cancelled.
    {
        std::lock_guard guard(m_mutex);
        m_cutting = true;
        m_readyStages.clear();
    }
    m_target->pause();
    while (true) {
        const DispatcherStats s = m_target->stats();
        std::unique_lock lock(m_mutex);
        if ((s.paused && s.inFlight == 0) || m_calls.empty() || m_abandoned) {
            break;
        }
        m_clock.waitUntil(m_cv, lock, m_clock.now() + kRecheck);
    }
    std::vector<std::string> ids;
    {
        std::lock_guard guard(m_mutex);
        for (const auto& [id, call] : m_calls) {
            ids.push_back(id);
        }
    }
    for (const std::string& id : ids) {
        m_target->cancel(id);
    }
    // A cancelled job ends at once; the bound only guards against a target
    // that loses one.
    const TimePoint giveUp = m_clock.now() + kCancelWait;
    std::unique_lock lock(m_mutex);
    while (!m_calls.empty() && m_clock.now() < giveUp && !m_abandoned) {
        m_clock.waitUntil(m_cv, lock, std::min(giveUp, m_clock.now() + kRecheck));
    }
    m_totals.cancelled += m_calls.size();
    m_calls.clear();
}

// ------------------------------------------------------- the listener

SecondSample& LoadTest::secondAt(TimePoint t)
{
    const auto second = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(t - m_start).count());
    while (static_cast<std::int64_t>(m_series.size()) <= second) {
        SecondSample s;
        s.second = static_cast<std::int64_t>(m_series.size());
        m_series.push_back(s);
    }
    return m_series[static_cast<std::size_t>(second)];
}

void LoadTest::onAttempt(const AttemptReport& report)
{
    std::lock_guard guard(m_mutex);
    ++m_liveAttempts;
    SecondSample& s = secondAt(report.finishedAt);
    ++s.attempts;
    if (report.status == 429) {
        ++m_liveRateLimited;
        ++s.rateLimited;
    }
    m_cv.notify_all();
}

void LoadTest::onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason)
{
    std::lock_guard guard(m_mutex);
    if (m_keyProblems.size() < kMaxKeyProblems) {
        m_keyProblems.push_back(provider + "/" + key + ": " + reason);
    }
}

void LoadTest::countAttemptsLocked(const JobOutcome& o)
{
    for (const AttemptRecord& a : o.attempts) {
        ++m_totals.attempts;
        if (a.status == 429) {
            ++m_totals.rateLimited[static_cast<std::size_t>(classifyRateLimit(a.cls, a.message))];
        }
        if (a.cls != FailureClass::None) {
            ++m_totals.failedAttemptsByClass[std::string(failureClassName(a.cls))];
        }
    }
    if (!o.attempts.empty()) {
        m_totals.retries += o.attempts.size() - 1;
    }
}

// A completed call in the totals, its lane, its second, the latency and
// queue-time samples, and its groups (tenant, pipeline stage).
void LoadTest::countCompletedLocked(const JobOutcome& o, const Call& call, Duration latency,
                                    std::optional<Duration> queueTime, SecondSample& second,
                                    std::initializer_list<Samples*> groups)
{
    ++m_totals.completed;
    ++second.completed;
    second.latencySum += latency;
    const std::int64_t in = o.usage ? o.usage->inputTokens : 0;
    const std::int64_t out = o.usage ? o.usage->outputTokens : 0;
    m_totals.inputTokens += in;
    m_totals.outputTokens += out;
    LaneSummary& lane = m_byLane[{o.provider, o.model}];
    ++lane.completed;
    lane.inputTokens += in;
    lane.outputTokens += out;
    second.tokens += in + out;
    if (o.spendMicroUsd) {
        m_totals.spendMicroUsd += *o.spendMicroUsd;
    } else {
        ++m_totals.unpricedResponses;
    }
    m_latency.push_back(latency);
    pushRecent(m_recentLatency, latency);
    if (queueTime) {
        m_queueTime.push_back(*queueTime);
        pushRecent(m_recentQueue, *queueTime);
    }
    if (call.stream) {
        if (const auto t = timeToFirstToken(o)) {
            m_ttft.push_back(*t);
        }
    }
    for (Samples* g : groups) {
        if (g != nullptr) {
            ++g->completed;
            g->latency.push_back(latency);
            if (queueTime) {
                g->queueTime.push_back(*queueTime);
            }
        }
    }
}

// A pipeline's call has finished: the next stages go when theirs are done,
// and the pipeline fails with its first failed call.
void LoadTest::settlePipelineLocked(std::uint64_t pipeline, std::size_t stage, bool ok, TimePoint now)
{
    PipelineRun& run = m_pipelines.at(pipeline);
    --run.open;
    --run.left[stage];
    if (!ok && !run.failed) {
        run.failed = true;
        ++m_totals.pipelinesFailed;
    }
    if (!run.failed && !m_cutting) {
        releaseReadyStages(pipeline, run);
    }
    const bool allDone = std::all_of(run.left.begin(), run.left.end(), [](int n) { return n == 0; });
    if (!run.failed && allDone && !run.done) {
        run.done = true;
        ++m_totals.pipelinesCompleted;
        m_pipelineLatency.push_back(now - run.started);
    }
}

void LoadTest::onFinished(JobOutcome&& o)
{
    const TimePoint now = m_clock.now();
    std::lock_guard guard(m_mutex);
    const auto it = m_calls.find(o.customId);
    if (it == m_calls.end()) {
        return;
    }
    const Call call = it->second;
    m_calls.erase(it);
    m_end = std::max(m_end, now);

    countAttemptsLocked(o);

    const Duration latency = now - call.submittedAt;
    const auto queued = firstEvent(o, TimelineEvent::Kind::Queued);
    const auto sent = firstEvent(o, TimelineEvent::Kind::Sent);
    const std::optional<Duration> queueTime =
        queued && sent ? std::optional<Duration>(std::max(Duration::zero(), *sent - *queued)) : std::nullopt;
    const std::string stageName = call.pipeline ? m_workload.pipeline->stages[call.stage].name : std::string();
    const std::string tenant = call.tenant.empty() ? m_config.defaults.tenant : call.tenant;
    Samples& byTenant = m_byTenant[tenant];
    Samples* byStage = call.pipeline ? &m_byStage[stageName] : nullptr;
    SecondSample& second = secondAt(now);

    bool ok = false;
    switch (o.result) {
    case JobResult::Completed:
        ok = true;
        countCompletedLocked(o, call, latency, queueTime, second, {&byTenant, byStage});
        break;
    case JobResult::DeadLettered:
        ++m_totals.failed;
        ++second.failed;
        ++m_totals.failedByClass[std::string(failureClassName(o.cls))];
        ++byTenant.failed;
        if (byStage != nullptr) {
            ++byStage->failed;
        }
        break;
    case JobResult::Cancelled: ++m_totals.cancelled; break;
    }

    if (call.pipeline) {
        settlePipelineLocked(*call.pipeline, call.stage, ok, now);
    }
    m_cv.notify_all();
}

// ------------------------------------------------------------ results

LoadTestSnapshot LoadTest::snapshot(std::int64_t seriesFrom) const
{
    const DispatcherStats target = m_target->stats();
    LoadTestSnapshot s;
    std::lock_guard guard(m_mutex);
    const TimePoint now = m_state == LoadTestState::Finished ? m_end : m_clock.now();
    s.state = m_state;
    s.elapsed = m_state == LoadTestState::Ready ? Duration::zero() : now - m_start;
    s.planned = m_workload.duration;
    const std::uint64_t finishedCalls = m_totals.completed + m_totals.failed + m_totals.cancelled;
    if (m_state == LoadTestState::Finished) {
        s.progress = 1;
    } else if (m_state == LoadTestState::Running) {
        s.progress = std::clamp(std::chrono::duration<double>(s.elapsed).count() /
                                    std::max(1e-9, std::chrono::duration<double>(s.planned).count()),
                                0.0, 0.999);
    } else if (m_state == LoadTestState::Ending) {
        const double left = static_cast<double>(outstanding());
        s.progress = std::min(0.999, static_cast<double>(finishedCalls) /
                                         std::max(1.0, static_cast<double>(finishedCalls) + left));
    }
    s.arrivals = m_totals.arrivals;
    s.submitted = m_totals.requests;
    s.completed = m_totals.completed;
    s.failed = m_totals.failed;
    s.cancelled = m_totals.cancelled;
    s.inFlight = target.inFlight;
    s.queued = target.queued;
    s.attempts = m_liveAttempts;
    s.rateLimited = m_liveRateLimited;
    s.pipelinesStarted = m_pipelines.size();
    s.pipelinesCompleted = m_totals.pipelinesCompleted;
    s.pipelinesFailed = m_totals.pipelinesFailed;
    // The last ten whole seconds (fewer at the start).
    const auto nowSecond = std::chrono::duration_cast<std::chrono::seconds>(s.elapsed).count();
    const std::int64_t from = std::max<std::int64_t>(0, nowSecond - 10);
    std::uint64_t completed = 0;
    std::int64_t tokens = 0;
    for (std::int64_t i = from; i < nowSecond && i < static_cast<std::int64_t>(m_series.size()); ++i) {
        completed += m_series[static_cast<std::size_t>(i)].completed;
        tokens += m_series[static_cast<std::size_t>(i)].tokens;
    }
    const double window = static_cast<double>(std::max<std::int64_t>(1, nowSecond - from));
    s.requestsPerMinute = static_cast<double>(completed) * 60.0 / window;
    s.tokensPerMinute = static_cast<double>(tokens) * 60.0 / window;
    s.limits = m_limits;
    const Percentiles recent = percentiles({m_recentLatency.begin(), m_recentLatency.end()});
    s.recentLatencyP50 = recent.p50;
    s.recentLatencyP95 = recent.p95;
    s.recentQueueP95 = percentiles({m_recentQueue.begin(), m_recentQueue.end()}).p95;
    s.spendMicroUsd = m_totals.spendMicroUsd;
    for (std::size_t i = static_cast<std::size_t>(std::max<std::int64_t>(0, seriesFrom)); i < m_series.size(); ++i) {
        s.series.push_back(m_series[i]);
    }
    return s;
}

LoadTestSummary LoadTest::buildSummary() const
{
    LoadTestSummary s = m_totals;
    s.label = m_label;
    s.target = m_targetKind;
    s.workload = m_workload.name;
    s.startedAt = m_startWall;
    s.planned = m_workload.duration;
    s.elapsed = m_end - m_start;
    s.stoppedEarly = m_stopRequested;
    for (const auto& [id, run] : m_pipelines) {
        s.notSent += static_cast<std::uint64_t>(m_workload.callsPerArrival() - run.submittedCalls);
    }
    const double minutes = std::max(1e-9, std::chrono::duration<double>(s.elapsed).count() / 60.0);
    s.requestsPerMinute = static_cast<double>(m_totals.completed) / minutes;
    s.tokensPerMinute = static_cast<double>(m_totals.inputTokens + m_totals.outputTokens) / minutes;
    s.inputTokensPerMinute = static_cast<double>(m_totals.inputTokens) / minutes;
    s.outputTokensPerMinute = static_cast<double>(m_totals.outputTokens) / minutes;
    s.limits = m_limits;
    for (const auto& [key, accumulated] : m_byLane) {
        LaneSummary lane = accumulated;
        lane.provider = key.first;
        lane.model = key.second;
        lane.limits = configuredLimits(m_config, {key});
        rateAgainstLimits(lane, minutes);
        if (!lane.bindingLimit.empty() && lane.limitUtilisation > s.limitUtilisation) {
            s.limitUtilisation = lane.limitUtilisation;
            s.bindingLimit = lane.bindingLimit + " of " + lane.provider + "/" + lane.model;
        }
        s.lanes.push_back(std::move(lane));
    }
    s.latency = percentiles(m_latency);
    s.queueTime = percentiles(m_queueTime);
    s.timeToFirstToken = percentiles(m_ttft);
    s.pipelinesStarted = m_pipelines.size();
    s.pipelineLatency = percentiles(m_pipelineLatency);
    const auto group = [](const std::string& name, const Samples& g) {
        return GroupSummary{name, g.completed, g.failed, percentiles(g.latency), percentiles(g.queueTime)};
    };
    if (m_workload.pipeline) {
        for (const Stage& st : m_workload.pipeline->stages) {
            const auto it = m_byStage.find(st.name);
            s.stages.push_back(group(st.name, it == m_byStage.end() ? Samples{} : it->second));
        }
    }
    for (const auto& [name, g] : m_byTenant) {
        s.tenants.push_back(group(name, g));
    }
    s.series = m_series;
    return s;
}

}  // namespace sluice::loadtest
