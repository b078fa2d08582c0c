#include "host/engine_host.h"

#include "metrics/gauges.h"

#include <algorithm>
#include <chrono>

namespace sluice::host {

namespace {

constexpr std::size_t kMaxEvents = 200;

// The start of the day `at` falls in, for a day that starts at `offset` from
// UTC midnight (a daily budget's day_utc_offset).
WallTime dayStart(WallTime at, Duration offset)
{
    using Days = std::chrono::duration<std::int64_t, std::ratio<86400>>;
    const auto local = at.time_since_epoch() + std::chrono::duration_cast<WallTime::duration>(offset);
    const auto day = std::chrono::floor<Days>(local);
    return WallTime(std::chrono::duration_cast<WallTime::duration>(day) -
                    std::chrono::duration_cast<WallTime::duration>(offset));
}

Duration spendDayOffset(const Config& config)
{
    for (const LimitSpec& s : config.globalLimits) {
        if (s.measure == Measure::SpendMicroUsd && s.window == Window::Fixed) {
            return s.utcOffset;
        }
    }
    return Duration::zero();
}

// Locked before anything joins a shared namespace, so a second console on
// the same workspace never shows up in the fleet.
std::unique_ptr<FileLock> lockWorkspace(const std::filesystem::path& database)
{
    std::error_code ec;
    std::filesystem::create_directories(database.parent_path(), ec);
    auto lock = std::make_unique<FileLock>(database.string() + ".lock");
    if (!lock->locked()) {
        throw std::runtime_error(lock->error());
    }
    return lock;
}

}  // namespace

EngineHost::EngineHost(Clock& clock, HostOptions options)
    : m_clock(clock),
      m_options(std::move(options)),
      m_lock(lockWorkspace(m_options.database))
{
    if (m_options.mock) {
        m_mock = std::make_unique<mock::MockProvider>(m_clock, *m_options.mock);
        m_mock->start();
        for (ProviderConfig& p : m_options.config.providers) {
            p.baseUrl = m_mock->baseUrl();
        }
        if (m_options.neighbour) {
            m_neighbour = std::make_unique<DemoNeighbour>(m_clock, m_mock->baseUrl(), *m_options.neighbour);
        }
    }
    m_store = std::make_unique<store::JobStore>(m_options.database, m_clock);
    // The console runs one host per workspace (the caller holds its lock), so
    // a lease in the file is a previous run's: its jobs go again now.
    m_store->releaseAllLeases();
    m_rollups = std::make_unique<metrics::RollupStore>(m_options.database);
    // "Spend today" must not drop to zero on a restart: what earlier runs
    // spent today is in the rollups (flushed when they stopped).
    m_spendDayStart = dayStart(m_clock.wallNow(), spendDayOffset(m_options.config));
    for (const metrics::RollupRow& row : m_rollups->rows(m_spendDayStart, m_clock.wallNow() + std::chrono::minutes(1))) {
        m_spendBeforeStart += row.tally.spendMicroUsd;
    }
    m_adaptive = std::make_unique<AdaptiveWiring>(m_clock, m_options.config, static_cast<DispatchListener&>(*this));
    m_runtime = std::make_unique<EngineRuntime>(m_clock, m_options.config, *m_store, m_options.runner,
                                                &m_adaptive->listener(),
                                                RuntimeOptions{m_options.dispatcher, m_options.shared});
    m_adaptive->attach(m_runtime->dispatcher());
    m_metrics = std::make_unique<metrics::MetricsRecorder>(m_clock, m_options.metrics, m_rollups.get());
    m_metrics->setGaugeSource([this] {
        const DispatcherStats stats = m_runtime->dispatcher().stats();
        const std::vector<ScopeState> scopes = m_runtime->admission().snapshotAll();
        m_limitHistory.record(m_clock.now(), capacityLinesOf(stats.keys, scopes));
        if (m_runtime->shared() != nullptr) {
            sampleShared();
        }
        return metrics::gaugeSampleOf(stats, scopes);
    });
    if (m_options.workload) {
        m_workload = std::make_unique<DemoWorkload>(*m_store, m_clock, *m_options.workload,
                                                    [this] { m_runtime->runner()->poke(); });
    }
    if (m_runtime->shared() != nullptr) {
        sampleShared();
    }
}

EngineHost::~EngineHost()
{
    stop();
    m_runtime->detachShared();
    if (m_mock) {
        m_mock->stop();
    }
}

void EngineHost::start()
{
    if (m_started) {
        return;
    }
    m_started = true;
    // The limits as they are at the start, before the first gauge sample.
    m_limitHistory.record(m_clock.now(), capacityLinesOf(m_runtime->dispatcher().stats().keys,
                                                         m_runtime->admission().snapshotAll()));
    m_metrics->start();
    m_runtime->start(!queueHeld());
    if (m_workload) {
        m_workload->start();
    }
    if (m_neighbour) {
        m_neighbour->start();
    }
}

void EngineHost::stop()
{
    if (!m_started) {
        return;
    }
    m_started = false;
    if (m_neighbour) {
        m_neighbour->stop();
    }
    if (m_workload) {
        m_workload->stop();
    }
    // The dispatcher first, so no outcome arrives after the runner's last
    // write; the runner then releases the leases of what was in flight.
    m_runtime->stop();
    // Last, so it records the attempts abandoned by the dispatcher's stop,
    // then writes every rollup left.
    m_metrics->stop();
}

// Off the GUI thread (construction, the metrics sampler): the link's status
// may wait on a Redis round trip. A change of state is an event, loudly.
void EngineHost::sampleShared()
{
    SharedLinkStatus s = m_runtime->shared()->linkStatus();
    const bool unreachable = s.fallback || s.stopped;
    const std::string line = sharedStatusLine(s);
    bool said = false;
    {
        std::lock_guard guard(m_eventsMutex);
        const bool wasUnreachable = m_sharedStatus.fallback || m_sharedStatus.stopped;
        said = unreachable != wasUnreachable || s.stopped != m_sharedStatus.stopped;
        m_sharedStatus = std::move(s);
    }
    if (said) {
        addEvent(unreachable ? line : "Shared budget reachable again: namespace " + m_options.config.shared->ns +
                                          " is shared by every instance");
    }
}

void EngineHost::holdQueue()
{
    std::lock_guard guard(m_holdMutex);
    m_queueHeld = true;
}

bool EngineHost::queueHeld() const
{
    std::lock_guard guard(m_holdMutex);
    return m_queueHeld;
}

void EngineHost::releaseQueue()
{
    {
        std::lock_guard guard(m_holdMutex);
        if (!m_queueHeld) {
            return;
        }
        m_queueHeld = false;
    }
    if (m_started) {
        m_runtime->startRunner();
    }
    addEvent("queue released: queued jobs go to the providers as configured now");
}

std::size_t EngineHost::discardQueued(const std::string& reason)
{
    if (!queueHeld()) {
        return 0;
    }
    // Every pending job, ready or waiting for a retry (a 429's backoff): one
    // left waiting would be sent to the new provider once its time came. The
    // runner does not run while the queue is held, so an empty owner (fail
    // whoever holds it) takes no job from under a send; each becomes a dead
    // letter, which the operator can still requeue.
    std::size_t discarded = 0;
    store::JobId after = 0;
    for (;;) {
        const std::vector<store::JobId> ids = m_store->pendingIds(after, 500);
        if (ids.empty()) {
            break;
        }
        after = ids.back();
        store::Updates updates;
        updates.failures.reserve(ids.size());
        for (const store::JobId id : ids) {
            store::Failure f;
            f.id = id;
            f.attempt.errorClass = "discarded";
            f.attempt.message = reason;
            f.attempt.counted = false;
            updates.failures.push_back(std::move(f));
        }
        const store::UpdateResults done = m_store->recordMany(updates);
        discarded += static_cast<std::size_t>(std::count(done.failed.begin(), done.failed.end(), true));
    }
    addEvent("discarded " + std::to_string(discarded) + " queued jobs: " + reason);
    return discarded;
}

std::int64_t EngineHost::spendTodayMicroUsd()
{
    const WallTime now = m_clock.wallNow();
    const metrics::MetricsSnapshot snap = m_metrics->snapshot();
    const metrics::ScopeTotals* global = snap.find(metrics::ScopeKey::global());
    const WallTime today = dayStart(now, spendDayOffset(*config()));
    if (today == m_spendDayStart) {
        return m_spendBeforeStart + (global != nullptr ? global->totals.spendMicroUsd : 0);
    }
    // A new day since the start: this run's spend from its start on.
    const TimePoint from = m_clock.now() - std::chrono::duration_cast<Duration>(now - today);
    std::int64_t sum = 0;
    for (const metrics::SeriesPoint& p : m_metrics->series(metrics::ScopeKey::global(), std::chrono::minutes(1), from,
                                                          m_clock.now() + std::chrono::minutes(1))) {
        sum += p.tally.spendMicroUsd;
    }
    return sum;
}

std::string EngineHost::mockUrl() const
{
    return m_mock ? m_mock->baseUrl() : std::string();
}

HostStatus EngineHost::status() const
{
    HostStatus s;
    s.dispatch = m_runtime->dispatcher().stats();
    s.runner = m_runtime->runner()->stats();
    s.scopes = m_runtime->admission().snapshotAll();
    if (m_workload) {
        const DemoWorkloadStats w = m_workload->stats();
        s.hasWorkload = true;
        s.intakeOpen = w.running;
        s.workloadQueued = w.queued;
    }
    s.mockUrl = mockUrl();
    s.queueHeld = queueHeld();
    std::lock_guard guard(m_eventsMutex);
    s.events.assign(m_events.begin(), m_events.end());
    s.shared = m_sharedStatus;
    return s;
}

void EngineHost::setIntakeOpen(bool open)
{
    if (!m_workload) {
        return;
    }
    if (open) {
        m_workload->start();
    } else {
        m_workload->stop();
    }
}

void EngineHost::setWorkloadScale(double scale)
{
    if (m_workload) {
        m_workload->setScale(scale);
    }
}

void EngineHost::setLimits(const LimitTarget& target, std::vector<LimitSpec> limits)
{
    m_runtime->dispatcher().setLimits(target, std::move(limits));
}

void EngineHost::addProvider(ProviderConfig provider)
{
    if (m_mock) {
        provider.baseUrl = m_mock->baseUrl();
    }
    m_runtime->dispatcher().addProvider(std::move(provider));
    addEvent("provider added");
}

void EngineHost::removeProvider(const std::string& provider)
{
    m_runtime->dispatcher().removeProvider(provider);
    addEvent("provider " + provider + " removed");
}

void EngineHost::addKey(const std::string& provider, KeyConfig key)
{
    const std::string name = key.name;
    m_runtime->dispatcher().addKey(provider, std::move(key));
    addEvent("key " + provider + "/" + name + " added");
}

void EngineHost::removeKey(const std::string& provider, const std::string& key)
{
    m_runtime->dispatcher().removeKey(provider, key);
    addEvent("key " + provider + "/" + key + " removed");
}

void EngineHost::setKeyEnabled(const std::string& provider, const std::string& key, bool enabled)
{
    m_runtime->dispatcher().setKeyEnabled(provider, key, enabled);
    addEvent("key " + provider + "/" + key + (enabled ? " enabled" : " disabled"));
}

bool EngineHost::requeue(store::JobId id)
{
    const bool ok = m_store->requeue(id);
    m_runtime->runner()->poke();
    return ok;
}

bool EngineHost::editAndRequeue(store::JobId id, const std::string& body)
{
    const auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        throw InputError("body: not a JSON object");
    }
    std::optional<std::string> model;
    if (const auto m = parsed.find("model"); m != parsed.end() && m->is_string()) {
        model = m->get<std::string>();
    }
    const bool ok = model ? m_store->editAndRequeue(id, body, std::string_view(*model)) : m_store->editAndRequeue(id, body);
    m_runtime->runner()->poke();
    return ok;
}

