#include "metrics/metrics_recorder.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <stdexcept>

namespace sluice::metrics {

struct MetricsRecorder::ScopeData {
    ScopeKey key;
    Totals totals;
    std::int64_t inFlight = 0;
    std::int64_t queued = 0;
    std::vector<Series> series;  // one per resolution, or none (RecorderOptions::seriesFor, maxSeriesScopes)
};

namespace {

template <typename Count, typename E>
void addEvent(BasicTally<Count>& t, const E& e)
{
    if (e.isSend) {
        t.sent = static_cast<Count>(t.sent + 1);
        // Counted when the retry happens, not when one is planned: a job
        // moved off a quarantined key may die before it is sent again.
        if (e.retry) {
            t.retries = static_cast<Count>(t.retries + 1);
        }
        return;
    }
    if (e.cls != FailureClass::None) {
        auto& n = t.failures[static_cast<std::size_t>(e.cls)];
        n = static_cast<Count>(n + 1);
        return;
    }
    t.completed = static_cast<Count>(t.completed + 1);
    t.inputTokens += e.inputTokens;
    t.outputTokens += e.outputTokens;
    t.estimatedInputTokens += e.estimatedInputTokens;
    t.estimatedOutputTokens += e.estimatedOutputTokens;
    if (e.priced) {
        t.spendMicroUsd += e.spendMicroUsd;
    } else {
        t.unpriced = static_cast<Count>(t.unpriced + 1);
    }
    t.latency.add(e.latency);
    if (e.timeToFirstToken >= Duration::zero()) {
        t.timeToFirstToken.add(e.timeToFirstToken);
    }
}

std::int64_t minuteOf(WallTime t)
{
    const std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    return (ms >= 0 ? ms : ms - 59'999) / 60'000;
}

}  // namespace

std::size_t MetricsRecorder::LeafHash::operator()(const LeafView& v) const noexcept
{
    const std::hash<std::string_view> h;
    std::size_t seed = h(v.provider);
    for (const std::string_view part : {v.key, v.model}) {
        seed ^= h(part) + 0x9e3779b97f4a7c15ull + (seed << 6) + (seed >> 2);
    }
    return seed;
}

const ScopeTotals* MetricsSnapshot::find(const ScopeKey& scope) const
{
    const auto it = std::find_if(scopes.begin(), scopes.end(), [&](const ScopeTotals& s) { return s.scope == scope; });
    return it == scopes.end() ? nullptr : &*it;
}

MetricsRecorder::MetricsRecorder(Clock& clock, RecorderOptions options, RollupSink* sink)
    : m_clock(clock), m_options(std::move(options)), m_sink(sink), m_since(clock.now())
{
    if (m_options.resolutions.empty()) {
        throw std::invalid_argument("metrics recorder: at least one resolution is needed");
    }
    for (const Resolution& r : m_options.resolutions) {
        Series check(r);  // throws for a zero width or capacity
        (void)check;
    }
    std::lock_guard guard(m_state);
    scopeIndex(ScopeKey::global());
}

MetricsRecorder::~MetricsRecorder()
{
    stop();
}

void MetricsRecorder::setGaugeSource(GaugeSource source)
{
    std::lock_guard guard(m_state);
    m_gaugeSource = std::move(source);
}

void MetricsRecorder::start()
{
    if (m_thread.joinable()) {
        return;
    }
    // Subscribed without m_threadMutex held: the clock calls back with its
    // own lock held, and the callback takes m_threadMutex.
    ClockSubscription subscription = m_clock.subscribe([this] {
        std::lock_guard g(m_threadMutex);
        m_threadCv.notify_all();
    });
    std::lock_guard guard(m_threadMutex);
    m_stopping = false;
    m_subscription = std::move(subscription);
    // The schedule starts now, not when the thread gets going: with a manual
    // clock, time may have moved on by then.
    m_thread = std::thread([this, start = m_clock.now()] { run(start); });
}

void MetricsRecorder::stop()
{
    {
        std::lock_guard guard(m_threadMutex);
        if (!m_thread.joinable()) {
            return;
        }
        m_stopping = true;
    }
    m_threadCv.notify_all();
    m_thread.join();
    m_subscription = ClockSubscription();
    flush();
}

void MetricsRecorder::run(TimePoint start)
{
    TimePoint nextGauge = start;
    TimePoint nextFlush = start + m_options.flushInterval;
    std::unique_lock lock(m_threadMutex);
    while (!m_stopping) {
        lock.unlock();
        const TimePoint now = m_clock.now();
        {
            std::lock_guard guard(m_state);
            drain();
        }
        if (now >= nextGauge) {
            sampleGauges();
            nextGauge = now + m_options.gaugeInterval;
        }
        if (now >= nextFlush) {
            flush();
            nextFlush = now + m_options.flushInterval;
        }
        lock.lock();
        if (!m_stopping) {
            m_clock.waitUntil(m_threadCv, lock, now + m_options.tick);
        }
    }
}

// ---- recording (dispatcher thread) ------------------------------------------

void MetricsRecorder::push(const Event& event, std::string_view provider, std::string_view key, std::string_view model)
{
    std::lock_guard guard(m_ingest);
    if (m_pending.size() >= m_options.maxPendingEvents) {
        ++m_dropped;
        return;
    }
    std::uint32_t leaf = 0;
    if (const auto it = m_leafIds.find(LeafView{provider, key, model}); it != m_leafIds.end()) {
        leaf = it->second;
    } else {
        leaf = static_cast<std::uint32_t>(m_leafNames.size());
        m_leafNames.push_back(LeafName{std::string(provider), std::string(key), std::string(model)});
        m_leafIds.emplace(m_leafNames.back(), leaf);
    }
    m_pending.push_back(event);
    m_pending.back().leaf = leaf;
}

void MetricsRecorder::onSent(const SendReport& report)
{
    Event e;
    e.isSend = true;
    e.retry = report.retry;
    e.at = report.sentAt;
    push(e, report.provider, report.key, report.model);
}

void MetricsRecorder::onAttempt(const AttemptReport& report)
{
    Event e;
    e.at = report.finishedAt;
    e.latency = report.finishedAt - report.sentAt;
    e.timeToFirstToken = report.timeToFirstToken.value_or(Duration(-1));
    if (report.usage) {
        e.inputTokens = report.usage->inputTokens;
        e.outputTokens = report.usage->outputTokens;
    }
    e.estimatedInputTokens = report.estimatedInputTokens;
    e.estimatedOutputTokens = report.estimatedOutputTokens;
    e.priced = report.spendMicroUsd.has_value();
    e.spendMicroUsd = report.spendMicroUsd.value_or(0);
    e.cls = report.cls;
    push(e, report.provider, report.key, report.model);
}

// ---- draining (reader side, m_state held) ------------------------------------

std::size_t MetricsRecorder::scopeIndex(const ScopeKey& key)
{
    if (const auto it = m_scopeIndex.find(key); it != m_scopeIndex.end()) {
        return it->second;
    }
    auto data = std::make_unique<ScopeData>();
    data->key = key;
    if (m_options.seriesFor[static_cast<std::size_t>(key.kind)] && m_seriesScopes < m_options.maxSeriesScopes) {
        for (const Resolution& r : m_options.resolutions) {
            data->series.emplace_back(r);
        }
        ++m_seriesScopes;
    }
    m_scopes.push_back(std::move(data));
    m_scopeIndex.emplace(key, m_scopes.size() - 1);
    return m_scopes.size() - 1;
}

void MetricsRecorder::drain()
{
    std::vector<LeafName> newLeaves;
    {
        std::lock_guard guard(m_ingest);
        m_draining.swap(m_pending);
        m_droppedSeen = m_dropped;
        for (std::size_t i = m_leafScopes.size(); i < m_leafNames.size(); ++i) {
            newLeaves.push_back(m_leafNames[i]);
        }
    }
    for (LeafName& n : newLeaves) {
        m_leafScopes.push_back({scopeIndex(ScopeKey::global()), scopeIndex(ScopeKey::ofProvider(n.provider)),
                                scopeIndex(ScopeKey::ofKey(n.provider, n.key)),
                                scopeIndex(ScopeKey::ofModel(n.provider, n.model)),
                                scopeIndex(ScopeKey::ofKeyModel(n.provider, n.key, n.model))});
        m_leaves.push_back(std::move(n));
    }
    if (m_draining.empty()) {
        return;
    }
    // One offset for the whole batch, so events of one instant map to one minute.
    const Duration wallMinusSteady = m_clock.wallNow().time_since_epoch() - m_clock.now().time_since_epoch();
    for (const Event& e : m_draining) {
        apply(e, WallTime(e.at.time_since_epoch() + wallMinusSteady));
    }
    m_draining.clear();
}

void MetricsRecorder::apply(const Event& e, WallTime wall)
{
    for (const std::size_t index : m_leafScopes[e.leaf]) {
        ScopeData& s = *m_scopes[index];
        addEvent(s.totals, e);
        s.inFlight = std::max<std::int64_t>(0, s.inFlight + (e.isSend ? 1 : -1));
        for (Series& series : s.series) {
            if (SeriesBucket* b = series.at(e.at)) {
                addEvent(b->tally, e);
            }
        }
    }
    if (m_sink == nullptr) {
        return;
    }
    addEvent(m_rollups[{minuteOf(wall), e.leaf}], e);
    if (m_rollups.size() > m_options.maxPendingRollups) {
        m_rollups.erase(m_rollups.begin());  // the oldest minute
        ++m_droppedRollups;
    }
}

// ---- gauges --------------------------------------------------------------------

void MetricsRecorder::sampleGauges()
{
    GaugeSource source;
    {
        std::lock_guard guard(m_state);
        source = m_gaugeSource;
    }
    if (source) {
        const GaugeSample sample = source();
        recordGauges(m_clock.now(), sample);
    }
}

void MetricsRecorder::recordGauges(TimePoint now, const GaugeSample& sample)
{
    std::lock_guard guard(m_state);
    drain();
    for (auto& s : m_scopes) {
        s->queued = 0;
    }
    m_scopes[scopeIndex(ScopeKey::global())]->queued = sample.queued;
    for (const QueueDepth& lane : sample.lanes) {
        m_scopes[scopeIndex(ScopeKey::ofProvider(lane.provider))]->queued += lane.queued;
        m_scopes[scopeIndex(ScopeKey::ofModel(lane.provider, lane.model))]->queued += lane.queued;
    }
    for (auto& s : m_scopes) {
        for (Series& series : s->series) {
            if (SeriesBucket* b = series.at(now)) {
                b->gauges.sample(s->inFlight, s->queued);
            }
        }
    }
    m_lastGauges = sample;
}

// ---- rollups -------------------------------------------------------------------

bool MetricsRecorder::flush()
{
    std::lock_guard flushing(m_flushing);
    std::vector<RollupRow> rows;
    std::vector<std::pair<std::int64_t, std::uint32_t>> keys;
    {
        std::lock_guard guard(m_state);
        drain();
        if (m_sink == nullptr || m_rollups.empty()) {
            return true;
        }
        rows.reserve(m_rollups.size());
        for (auto& [key, tally] : m_rollups) {
            const LeafName& leaf = m_leaves[key.second];
            rows.push_back(RollupRow{WallTime(std::chrono::minutes(key.first)), leaf.provider, leaf.key, leaf.model,
                                     tally});
            keys.push_back(key);
        }
        m_rollups.clear();
    }
    try {
        m_sink->addRollups(rows);
    } catch (const std::exception& e) {
        std::lock_guard guard(m_state);
        for (std::size_t i = 0; i < rows.size(); ++i) {
            m_rollups[keys[i]].merge(rows[i].tally);
        }
        m_rollupError = e.what();
        return false;
    }
    std::lock_guard guard(m_state);
    m_rollupError.clear();
    return true;
}

// ---- readers -------------------------------------------------------------------

MetricsSnapshot MetricsRecorder::snapshot()
{
    MetricsSnapshot snap;
    std::lock_guard guard(m_state);
    drain();
    snap.at = m_clock.now();
    snap.wallAt = m_clock.wallNow();
    snap.since = m_since;
    for (const auto& [key, index] : m_scopeIndex) {
        const ScopeData& s = *m_scopes[index];
        snap.scopes.push_back(ScopeTotals{key, s.totals, s.inFlight, s.queued, !s.series.empty()});
    }
    snap.gauges = m_lastGauges;
    snap.droppedEvents = m_droppedSeen;
    snap.droppedRollups = m_droppedRollups;
    snap.rollupError = m_rollupError;
    return snap;
}

std::vector<ScopeKey> MetricsRecorder::scopes()
{
    std::lock_guard guard(m_state);
    drain();
    std::vector<ScopeKey> out;
    for (const auto& entry : m_scopeIndex) {
        out.push_back(entry.first);
    }
    return out;
}

std::vector<SeriesPoint> MetricsRecorder::series(const ScopeKey& scope, Duration width, TimePoint from, TimePoint to)
{
    const auto r = std::find_if(m_options.resolutions.begin(), m_options.resolutions.end(),
                                [&](const Resolution& res) { return res.width == width; });
    if (r == m_options.resolutions.end()) {
        throw std::invalid_argument("metrics recorder: no series at a resolution of " +
                                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(width).count()) +
                                    " ms");
    }
    std::lock_guard guard(m_state);
    drain();
    const auto it = m_scopeIndex.find(scope);
    if (it == m_scopeIndex.end() || m_scopes[it->second]->series.empty()) {
        return {};
    }
    Series& s = m_scopes[it->second]->series[static_cast<std::size_t>(r - m_options.resolutions.begin())];
    s.advanceTo(m_clock.now());
    const std::int64_t lo = s.firstIndex();
    const std::int64_t hi = s.lastIndex();
    if (to <= s.startOf(lo) || from > s.startOf(hi)) {
        return {};
    }
    std::int64_t first = lo;
    if (from > s.startOf(lo)) {
        first = s.indexOf(from);
        if (s.startOf(first) < from) {
            ++first;
        }
    }
    const std::int64_t last = to > s.startOf(hi) ? hi : s.indexOf(to - Duration(1));
    std::vector<SeriesPoint> out;
    out.reserve(static_cast<std::size_t>(std::max<std::int64_t>(0, last - first + 1)));
    for (std::int64_t i = first; i <= last; ++i) {
        SeriesPoint p;
        p.start = s.startOf(i);
        if (const SeriesBucket* b = s.find(i)) {
            p.tally = b->tally;
            p.gauges = b->gauges;
        }
        out.push_back(p);
    }
    return out;
}

std::size_t MetricsRecorder::memoryBytes()
{
    std::lock_guard guard(m_state);
    drain();
    std::size_t bytes = sizeof(*this);
    for (const auto& s : m_scopes) {
        bytes += sizeof(ScopeData) + sizeof(ScopeKey) + s->key.provider.capacity() + s->key.key.capacity() +
                 s->key.model.capacity();
        for (const Series& series : s->series) {
            bytes += series.memoryBytes();
        }
    }
    bytes += m_rollups.size() * (sizeof(Tally) + 64);
    bytes += m_draining.capacity() * sizeof(Event);
    bytes += m_leaves.size() * (sizeof(LeafName) * 2 + 64) + m_leafScopes.size() * sizeof(m_leafScopes[0]);
    std::lock_guard ingest(m_ingest);
    bytes += m_pending.capacity() * sizeof(Event);
    return bytes;
}

}  // namespace sluice::metrics
