// The metrics core on a ManualClock: histogram buckets and percentiles,
// series windows, the recorder's per-scope counts, resolutions that agree
// with each other, memory that stays bounded over days of simulated
// traffic, gauges from admission scopes, the fan-out listener, the
// Prometheus text, and the report formats (RFC 4180 CSV, JSON, offline HTML).
#include "admission/admission.h"
#include "core/timefmt.h"
#include "dispatch/fan_out_listener.h"
#include "metrics/metrics_recorder.h"
#include "metrics/prometheus.h"
#include "metrics/report.h"
#include "support/prometheus_text.h"

#include <QtTest>

#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

using namespace sluice;
using namespace sluice::metrics;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

SendReport sent(const std::string& provider, const std::string& key, const std::string& model, TimePoint at)
{
    return SendReport{provider, key, model, "default", at};
}

AttemptReport attempt(const std::string& provider, const std::string& key, const std::string& model, TimePoint sentAt,
                      Duration latency, FailureClass cls = FailureClass::None)
{
    AttemptReport r;
    r.provider = provider;
    r.key = key;
    r.model = model;
    r.sentAt = sentAt;
    r.finishedAt = sentAt + latency;
    r.cls = cls;
    r.status = cls == FailureClass::None ? 200 : 429;
    r.estimatedInputTokens = 12;
    r.estimatedOutputTokens = 50;
    if (cls == FailureClass::None) {
        ResponseUsage u;
        u.inputTokens = 10;
        u.outputTokens = 20;
        r.usage = u;
        r.spendMicroUsd = 7;
    } else {
        r.willRetry = true;
    }
    return r;
}

// One attempt end to end: sent at `at`, answered after `latency`.
void oneAttempt(MetricsRecorder& rec, ManualClock& clock, const std::string& key, const std::string& model,
                Duration latency, FailureClass cls = FailureClass::None)
{
    const TimePoint at = clock.now();
    rec.onSent(sent("openai", key, model, at));
    clock.advance(latency);
    rec.onAttempt(attempt("openai", key, model, at, latency, cls));
}

// Sums the points of a series whose start lies in [from, to).
Tally sumOf(const std::vector<SeriesPoint>& points, TimePoint from, TimePoint to)
{
    Tally t;
    for (const SeriesPoint& p : points) {
        if (p.start >= from && p.start < to) {
            t.merge(p.tally);
        }
    }
    return t;
}

class Listener : public DispatchListener {
public:
    void onFinished(JobOutcome&& o) override { outcomes.push_back(std::move(o)); }
    void onSent(const SendReport& r) override { sends.emplace_back(r.key); }
    void onAttempt(const AttemptReport& r) override { attempts.push_back(r.key); }
    void onKeyProblem(const std::string&, const std::string& key, const std::string&) override
    {
        problems.push_back(key);
    }
    std::vector<JobOutcome> outcomes;
    std::vector<std::string> sends;
    std::vector<std::string> attempts;
    std::vector<std::string> problems;
};

// Reads no outcomes (as the metrics recorder, the key alarm, the event log
// and the adaptive controller): sees attempts only.
class AttemptsOnly : public DispatchListener {
public:
    void onFinished(JobOutcome&&) override { ++finished; }
    bool readsOutcomes() const noexcept override { return false; }
    void onAttempt(const AttemptReport& r) override { attempts.push_back(r.key); }
    int finished = 0;
    std::vector<std::string> attempts;
};

RollupRow row(const std::string& when, const std::string& provider, const std::string& key, const std::string& model,
              std::uint32_t completed, std::uint32_t limited, std::int64_t spend, std::uint32_t unpriced = 0)
{
    RollupRow r;
    r.minute = *parseRfc3339(when);
    r.provider = provider;
    r.key = key;
    r.model = model;
    r.tally.sent = completed + limited;
    r.tally.completed = completed;
    r.tally.failures[static_cast<std::size_t>(FailureClass::RateLimited)] = limited;
    r.tally.inputTokens = 100 * completed;
    r.tally.outputTokens = 10 * completed;
    r.tally.spendMicroUsd = spend;
    r.tally.unpriced = unpriced;
    for (std::uint32_t i = 0; i < completed; ++i) {
        r.tally.latency.add(std::chrono::milliseconds(100 + 10 * i));
    }
    return r;
}

// RFC 4180: records end in CRLF; a quoted field may hold commas, quotes
// (doubled) and line breaks. Returns false for anything else.
bool parseCsv(const std::string& text, std::vector<std::vector<std::string>>& records)
{
    std::vector<std::string> record;
    std::string field;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == '"') {
            ++i;
            while (true) {
                if (i >= text.size()) {
                    return false;
                }
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                field += text[i++];
            }
        } else {
            while (i < text.size() && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
                if (text[i] == '"') {
                    return false;  // a quote inside an unquoted field
                }
                field += text[i++];
            }
        }
        record.push_back(std::move(field));
        field.clear();
        if (i < text.size() && text[i] == ',') {
            ++i;
            continue;
        }
        if (i + 1 < text.size() + 1 && text.compare(i, 2, "\r\n") == 0) {
            i += 2;
            records.push_back(std::move(record));
            record.clear();
            continue;
        }
        return false;  // a bare LF, or text after a closing quote
    }
    return record.empty();
}

}  // namespace

