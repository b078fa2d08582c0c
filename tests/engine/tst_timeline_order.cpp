// A dead letter's timeline in causal order: the attempt that killed a job is
// timed on the wall clock at send plus a latency from the steady clock, its
// death on the wall clock alone, so the death may carry the earlier
// millisecond; it is still told after the attempt, and a requeued job's next
// run after the first death. Through a real JobStore (an SQLite file) as
// the queue runner writes it.
#include "store/job_store.h"
#include "store/timeline_order.h"

#include <QTemporaryDir>
#include <QtTest>

using namespace sluice;
using namespace sluice::store;
using namespace std::chrono_literals;

namespace {

QStringList kinds(const std::vector<TimelineEntry>& entries)
{
    QStringList out;
    for (const TimelineEntry& e : entries) {
        out << QString::fromStdString(e.kind);
    }
    return out;
}

}  // namespace

class TestTimelineOrder : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void deathEndsItsRun();
    void storeTellsTheAttemptBeforeTheDeath();
};

void TestTimelineOrder::deathEndsItsRun()
{
    const WallTime t{std::chrono::seconds(1'800'000'000)};
    std::vector<TimelineEntry> entries = {
        {t + 5ms, "requeued", ""},     {t + 1ms, "attempt", "401"},  {t, "dead_lettered", "no_usable_key"},
        {t - 10ms, "queued", ""},      {t + 7ms, "attempt", "500"}, {t + 6ms, "dead_lettered", "server_error"},
        {t + 2ms, "key_quarantined", ""}, {t + 8ms, "response", ""},
    };
    orderTimeline(entries);
    QCOMPARE(kinds(entries).join(QLatin1Char(' ')),
             QStringLiteral("queued attempt key_quarantined dead_lettered requeued attempt response dead_lettered"));
}

void TestTimelineOrder::storeTellsTheAttemptBeforeTheDeath()
{
    QTemporaryDir dir;
    ManualClock clock;
    JobStore st(std::filesystem::path(dir.path().toStdString()) / "queue.db", clock);
    NewJob nj;
    nj.customId = "req-1";
    nj.url = "/v1/chat/completions";
    nj.body = R"({"model":"gpt-4o-mini"})";
    const JobId id = st.enqueue(nj).id;
    QCOMPARE(st.lease({"w", 1, 30s, {}}).size(), std::size_t{1});
    clock.advance(2s);
    const WallTime died = clock.wallNow();

    // What the runner writes for a job whose only key was quarantined by a
    // 401 and which then died unsent: the 401 ended a millisecond after the
    // death was noted.
    Updates u;
    Attempt unauthorized;
    unauthorized.errorClass = "auth_failed";
    unauthorized.httpStatus = 401;
    unauthorized.keyLabel = "main";
    unauthorized.counted = false;
    unauthorized.at = died + 1ms;
    u.attempts.push_back(AttemptLog{id, unauthorized});
    u.notes.push_back(Note{id, "dead_lettered", "no_usable_key: every key is quarantined", died});
    Failure f;
    f.id = id;
    f.owner = "w";
    f.attempt.errorClass = "no_usable_key";
    f.attempt.message = "every key is quarantined";
    f.attempt.counted = false;
    f.attempt.at = died;
    u.failures.push_back(f);
    QCOMPARE(st.recordMany(u).failed, std::vector<bool>{true});

    const QStringList order = kinds(st.timeline(id));
    QVERIFY2(order.indexOf(QStringLiteral("attempt")) >= 0 &&
                 order.indexOf(QStringLiteral("attempt")) < order.indexOf(QStringLiteral("dead_lettered")),
             qPrintable(order.join(QLatin1Char(' '))));
    QCOMPARE(order.last(), QStringLiteral("dead_lettered"));
}

QTEST_APPLESS_MAIN(TestTimelineOrder)
#include "tst_timeline_order.moc"
