// Per-minute rollups in the workspace database: real SQLite files, a
// ManualClock driving the recorder. Rollups survive reopening, late rows
// add up, an older schema migrates, a failed write keeps its rows for the
// next flush, and the recorder's own thread writes on its schedule.
#include "metrics/metrics_recorder.h"
#include "metrics/rollup_store.h"
#include "store/job_store.h"
#include "store/schema.h"

#include <QtTest>

#include <QTemporaryDir>

#include <condition_variable>

using namespace sluice;
using namespace sluice::metrics;
using namespace std::chrono_literals;

namespace {

void traffic(MetricsRecorder& rec, ManualClock& clock, const std::string& key, int n, FailureClass cls = FailureClass::None)
{
    for (int i = 0; i < n; ++i) {
        const TimePoint at = clock.now();
        rec.onSent(SendReport{"openai", key, "gpt-4o", "t", at});
        clock.advance(250ms);
        AttemptReport r;
        r.provider = "openai";
        r.key = key;
        r.model = "gpt-4o";
        r.sentAt = at;
        r.finishedAt = clock.now();
        r.cls = cls;
        if (cls == FailureClass::None) {
            r.usage = ResponseUsage{40, 60, {}};
            r.spendMicroUsd = 11;
            r.timeToFirstToken = 100ms;
        }
        rec.onAttempt(r);
        clock.advance(4750ms);
    }
}

Totals sumOf(const std::vector<RollupRow>& rows)
{
    Totals t;
    for (const RollupRow& r : rows) {
        t.merge(r.tally);
    }
    return t;
}

// Fails its first `failures` writes, then passes rows on.
class FlakySink : public RollupSink {
public:
    FlakySink(RollupSink& next, int failures) : m_next(next), m_failures(failures) {}
    void addRollups(std::span<const RollupRow> rows) override
    {
        std::lock_guard g(m_mutex);
        if (m_failures > 0) {
            --m_failures;
            throw std::runtime_error("disk on fire");
        }
        m_next.addRollups(rows);
        ++m_writes;
        m_cv.notify_all();
    }
    bool waitForWrites(int n)
    {
        std::unique_lock l(m_mutex);
        return m_cv.wait_for(l, 20s, [&] { return m_writes >= n; });
    }

private:
    RollupSink& m_next;
    int m_failures;
    int m_writes = 0;
    std::mutex m_mutex;
    std::condition_variable m_cv;
};

struct Dir {
    QTemporaryDir dir;
    std::filesystem::path file(const char* name) const { return std::filesystem::path(dir.path().toStdString()) / name; }
};

}  // namespace

class TestMetricsStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void rollupsSurviveReopening();
    void lateRowsAddUp();
    void migratesVersion2();
    void readOnlyReadsAndRefusesStrangers();
    void failedWriteKeepsRows();
    void recorderThreadWritesOnSchedule();
};

void TestMetricsStore::rollupsSurviveReopening()
{
    Dir d;
    const auto path = d.file("state.db");
    ManualClock clock;
    Totals recorded;
    {
        store::JobStore jobs(path, clock);  // the batch's store, same file
        RollupStore rollups(path);
        MetricsRecorder rec(clock, {}, &rollups);
        traffic(rec, clock, "k1", 30);  // 2.5 minutes
        traffic(rec, clock, "k2", 10, FailureClass::RateLimited);
        QVERIFY(rec.flush());
        recorded = rec.snapshot().find(ScopeKey::global())->totals;
    }
    store::StoreOptions ro;
    ro.readOnly = true;
    const RollupStore again(path, ro);
    const auto extent = again.extent();
    QVERIFY(extent);
    const auto rows = again.rows(extent->first, extent->second + 1min);
    QVERIFY(rows.size() >= 4);
    QCOMPARE(sumOf(rows), recorded);
    QCOMPARE(sumOf(rows).timeToFirstToken.count(), std::uint64_t{30});
    for (const RollupRow& r : rows) {
        QCOMPARE(r.minute.time_since_epoch() % std::chrono::minutes(1), Duration::zero());
        QCOMPARE(r.provider, std::string("openai"));
    }
    // A range selects whole minutes: [from, to).
    const auto first = again.rows(extent->first, extent->first + 1min);
    QVERIFY(!first.empty());
    QVERIFY(std::all_of(first.begin(), first.end(), [&](const RollupRow& r) { return r.minute == extent->first; }));
}