class TestMetrics : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void histogramBuckets_data();
    void histogramBuckets();
    void histogramQuantilesAndMerge();
    void seriesKeepsItsWindow();
    void recorderCountsPerScope();
    void resolutionsAgree();
    void memoryStaysBoundedOverLongRuns();
    void undrainedBufferDropsAndCounts();
    void seriesReadsRanges();
    void gaugesFromAdmissionAndLanes();
    void fanOutPassesEverything();
    void fanOutCopiesOutcomesOnlyForReaders();
    void prometheusTextParses();
    void reportGroupsAndTotals_data();
    void reportGroupsAndTotals();
    void reportCsvFollowsRfc4180();
    void reportJsonParses();
    void reportHtmlIsSelfContained();
};

void TestMetrics::histogramBuckets_data()
{
    QTest::addColumn<qint64>("us");
    QTest::addColumn<int>("bucket");
    QTest::newRow("zero") << qint64(0) << 0;
    QTest::newRow("1 ms") << qint64(1000) << 0;
    QTest::newRow("just over 1 ms") << qint64(1001) << 1;
    QTest::newRow("1.414 ms") << qint64(1414) << 1;
    QTest::newRow("2 ms") << qint64(2000) << 2;
    QTest::newRow("1 s") << qint64(1'000'000) << 20;  // 2^(20/2) ms = 1.024 s
    QTest::newRow("524.288 s") << qint64(524'288'000) << 38;
    QTest::newRow("beyond") << qint64(600'000'000) << 39;
}

void TestMetrics::histogramBuckets()
{
    QFETCH(qint64, us);
    QFETCH(int, bucket);
    QCOMPARE(histogramBucketOf(std::chrono::microseconds(us)), bucket);
}

void TestMetrics::histogramQuantilesAndMerge()
{
    Histogram a;
    QVERIFY(!a.quantile(0.5));
    HistogramTotals all;
    Histogram b;
    for (int ms = 1; ms <= 1000; ++ms) {
        (ms % 2 ? a : b).add(std::chrono::milliseconds(ms));
    }
    all.merge(a);
    all.merge(b);
    QCOMPARE(all.count(), std::uint64_t{1000});
    QCOMPARE(all.sumUs(), std::int64_t{500'500'000});
    for (const auto& [q, truth] : {std::pair{0.5, 500.0}, std::pair{0.95, 950.0}, std::pair{0.99, 990.0}}) {
        const double got = std::chrono::duration<double, std::milli>(*all.quantile(q)).count();
        QVERIFY2(got >= truth / std::sqrt(2.0) && got <= truth * std::sqrt(2.0),
                 qPrintable(QStringLiteral("q%1: %2 ms").arg(q).arg(got)));
    }
    Histogram over;
    over.add(std::chrono::minutes(20));
    QCOMPARE(*over.quantile(0.99), Duration(std::chrono::microseconds(histogramUpperBoundUs(38))));
}

void TestMetrics::seriesKeepsItsWindow()
{
    ManualClock clock;
    Series s({1s, 10});
    for (int i = 0; i < 100; ++i) {
        QVERIFY(s.at(clock.now()) != nullptr);
        clock.advance(1s);
    }
    QCOMPARE(s.storedBuckets(), std::size_t{10});
    QVERIFY(s.at(clock.now() - 11s) == nullptr);  // left the window
    // A late event inside the window lands in its own bucket, in order.
    Series sparse({1s, 10});
    sparse.at(clock.now());
    sparse.at(clock.now() - 5s)->tally.sent = 3;
    QCOMPARE(sparse.storedBuckets(), std::size_t{2});
    QCOMPARE(sparse.find(sparse.indexOf(clock.now() - 5s))->tally.sent, 3u);
    sparse.advanceTo(clock.now() + 1h);
    QCOMPARE(sparse.storedBuckets(), std::size_t{0});
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, Series({0s, 10}));
}

