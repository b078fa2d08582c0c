// MetricsRecorder: live metrics of what a Dispatcher does, per scope
// (global, provider, key, model, key+model) and per second, held in memory
// at several resolutions (by default 1 s for 10 min, 10 s for 2 h and 1 min
// for 48 h), plus per-minute rollups handed to a RollupSink (the workspace
// database) for reports.
//
// Recording never blocks the dispatcher thread: the DispatchListener
// callbacks turn a report into a small fixed-size event and append it to a
// buffer under a lock held for that append only. Nothing else holds that
// lock longer than a vector swap. Readers, and the recorder's own thread
// (start()), drain the buffer into the series under a second lock the
// dispatcher never takes, so each reader sees a consistent view at its own
// pace.
//
// Memory is bounded whatever the run length: a series keeps at most its
// capacity of buckets and only buckets that saw something; scopes of kinds
// without series, and beyond maxSeriesScopes, keep totals only; a buffer nobody drains stops
// at maxPendingEvents and counts what it drops; rollups not yet written stop
// at maxPendingRollups.
//
// Time comes from the Clock passed in: buckets are placed by the times the
// dispatcher reports (read from the same clock), so a ManualClock drives a
// whole simulated run.
//
// Thread-safety: the DispatchListener callbacks from the dispatcher thread;
// every other member from any thread.
#pragma once

#include "core/clock.h"
#include "dispatch/dispatch_types.h"
#include "metrics/gauges.h"
#include "metrics/rollup.h"
#include "metrics/series.h"

#include <array>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sluice::metrics {

struct RecorderOptions {
    // Finest first; each width should divide the next so buckets nest.
    std::vector<Resolution> resolutions = {{std::chrono::seconds(1), 600},
                                           {std::chrono::seconds(10), 720},
                                           {std::chrono::minutes(1), 2880}};
    // Which kinds of scope keep series (indexed by ScopeKind); all keep
    // totals. Key+model scopes are the most numerous and are left to totals,
    // rollups and /metrics by default.
    std::array<bool, kScopeKindCount> seriesFor = {true, true, true, true, false};
    // A bucket is about 0.5 KB, so a scope's series at the default
    // resolutions hold up to ~2.2 MB; this caps their number.
    std::size_t maxSeriesScopes = 64;
    std::size_t maxPendingEvents = std::size_t{1} << 20;
    std::size_t maxPendingRollups = 100'000;
    // The recorder's thread drains this often, samples gauges every
    // gaugeInterval and writes rollups every flushInterval.
    Duration tick = std::chrono::milliseconds(250);
    Duration gaugeInterval = std::chrono::seconds(1);
    // Each flush writes only the minutes' rows changed since the last one,
    // summed into what is stored, in one WAL transaction (synchronous=NORMAL:
    // no fsync per commit), so once a second costs little and a process
    // killed with SIGKILL loses at most about a second of rollups.
    Duration flushInterval = std::chrono::seconds(1);
};

struct ScopeTotals {
    ScopeKey scope;
    Totals totals;             // since the recorder started
    std::int64_t inFlight = 0;  // now
    std::int64_t queued = 0;    // at the last gauge sample
    bool hasSeries = false;     // see RecorderOptions::seriesFor and maxSeriesScopes
};

struct MetricsSnapshot {
    TimePoint at{};
    WallTime wallAt{};
    TimePoint since{};                // when the recorder was built
    std::vector<ScopeTotals> scopes;  // ordered by ScopeKey: global first
    GaugeSample gauges;               // the last sample (limits, lanes)
    std::uint64_t droppedEvents = 0;
    std::uint64_t droppedRollups = 0;
    std::string rollupError;  // the last failure to write rollups, until one succeeds

    const ScopeTotals* find(const ScopeKey& scope) const;
};

struct SeriesPoint {
    TimePoint start{};
    Tally tally;
    Gauges gauges;
};

class MetricsRecorder : public DispatchListener {
public:
    // `sink` (may be null) receives per-minute rollups; it must outlive the
    // recorder, as must `clock`.
    explicit MetricsRecorder(Clock& clock, RecorderOptions options = {}, RollupSink* sink = nullptr);
    ~MetricsRecorder() override;
    MetricsRecorder(const MetricsRecorder&) = delete;
    MetricsRecorder& operator=(const MetricsRecorder&) = delete;

    // Where gauges come from (queue depths, limits); set before start().
    // It runs on the recorder's thread (and on readers that sample) and must
    // not throw.
    void setGaugeSource(GaugeSource source);
    // Starts the thread that drains, samples gauges and writes rollups.
    // start() and stop() from one controlling thread.
    void start();
    // Stops it, then drains and writes every rollup left. Idempotent.
    void stop();