std::size_t EngineHost::requeueDead(const store::DeadLetterFilter& filter)
{
    const std::size_t n = m_store->requeueDead(filter);
    m_runtime->runner()->poke();
    return n;
}

void EngineHost::onFinished(JobOutcome&& outcome)
{
    if (m_downstream != nullptr) {
        m_downstream->onFinished(std::move(outcome));
    }
}

void EngineHost::onSent(const SendReport& report)
{
    m_metrics->onSent(report);
    if (m_downstream != nullptr) {
        m_downstream->onSent(report);
    }
}

void EngineHost::onAttempt(const AttemptReport& report)
{
    m_metrics->onAttempt(report);
    if (m_downstream != nullptr) {
        m_downstream->onAttempt(report);
    }
}

void EngineHost::onProviderProblem(const std::string& provider, const std::string& reason)
{
    addEvent("provider " + provider + " unreachable, backing off: " + reason);
    if (m_downstream != nullptr) {
        m_downstream->onProviderProblem(provider, reason);
    }
}

void EngineHost::onProviderLearned(const std::string& provider, const std::string& what)
{
    addEvent("provider " + provider + ": " + what);
    if (m_downstream != nullptr) {
        m_downstream->onProviderLearned(provider, what);
    }
}

void EngineHost::onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason)
{
    addEvent("key " + provider + "/" + key + " quarantined: " + reason);
    if (m_downstream != nullptr) {
        m_downstream->onKeyProblem(provider, key, reason);
    }
}

void EngineHost::addEvent(std::string text)
{
    std::lock_guard guard(m_eventsMutex);
    m_events.push_back(HostEvent{m_clock.wallNow(), std::move(text)});
    while (m_events.size() > kMaxEvents) {
        m_events.pop_front();
    }
}

}  // namespace sluice::host