void TestMetrics::recorderCountsPerScope()
{
    ManualClock clock;
    MetricsRecorder rec(clock);
    oneAttempt(rec, clock, "k1", "gpt-4o", 200ms);
    oneAttempt(rec, clock, "k2", "gpt-4o", 300ms);
    oneAttempt(rec, clock, "k1", "gpt-4o-mini", 50ms, FailureClass::RateLimited);
    oneAttempt(rec, clock, "k2", "gpt-4o-mini", 5s, FailureClass::Timeout);
    // An unpriced completion: its spend is unknown, not zero.
    AttemptReport unpriced = attempt("openai", "k2", "local-llm", clock.now(), 1s);
    unpriced.spendMicroUsd.reset();
    rec.onSent(sent("openai", "k2", "local-llm", clock.now()));
    // One still in flight.
    rec.onSent(sent("openai", "k1", "gpt-4o", clock.now()));
    clock.advance(1s);
    rec.onAttempt(unpriced);

    const MetricsSnapshot snap = rec.snapshot();
    const ScopeTotals* global = snap.find(ScopeKey::global());
    QVERIFY(global);
    QCOMPARE(global->totals.sent, std::uint64_t{6});
    QCOMPARE(global->totals.completed, std::uint64_t{3});
    QCOMPARE(global->totals.failed(), std::uint64_t{2});
    QCOMPARE(global->totals.failuresOf(FailureClass::RateLimited), std::uint64_t{1});
    QCOMPARE(global->totals.failuresOf(FailureClass::Timeout), std::uint64_t{1});
    QCOMPARE(global->totals.retries, std::uint64_t{0});  // failed, never sent again
    // Counted when a retry is sent, not when a failure plans one.
    // The names outlive the report (sent() takes temporaries it only views).
    const std::string retryProvider = "openai";
    const std::string retryKey = "k1";
    const std::string retryModel = "gpt-4o-mini";
    SendReport again = sent(retryProvider, retryKey, retryModel, clock.now());
    again.retry = true;
    rec.onSent(again);
    QCOMPARE(rec.snapshot().find(ScopeKey::global())->totals.retries, std::uint64_t{1});
    QCOMPARE(global->totals.spendMicroUsd, std::int64_t{14});
    QCOMPARE(global->totals.unpriced, std::uint64_t{1});
    QCOMPARE(global->totals.inputTokens, std::int64_t{30});
    QCOMPARE(global->totals.estimatedOutputTokens, std::int64_t{150});
    QCOMPARE(global->totals.latency.count(), std::uint64_t{3});
    QCOMPARE(global->inFlight, std::int64_t{1});

    const ScopeTotals* model = snap.find(ScopeKey::ofModel("openai", "gpt-4o"));  // across keys
    QVERIFY(model);
    QCOMPARE(model->totals.completed, std::uint64_t{2});
    QCOMPARE(model->inFlight, std::int64_t{1});
    const ScopeTotals* key = snap.find(ScopeKey::ofKey("openai", "k2"));
    QVERIFY(key);
    QCOMPARE(key->totals.sent, std::uint64_t{3});
    QCOMPARE(key->totals.failuresOf(FailureClass::Timeout), std::uint64_t{1});
    const ScopeTotals* leaf = snap.find(ScopeKey::ofKeyModel("openai", "k1", "gpt-4o-mini"));
    QVERIFY(leaf);
    QCOMPARE(leaf->totals.failuresOf(FailureClass::RateLimited), std::uint64_t{1});
    QCOMPARE(snap.find(ScopeKey::ofProvider("openai"))->totals, global->totals);
    // global, provider, 2 keys, 3 models, 5 key+models
    QCOMPARE(snap.scopes.size(), std::size_t{12});
    QCOMPARE(snap.scopes.front().scope, ScopeKey::global());
}

void TestMetrics::resolutionsAgree()
{
    ManualClock clock;
    MetricsRecorder rec(clock);
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> gapMs(0, 900);
    std::uniform_int_distribution<int> latencyMs(1, 4000);
    std::uniform_int_distribution<int> pick(0, 9);
    const TimePoint start = clock.now();
    // 40 minutes of uneven traffic on two keys, with failures and streams.
    while (clock.now() - start < 40min) {
        const TimePoint at = clock.now();
        const std::string key = pick(rng) < 6 ? "k1" : "k2";
        const int p = pick(rng);
        rec.onSent(sent("p", key, "m", at));
        AttemptReport r = attempt("p", key, "m", at, std::chrono::milliseconds(latencyMs(rng)),
                                  p == 0 ? FailureClass::RateLimited : (p == 1 ? FailureClass::ServerError : FailureClass::None));
        if (p > 5) {
            r.timeToFirstToken = std::chrono::milliseconds(latencyMs(rng) / 4);
        }
        // Reported when it finishes: later than other sends.
        clock.advance(std::chrono::milliseconds(gapMs(rng)));
        rec.onAttempt(r);
        if (pick(rng) == 0) {
            rec.recordGauges(clock.now(), GaugeSample{pick(rng), {}, {}});
        }
    }
    const TimePoint end = clock.now();
    for (const ScopeKey& scope : {ScopeKey::global(), ScopeKey::ofKey("p", "k1"), ScopeKey::ofModel("p", "m")}) {
        const auto fine = rec.series(scope, 1s, TimePoint::min(), TimePoint::max());
        const auto mid = rec.series(scope, 10s, TimePoint::min(), TimePoint::max());
        const auto coarse = rec.series(scope, 1min, TimePoint::min(), TimePoint::max());
        QCOMPARE(fine.size(), std::size_t{600});  // the whole 1 s window
        QVERIFY(mid.size() >= 240 && coarse.size() >= 40);
        int compared = 0;
        for (const SeriesPoint& c : coarse) {
            const TimePoint to = c.start + 1min;
            if (to > end) {
                continue;  // still filling
            }
            if (c.start >= fine.front().start) {
                QCOMPARE(sumOf(fine, c.start, to), c.tally);
                ++compared;
            }
            if (c.start >= mid.front().start) {
                QCOMPARE(sumOf(mid, c.start, to), c.tally);
                ++compared;
            }
            // Gauges: the coarse maximum is the largest of the fine ones.
            Gauges g;
            for (const SeriesPoint& m : mid) {
                if (m.start >= c.start && m.start < to) {
                    g.mergeLater(m.gauges);
                }
            }
            if (c.start >= mid.front().start) {
                QCOMPARE(g.inFlightMax, c.gauges.inFlightMax);
                QCOMPARE(g.queuedMax, c.gauges.queuedMax);
            }
        }
        QVERIFY2(compared >= 40, qPrintable(QString::number(compared)));
        // And every 10 s bucket is the sum of its 1 s buckets.
        for (const SeriesPoint& m : mid) {
            if (m.start >= fine.front().start && m.start + 10s <= end) {
                QCOMPARE(sumOf(fine, m.start, m.start + 10s), m.tally);
            }
        }
    }
}