    // DispatchListener: a short lock and an append, nothing more.
    void onFinished(JobOutcome&&) override {}
    bool readsOutcomes() const noexcept override { return false; }
    void onSent(const SendReport& report) override;
    void onAttempt(const AttemptReport& report) override;

    // Samples the gauge source now (no-op without one) into every scope's
    // current buckets.
    void sampleGauges();
    void recordGauges(TimePoint now, const GaugeSample& sample);
    // Drains, then writes every pending rollup to the sink. Returns false
    // (the error is in snapshot().rollupError) when the sink failed; the rows
    // are kept for the next try.
    bool flush();

    // Readers: each drains what was recorded, then copies under the lock.
    MetricsSnapshot snapshot();
    std::vector<ScopeKey> scopes();
    const std::vector<Resolution>& resolutions() const noexcept { return m_options.resolutions; }
    // One point per bucket of the given width whose start lies in [from, to),
    // clipped to the window the series still holds; buckets that saw nothing
    // are zero. Empty when the scope has no series. Throws
    // std::invalid_argument for a width that is not one of resolutions().
    std::vector<SeriesPoint> series(const ScopeKey& scope, Duration width, TimePoint from, TimePoint to);
    // Bytes held by series, totals and buffers: the figure that must stay
    // bounded.
    std::size_t memoryBytes();

private:
    // What one callback reports, in a fixed size: no allocation per event.
    struct Event {
        TimePoint at{};        // sent (a send) or finished (an attempt)
        Duration latency{};
        Duration timeToFirstToken{-1};  // negative: none
        std::int64_t inputTokens = 0;
        std::int64_t outputTokens = 0;
        std::int64_t estimatedInputTokens = 0;
        std::int64_t estimatedOutputTokens = 0;
        std::int64_t spendMicroUsd = 0;
        std::uint32_t leaf = 0;
        FailureClass cls = FailureClass::None;
        bool isSend = false;
        bool retry = false;  // a send that retries a failed attempt
        bool priced = false;
    };
    // A key+model, interned so an event carries a number, not three strings.
    struct LeafName {
        std::string provider;
        std::string key;
        std::string model;
    };
    struct LeafView {
        std::string_view provider;
        std::string_view key;
        std::string_view model;
    };
    struct LeafHash {
        using is_transparent = void;
        std::size_t operator()(const LeafView& v) const noexcept;
        std::size_t operator()(const LeafName& n) const noexcept { return (*this)(LeafView{n.provider, n.key, n.model}); }
    };
    struct LeafEq {
        using is_transparent = void;
        static LeafView view(const LeafName& n) noexcept { return {n.provider, n.key, n.model}; }
        static LeafView view(const LeafView& v) noexcept { return v; }
        template <typename A, typename B>
        bool operator()(const A& a, const B& b) const noexcept
        {
            const LeafView x = view(a);
            const LeafView y = view(b);
            return x.provider == y.provider && x.key == y.key && x.model == y.model;
        }
    };
    struct ScopeData;

    void push(const Event& event, std::string_view provider, std::string_view key, std::string_view model);
    void drain();  // m_state held
    std::size_t scopeIndex(const ScopeKey& key);  // m_state held
    void apply(const Event& e, WallTime wall);    // m_state held
    void run(TimePoint start);

    Clock& m_clock;
    const RecorderOptions m_options;
    RollupSink* const m_sink;
    const TimePoint m_since;

    // Ingest side: the dispatcher thread's short lock.
    std::mutex m_ingest;
    std::vector<Event> m_pending;
    std::vector<LeafName> m_leafNames;  // by leaf id; append-only
    std::unordered_map<LeafName, std::uint32_t, LeafHash, LeafEq> m_leafIds;
    std::uint64_t m_dropped = 0;

    // Reader side.
    std::mutex m_state;
    std::vector<Event> m_draining;  // reused buffer
    std::vector<LeafName> m_leaves;  // the reader side's copy of m_leafNames
    std::vector<std::unique_ptr<ScopeData>> m_scopes;
    std::map<ScopeKey, std::size_t> m_scopeIndex;
    std::size_t m_seriesScopes = 0;
    std::vector<std::array<std::size_t, kScopeKindCount>> m_leafScopes;  // by leaf id
    std::map<std::pair<std::int64_t, std::uint32_t>, Tally> m_rollups;    // (minute, leaf) → not yet written
    std::uint64_t m_droppedSeen = 0;  // m_dropped as of the last drain
    std::uint64_t m_droppedRollups = 0;
    std::string m_rollupError;
    GaugeSample m_lastGauges;
    GaugeSource m_gaugeSource;

    std::mutex m_flushing;  // one sink write at a time

    std::mutex m_threadMutex;
    std::condition_variable m_threadCv;
    bool m_stopping = false;
    std::thread m_thread;
    ClockSubscription m_subscription;
};

}  // namespace sluice::metrics