void TestMetricsStore::lateRowsAddUp()
{
    Dir d;
    RollupStore rollups(d.file("late.db"));
    RollupRow r;
    r.minute = WallTime(std::chrono::minutes(29'000'000));
    r.provider = "openai";
    r.key = "k";
    r.model = "m";
    r.tally.sent = 2;
    r.tally.completed = 1;
    r.tally.failures[static_cast<std::size_t>(FailureClass::ServerError)] = 1;
    r.tally.latency.add(40ms);
    r.tally.spendMicroUsd = 5;
    rollups.addRollups(std::vector<RollupRow>{r});
    RollupRow late = r;
    late.tally = Tally();
    late.tally.completed = 1;
    late.tally.latency.add(900ms);
    late.tally.unpriced = 1;
    rollups.addRollups(std::vector<RollupRow>{late});
    const auto rows = rollups.rows(r.minute, r.minute + 1min);
    QCOMPARE(rows.size(), std::size_t{1});
    QCOMPARE(rows[0].tally.sent, 2u);
    QCOMPARE(rows[0].tally.completed, 2u);
    QCOMPARE(rows[0].tally.failuresOf(FailureClass::ServerError), std::uint64_t{1});
    QCOMPARE(rows[0].tally.latency.count(), std::uint64_t{2});
    QCOMPARE(rows[0].tally.latency.sumUs(), std::int64_t{940'000});
    QCOMPARE(rows[0].tally.unpriced, 1u);
    QCOMPARE(rows[0].tally.spendMicroUsd, std::int64_t{5});
}

void TestMetricsStore::migratesVersion2()
{
    Dir d;
    const auto path = d.file("v2.db");
    {
        store::Database db(path, store::OpenMode::ReadWriteCreate);
        db.exec("PRAGMA journal_mode = WAL");
        store::Transaction t(db);
        store::schema::migrate(db, 0, 2);
        db.exec("INSERT INTO jobs (custom_id, method, url, body, model, created_ms) VALUES "
                "('a', 'POST', '/v1/chat/completions', '{}', 'm', 1000)");
        t.commit();
    }
    // The rollups open the file themselves and bring it to the current schema.
    {
        RollupStore rollups(path);
        QVERIFY(!rollups.extent());
    }
    store::Database db(path, store::OpenMode::ReadOnly);
    QCOMPARE(db.queryInt64("PRAGMA user_version"), std::int64_t{store::schema::kCurrentVersion});
    QCOMPARE(db.queryInt64("SELECT count(*) FROM jobs"), std::int64_t{1});
    QCOMPARE(db.queryInt64("SELECT count(*) FROM metrics_minutes"), std::int64_t{0});
    ManualClock clock;
    store::JobStore jobs(path, clock);
    QCOMPARE(jobs.counts().pending, std::int64_t{1});
}

void TestMetricsStore::readOnlyReadsAndRefusesStrangers()
{
    Dir d;
    store::StoreOptions ro;
    ro.readOnly = true;
    try {
        RollupStore missing(d.file("missing.db"), ro);
        QFAIL("opened a missing file");
    } catch (const store::StoreError& e) {
        QCOMPARE(e.kind(), store::StoreErrorKind::CannotOpen);
    }
    const auto foreign = d.file("foreign.db");
    {
        store::Database db(foreign, store::OpenMode::ReadWriteCreate);
        db.exec("CREATE TABLE t (x)");
    }
    try {
        RollupStore stranger(foreign, ro);
        QFAIL("opened another application's database");
    } catch (const store::StoreError& e) {
        QCOMPARE(e.kind(), store::StoreErrorKind::NotADatabase);
        QVERIFY(std::string(e.what()).find("opening the metrics rollups") != std::string::npos);
    }
    // A v2 file cannot be migrated read-only: the error says so.
    const auto old = d.file("old.db");
    {
        store::Database db(old, store::OpenMode::ReadWriteCreate);
        store::Transaction t(db);
        store::schema::migrate(db, 0, 2);
        t.commit();
    }
    try {
        RollupStore readOnlyOld(old, ro);
        QFAIL("read-only open of an old schema");
    } catch (const store::StoreError& e) {
        QCOMPARE(e.kind(), store::StoreErrorKind::ReadOnly);
    }
}

void TestMetricsStore::failedWriteKeepsRows()
{
    Dir d;
    ManualClock clock;
    RollupStore rollups(d.file("flaky.db"));
    FlakySink flaky(rollups, 1);
    MetricsRecorder rec(clock, {}, &flaky);
    traffic(rec, clock, "k1", 6);
    QVERIFY(!rec.flush());
    QCOMPARE(rec.snapshot().rollupError, std::string("disk on fire"));
    traffic(rec, clock, "k1", 6);
    QVERIFY(rec.flush());
    QVERIFY(rec.snapshot().rollupError.empty());
    const auto rows = rollups.rows(WallTime(), WallTime(std::chrono::hours(24 * 365 * 100)));
    QCOMPARE(sumOf(rows), rec.snapshot().find(ScopeKey::global())->totals);
    QCOMPARE(sumOf(rows).completed, std::uint64_t{12});
}

void TestMetricsStore::recorderThreadWritesOnSchedule()
{
    Dir d;
    ManualClock clock;
    RollupStore rollups(d.file("thread.db"));
    FlakySink counting(rollups, 0);
    RecorderOptions o;
    o.flushInterval = 10s;
    MetricsRecorder rec(clock, o, &counting);
    rec.start();
    traffic(rec, clock, "k1", 4);  // 20 s of simulated time: at least one scheduled flush
    QVERIFY(counting.waitForWrites(1));
    rec.stop();  // writes the rest
    const auto rows = rollups.rows(WallTime(), WallTime(std::chrono::hours(24 * 365 * 100)));
    QCOMPARE(sumOf(rows).completed, std::uint64_t{4});
    QCOMPARE(sumOf(rows).sent, std::uint64_t{4});
}

QTEST_APPLESS_MAIN(TestMetricsStore)
#include "tst_metrics_store.moc"