void TestMetrics::memoryStaysBoundedOverLongRuns()
{
    ManualClock clock;
    MetricsRecorder rec(clock);
    const std::vector<std::string> keys = {"k1", "k2", "k3"};
    std::size_t at49h = 0;
    std::size_t at50h = 0;
    const TimePoint start = clock.now();
    std::size_t i = 0;
    // 52 hours: one attempt every 10 s, gauges every 30 s.
    while (clock.now() - start < 52h) {
        oneAttempt(rec, clock, keys[i % keys.size()], i % 2 ? "m1" : "m2", 200ms,
                   i % 7 == 0 ? FailureClass::RateLimited : FailureClass::None);
        clock.advance(10s - 200ms);
        if (i % 3 == 0) {
            rec.recordGauges(clock.now(), GaugeSample{1, {{"openai", "m1", 1}}, {}});
        }
        ++i;
        const Duration elapsed = clock.now() - start;
        if (at49h == 0 && elapsed >= 49h) {
            at49h = rec.memoryBytes();
        }
        if (at50h == 0 && elapsed >= 50h) {
            at50h = rec.memoryBytes();
        }
    }
    const std::size_t at52h = rec.memoryBytes();
    // Past the longest window (48 h), nothing grows any more.
    QCOMPARE(at50h, at49h);
    QCOMPARE(at52h, at49h);
    // And the bound is what the windows allow: 7 scopes with series (global,
    // provider, 3 keys, 2 models; the 6 key+models keep totals) × (600 + 720
    // + 2880) buckets.
    const MetricsSnapshot snap = rec.snapshot();
    QCOMPARE(snap.scopes.size(), std::size_t{13});
    const auto withSeries = static_cast<std::size_t>(
        std::count_if(snap.scopes.begin(), snap.scopes.end(), [](const ScopeTotals& s) { return s.hasSeries; }));
    QCOMPARE(withSeries, std::size_t{7});
    const std::size_t bound = withSeries * (600 + 720 + 2880) * sizeof(SeriesBucket) + 64 * 1024;
    QVERIFY2(at52h <= bound, qPrintable(QStringLiteral("%1 > %2").arg(at52h).arg(bound)));
    QCOMPARE(snap.find(ScopeKey::global())->totals.finished(), std::uint64_t{i});
}

void TestMetrics::undrainedBufferDropsAndCounts()
{
    ManualClock clock;
    RecorderOptions o;
    o.maxPendingEvents = 100;
    MetricsRecorder rec(clock, o);
    for (int i = 0; i < 150; ++i) {
        rec.onSent(sent("p", "k", "m", clock.now()));
    }
    const MetricsSnapshot snap = rec.snapshot();
    QCOMPARE(snap.droppedEvents, std::uint64_t{50});
    QCOMPARE(snap.find(ScopeKey::global())->totals.sent, std::uint64_t{100});
    // Drained, it takes events again.
    rec.onSent(sent("p", "k", "m", clock.now()));
    QCOMPARE(rec.snapshot().find(ScopeKey::global())->totals.sent, std::uint64_t{101});
}

void TestMetrics::seriesReadsRanges()
{
    ManualClock clock(TimePoint(Duration(0)), WallTime(Duration(0)));
    RecorderOptions o;
    o.resolutions = {{1s, 5}, {5s, 4}};
    MetricsRecorder rec(clock, o);
    for (int s = 0; s < 8; ++s) {
        rec.onSent(sent("p", "k", "m", clock.now()));
        clock.advance(1s);
    }
    // now = 8 s: the 1 s window holds buckets 4..8.
    const auto all = rec.series(ScopeKey::global(), 1s, TimePoint::min(), TimePoint::max());
    QCOMPARE(all.size(), std::size_t{5});
    QCOMPARE(all.front().start, TimePoint(5s) - 1s);
    QCOMPARE(all.back().tally.sent, 0u);  // bucket 8 saw nothing yet
    const auto part = rec.series(ScopeKey::global(), 1s, TimePoint(5s) + 500ms, TimePoint(7s));
    QCOMPARE(part.size(), std::size_t{1});  // starts in [5.5 s, 7 s): bucket 6
    QCOMPARE(part.front().start, TimePoint(6s));
    // The 5 s window reaches back before the first event: those buckets are empty.
    const auto coarse = rec.series(ScopeKey::global(), 5s, TimePoint::min(), TimePoint::max());
    QCOMPARE(coarse.size(), std::size_t{4});
    const auto bucket0 = std::find_if(coarse.begin(), coarse.end(), [](const SeriesPoint& p) { return p.start == TimePoint(0s); });
    QVERIFY(bucket0 != coarse.end());
    QCOMPARE(bucket0->tally.sent, 5u);
    QCOMPARE(coarse.back().tally.sent, 3u);
    QVERIFY(rec.series(ScopeKey::ofKey("p", "nope"), 1s, TimePoint::min(), TimePoint::max()).empty());
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, rec.series(ScopeKey::global(), 2s, TimePoint(), TimePoint()));
}

void TestMetrics::gaugesFromAdmissionAndLanes()
{
    ManualClock clock;
    Admission admission(clock);
    admission.setLimits(Admission::root(), {concurrency(64)});
    const ScopeId p = admission.addScope(Admission::root(), "openai", {perMinute(Measure::Requests, 500)});
    const ScopeId k = admission.addScope(p, "prod-1", {});
    const ScopeId m = admission.addScope(k, "gpt-4o", {perMinute(Measure::TotalTokens, 30000)});
    Decision d = admission.tryAcquire(admission.pathTo(m), Cost{1, 100, 200, 0, 1});
    QVERIFY(d.reservation.valid());

    DispatcherStats stats;
    stats.queued = 7;
    stats.lanes.push_back(LaneStatus{"openai", "gpt-4o", 5, false, {}, false, {}, {}});
    // Requests pinned to one key wait in a lane of their own: still the
    // model's depth, one series.
    stats.lanes.push_back(LaneStatus{"openai", "gpt-4o", 2, true, {}, false, {}, "prod-1"});
    const GaugeSample g = gaugeSampleOf(stats, admission.snapshotAll());
    QCOMPARE(g.queued, std::int64_t{7});
    QCOMPARE(g.lanes.size(), std::size_t{1});
    QCOMPARE(g.lanes[0].queued, std::int64_t{7});
    const auto find = [&](const ScopeKey& s, Measure measure) -> const LimitGauge* {
        for (const LimitGauge& l : g.limits) {
            if (l.scope == s && l.spec.measure == measure) {
                return &l;
            }
        }
        return nullptr;
    };
    QVERIFY(find(ScopeKey::global(), Measure::Concurrency));
    QCOMPARE(find(ScopeKey::global(), Measure::Concurrency)->used, std::int64_t{1});
    // One request taken: the arrival margin spacing it from a full bucket
    // (2% of its refill time) is in the bucket's level but not in what the
    // gauge shows as used, or a lane at its limit would read over it.
    QCOMPARE(find(ScopeKey::ofProvider("openai"), Measure::Requests)->available, std::int64_t{499});
    const LimitGauge* tpm = find(ScopeKey::ofKeyModel("openai", "prod-1", "gpt-4o"), Measure::TotalTokens);
    QVERIFY(tpm);
    QCOMPARE(tpm->spec.limit, std::int64_t{30000});
    // 300 tokens, without their 2% arrival margin.
    QCOMPARE(tpm->used, std::int64_t{300});

    MetricsRecorder rec(clock);
    rec.setGaugeSource([&] { return g; });
    rec.onSent(sent("openai", "prod-1", "gpt-4o", clock.now()));
    rec.sampleGauges();
    const MetricsSnapshot snap = rec.snapshot();
    QCOMPARE(snap.find(ScopeKey::global())->queued, std::int64_t{7});
    QCOMPARE(snap.find(ScopeKey::ofModel("openai", "gpt-4o"))->queued, std::int64_t{7});
    QCOMPARE(snap.find(ScopeKey::ofKey("openai", "prod-1"))->queued, std::int64_t{0});
    QCOMPARE(snap.gauges.limits.size(), g.limits.size());
    const auto points = rec.series(ScopeKey::ofModel("openai", "gpt-4o"), 1s, TimePoint::min(), TimePoint::max());
    QVERIFY(points.back().gauges.sampled);
    QCOMPARE(points.back().gauges.inFlight, std::int64_t{1});
    QCOMPARE(points.back().gauges.queued, std::int64_t{7});
}

void TestMetrics::fanOutPassesEverything()
{
    Listener a;
    Listener b;
    FanOutListener fan{&a, nullptr, &b};
    JobOutcome o;
    o.customId = "x";
    o.body = std::string(1000, 'x');
    fan.onFinished(std::move(o));
    fan.onSent(SendReport{"p", "k", "m", "t", {}});
    AttemptReport r;
    r.key = "k";
    fan.onAttempt(r);
    fan.onKeyProblem("p", "k", "quota");
    for (const Listener* l : {&a, &b}) {
        QCOMPARE(l->outcomes.size(), std::size_t{1});
        QCOMPARE(l->outcomes[0].customId, std::string("x"));
        QCOMPARE(l->outcomes[0].body.size(), std::size_t{1000});
        QCOMPARE(l->sends, std::vector<std::string>{"k"});
        QCOMPARE(l->attempts, std::vector<std::string>{"k"});
        QCOMPARE(l->problems, std::vector<std::string>{"k"});
    }
}

void TestMetrics::fanOutCopiesOutcomesOnlyForReaders()
{
    Listener a;
    AttemptsOnly quiet;
    AttemptsOnly quieter;
    Listener b;
    FanOutListener fan{&a, &quiet, &b, &quieter};
    QVERIFY(fan.readsOutcomes());
    JobOutcome o;
    o.customId = "x";
    o.body = std::string(1000, 'x');
    fan.onFinished(std::move(o));
    AttemptReport r;
    r.key = "k";
    fan.onAttempt(r);
    // Both readers have the whole outcome; the listeners that read none
    // were not handed one (so none was copied for them), and still hear
    // of every attempt.
    for (const Listener* l : {&a, &b}) {
        QCOMPARE(l->outcomes.size(), std::size_t{1});
        QCOMPARE(l->outcomes[0].body.size(), std::size_t{1000});
    }
    for (const AttemptsOnly* l : {&quiet, &quieter}) {
        QCOMPARE(l->finished, 0);
        QCOMPARE(l->attempts, std::vector<std::string>{"k"});
    }
    // A fan-out of listeners that read no outcome reads none itself, so one
    // in front of it copies nothing for it either.
    FanOutListener inner{&quiet, &quieter};
    QVERIFY(!inner.readsOutcomes());
    FanOutListener outer{&a, &inner};
    outer.onFinished(JobOutcome{});
    QCOMPARE(a.outcomes.size(), std::size_t{2});
    QCOMPARE(quiet.finished, 0);
    // The metrics recorder is one of them.
    ManualClock clock;
    MetricsRecorder rec(clock);
    QVERIFY(!rec.readsOutcomes());
}

void TestMetrics::prometheusTextParses()
{
    ManualClock clock;
    MetricsRecorder rec(clock);
    const std::string odd = "we\"ird\\name\nx";
    for (int i = 0; i < 20; ++i) {
        const TimePoint at = clock.now();
        rec.onSent(sent(odd, "k1", "gpt-4o", at));
        AttemptReport r = attempt(odd, "k1", "gpt-4o", at, std::chrono::milliseconds(30 * (i + 1)),
                                  i % 5 == 0 ? FailureClass::RateLimited : FailureClass::None);
        r.timeToFirstToken = std::chrono::milliseconds(5 * (i + 1));
        clock.advance(1s);
        rec.onAttempt(r);
    }
    rec.onSent(sent("anthropic", "main", "claude-haiku-4-5", clock.now()));
    Admission admission(clock);
    admission.setLimits(Admission::root(), {concurrency(8)});
    admission.addScope(Admission::root(), odd, {perMinute(Measure::Requests, 60), perDay(Measure::SpendMicroUsd, 5'000'000)});
    DispatcherStats stats;
    stats.lanes.push_back(LaneStatus{odd, "gpt-4o", 3, false, {}, false, {}, {}});
    rec.recordGauges(clock.now(), gaugeSampleOf(stats, admission.snapshotAll()));

    const std::string text = prometheusText(rec.snapshot());
    const test::PromText prom = test::parsePrometheusText(text);
    QVERIFY2(prom.errors.empty(),
             prom.errors.empty() ? "" : qPrintable(QString::fromStdString(prom.errors.front() + "\n" + text.substr(0, 2000))));
    QCOMPARE(prom.types.at("sluice_requests_total"), std::string("counter"));
    QCOMPARE(prom.types.at("sluice_request_duration_seconds"), std::string("histogram"));
    QCOMPARE(prom.types.at("sluice_in_flight"), std::string("gauge"));
    const std::map<std::string, std::string> leaf = {{"provider", odd}, {"key", "k1"}, {"model", "gpt-4o"}};
    QCOMPARE(*prom.value("sluice_requests_total", {{"provider", odd}, {"class", "ok"}}), 16.0);
    QCOMPARE(*prom.value("sluice_requests_total", {{"class", "rate_limited"}}), 4.0);
    QCOMPARE(*prom.value("sluice_request_duration_seconds_count", leaf), 16.0);
    QCOMPARE(*prom.value("sluice_time_to_first_token_seconds_count", leaf), 16.0);
    QCOMPARE(*prom.value("sluice_requests_sent_total"), 21.0);
    QCOMPARE(*prom.value("sluice_in_flight", {{"model", "claude-haiku-4-5"}}), 1.0);
    QCOMPARE(*prom.value("sluice_spend_usd_total", leaf), 16 * 7 / 1e6);
    QCOMPARE(*prom.value("sluice_tokens_total", {{"direction", "output"}}), 16 * 20.0);
    QCOMPARE(*prom.value("sluice_queue_depth", {{"provider", odd}}), 3.0);
    QCOMPARE(*prom.value("sluice_limit", {{"scope", "provider"}, {"measure", "requests"}}), 60.0);
    QCOMPARE(*prom.value("sluice_headroom", {{"scope", "global"}, {"measure", "concurrency"}}), 8.0);
    QCOMPARE(*prom.value("sluice_limit", {{"measure", "spend_micro_usd"}, {"window", "fixed"}}), 5e6);
    // The +Inf bucket of a histogram counts everything; 600 ms is within le="1.024".
    QCOMPARE(*prom.value("sluice_request_duration_seconds_bucket", {{"model", "gpt-4o"}, {"le", "+Inf"}}), 16.0);
    QCOMPARE(*prom.value("sluice_request_duration_seconds_bucket", {{"model", "gpt-4o"}, {"le", "1.024"}}), 16.0);
    QCOMPARE(*prom.value("sluice_request_duration_seconds_bucket", {{"model", "gpt-4o"}, {"le", "0.064"}}), 1.0);
}

void TestMetrics::reportGroupsAndTotals_data()
{
    QTest::addColumn<QString>("by");
    QTest::addColumn<int>("rows");
    QTest::addColumn<QString>("firstGroup");
    QTest::newRow("key") << "key" << 3 << "anthropic/main";
    QTest::newRow("model") << "model" << 3 << "anthropic/claude-haiku-4-5";
    QTest::newRow("provider") << "provider" << 2 << "anthropic";
    QTest::newRow("hour") << "hour" << 3 << "2026-03-01T10:00:00Z";
    QTest::newRow("day") << "day" << 2 << "2026-03-01T00:00:00Z";
}

void TestMetrics::reportGroupsAndTotals()
{
    QFETCH(QString, by);
    QFETCH(int, rows);
    QFETCH(QString, firstGroup);
    const std::vector<RollupRow> input = {
        row("2026-03-01T10:15:00Z", "openai", "prod-1", "gpt-4o", 10, 2, 5000),
        row("2026-03-01T10:16:00Z", "openai", "prod-2", "gpt-4o", 5, 0, 2500),
        row("2026-03-01T11:00:00Z", "openai", "prod-1", "local-llm", 4, 1, 0, 4),
        row("2026-03-02T09:00:00Z", "anthropic", "main", "claude-haiku-4-5", 3, 3, 900),
        row("2026-03-05T00:00:00Z", "openai", "prod-1", "gpt-4o", 99, 0, 1),  // outside the range
    };
    ReportGrouping g{};
    QVERIFY(parseGrouping(by.toStdString(), g));
    const Report r = buildReport(input, *parseRfc3339("2026-03-01T00:00:00Z"), *parseRfc3339("2026-03-03T00:00:00Z"), g);
    QCOMPARE(static_cast<int>(r.rows.size()), rows);
    const ReportRow& first = r.rows.front();
    const std::string label = first.period ? formatRfc3339(*first.period)
                                           : first.provider + (first.key.empty() ? "" : "/" + first.key) +
                                                 (first.model.empty() ? "" : "/" + first.model);
    QCOMPARE(QString::fromStdString(label), firstGroup);
    QCOMPARE(r.total.totals.completed, std::uint64_t{22});
    QCOMPARE(r.total.totals.failuresOf(FailureClass::RateLimited), std::uint64_t{6});
    QCOMPARE(r.total.totals.spendMicroUsd, std::int64_t{8400});
    QCOMPARE(r.total.totals.unpriced, std::uint64_t{4});
    QCOMPARE(r.unpricedModels, std::vector<std::string>{"openai/local-llm"});
    QCOMPARE(r.total.totals.latency.count(), std::uint64_t{22});
    std::uint64_t timelineCompleted = 0;
    for (const TimelinePoint& p : r.timeline) {
        timelineCompleted += p.totals.completed;
    }
    QCOMPARE(timelineCompleted, std::uint64_t{22});
    QVERIFY(r.timeline.size() <= 240 && r.timeline.size() >= 8);
}

void TestMetrics::reportCsvFollowsRfc4180()
{
    const std::vector<RollupRow> input = {
        row("2026-03-01T10:15:00Z", "openai", "prod-1", "model, \"quoted\"\nand broken", 3, 1, 10, 1),
        row("2026-03-01T10:15:00Z", "openai", "prod-1", "gpt-4o", 3, 0, 10),
    };
    const Report r = buildReport(input, *parseRfc3339("2026-03-01T00:00:00Z"), *parseRfc3339("2026-03-02T00:00:00Z"),
                                 ReportGrouping::Model);
    const std::string csv = reportCsv(r);
    std::vector<std::vector<std::string>> records;
    QVERIFY2(parseCsv(csv, records), csv.c_str());
    QCOMPARE(records.size(), std::size_t{3});
    for (const auto& rec : records) {
        QCOMPARE(rec.size(), records[0].size());
    }
    QCOMPARE(records[0][0], std::string("provider"));
    QCOMPARE(records[0][2], std::string("requests"));
    QCOMPARE(records[1][1], std::string("gpt-4o"));
    QCOMPARE(records[2][1], std::string("model, \"quoted\"\nand broken"));
    const auto column = [&](const std::string& name) {
        return static_cast<std::size_t>(std::find(records[0].begin(), records[0].end(), name) - records[0].begin());
    };
    QCOMPARE(records[2][column("rate_limited")], std::string("1"));
    QCOMPARE(records[2][column("rate_limited_rate")], std::string("0.250000"));
    QCOMPARE(records[2][column("unpriced_responses")], std::string("1"));
    QCOMPARE(records[2][column("unpriced_models")], std::string("openai/model, \"quoted\"\nand broken"));
    QCOMPARE(records[1][column("spend_usd")], std::string("0.000010"));
    QVERIFY(!records[1][column("latency_p95_ms")].empty());
    QVERIFY(records[1][column("ttft_p50_ms")].empty());  // no streams: no figure, not zero
    QCOMPARE(csvField("plain"), std::string("plain"));
    QCOMPARE(csvField("a,b"), std::string("\"a,b\""));
    QCOMPARE(csvField("say \"hi\""), std::string("\"say \"\"hi\"\"\""));
}

void TestMetrics::reportJsonParses()
{
    const std::vector<RollupRow> input = {
        row("2026-03-01T10:15:00Z", "openai", "prod-1", "gpt-4o", 10, 2, 5000),
        row("2026-03-01T10:20:00Z", "openai", "prod-1", "local-llm", 4, 0, 0, 4),
    };
    Report r = buildReport(input, *parseRfc3339("2026-03-01T10:00:00Z"), *parseRfc3339("2026-03-01T11:00:00Z"),
                           ReportGrouping::Key);
    r.source = "state.db";
    const json j = json::parse(reportJson(r));
    QCOMPARE(j["by"].get<std::string>(), std::string("key"));
    QCOMPARE(j["rows"].size(), std::size_t{1});
    const json& row0 = j["rows"][0];
    QCOMPARE(row0["provider"].get<std::string>(), std::string("openai"));
    QCOMPARE(row0["key"].get<std::string>(), std::string("prod-1"));
    QCOMPARE(row0["requests"].get<int>(), 16);
    QCOMPARE(row0["failures"]["rate_limited"]["count"].get<int>(), 2);
    QCOMPARE(row0["failures"]["rate_limited"]["rate"].get<double>(), 2.0 / 16.0);
    QCOMPARE(row0["unpriced_responses"].get<int>(), 4);
    QCOMPARE(row0["spend_micro_usd"].get<int>(), 5000);
    QVERIFY(row0["latency_ms"]["p99"].is_number());
    QVERIFY(row0["time_to_first_token_ms"]["p50"].is_null());
    QCOMPARE(j["unpriced_models"], json::array({"openai/local-llm"}));
    QCOMPARE(j["total"]["completed"].get<int>(), 14);
    QCOMPARE(j["timeline"]["step_seconds"].get<int>(), 60);
    QCOMPARE(j["timeline"]["points"].size(), std::size_t{60});
    // However long the range, the charts get at most 240 points.
    const Report decades = buildReport(input, *parseRfc3339("1990-01-01T00:00:00Z"),
                                       *parseRfc3339("2200-01-01T00:00:00Z"), ReportGrouping::Day);
    QVERIFY(decades.timeline.size() <= 240);
    QCOMPARE(decades.total.totals.completed, std::uint64_t{14});
}

void TestMetrics::reportHtmlIsSelfContained()
{
    std::vector<RollupRow> input;
    for (int h = 0; h < 30; ++h) {
        char when[32];
        std::snprintf(when, sizeof when, "2026-03-%02dT%02d:00:00Z", 1 + h / 24, h % 24);
        input.push_back(row(when, "openai", "<script>alert(1)</script>", "gpt-4o", 5 + h % 4, h % 3, 100 * h));
    }
    input.push_back(row("2026-03-01T05:00:00Z", "openai", "k", "local-llm", 2, 0, 0, 2));
    for (const ReportGrouping g : {ReportGrouping::Key, ReportGrouping::Day}) {
        const Report r = buildReport(input, *parseRfc3339("2026-03-01T00:00:00Z"),
                                     *parseRfc3339("2026-03-03T00:00:00Z"), g);
        const std::string html = reportHtml(r);
        QVERIFY(html.rfind("<!DOCTYPE html>", 0) == 0);
        QVERIFY(html.find("</html>") != std::string::npos);
        QVERIFY(html.find("<svg") != std::string::npos);
        QVERIFY(html.find("<rect") != std::string::npos);
        QVERIFY(html.find("<polyline") != std::string::npos);
        // Nothing to fetch: no scheme, no external script, style or image.
        for (const char* outside : {"http:", "https:", "//", "<script", "<link", "src=", "@import", "url("}) {
            QVERIFY2(html.find(outside) == std::string::npos, outside);
        }
        QVERIFY(html.find("&lt;script&gt;") != std::string::npos || g == ReportGrouping::Day);
        QVERIFY(html.find("Spend is incomplete") != std::string::npos);
        QVERIFY(html.find("openai/local-llm") != std::string::npos);
    }
}

QTEST_APPLESS_MAIN(TestMetrics)
#include "tst_metrics.moc"
