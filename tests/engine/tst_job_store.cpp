// The durable job queue on real SQLite files: idempotent enqueue, leases and
// their expiry on a manual clock, exactly-once results, retries, dead
// letters, schema migration and refusal, the fault cases, and a child
// process killed with SIGKILL at several points of its work.
#include "core/clock.h"
#include "core/timefmt.h"
#include "store/job_store.h"
#include "store/schema.h"
#include "store/sqlite.h"
#include "store/workspace_path.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <sys/stat.h>

#include <fstream>
#include <set>

using namespace sluice;
using namespace sluice::store;
using namespace std::chrono_literals;

Q_DECLARE_METATYPE(sluice::store::EnqueueStatus)
Q_DECLARE_METATYPE(std::string)
Q_DECLARE_METATYPE(std::vector<std::string>)

// Readable QCOMPARE failures.
namespace QTest {
template <>
char* toString(const std::string& s)
{
    return qstrdup(s.c_str());
}
template <>
char* toString(const std::vector<std::string>& v)
{
    std::string s = "[";
    for (const std::string& e : v) {
        s += (s.size() > 1 ? ", " : "") + e;
    }
    return qstrdup((s + "]").c_str());
}
template <>
char* toString(const std::vector<sluice::store::JobId>& v)
{
    std::string s = "[";
    for (const sluice::store::JobId e : v) {
        s += (s.size() > 1 ? ", " : "") + std::to_string(e);
    }
    return qstrdup((s + "]").c_str());
}
template <>
char* toString(const sluice::WallTime& t)
{
    return qstrdup(sluice::formatRfc3339(t, 3).c_str());
}
}  // namespace QTest

namespace sluice::store {
char* toString(JobState s)
{
    return qstrdup(std::string(jobStateName(s)).c_str());
}
}  // namespace sluice::store

namespace {

NewJob makeJob(const std::string& id, const std::string& body = R"({"model":"m"})", int priority = 0,
               const std::string& tenant = {}, const std::string& model = "m")
{
    NewJob j;
    j.customId = id;
    j.url = "/v1/chat/completions";
    j.body = body;
    j.priority = priority;
    j.tenant = tenant;
    j.model = model;
    return j;
}

Attempt attempt(const std::string& errorClass, int status = 0, const std::string& key = "k1", bool counted = true)
{
    Attempt a;
    a.errorClass = errorClass;
    a.httpStatus = status;
    a.keyLabel = key;
    a.message = errorClass + " happened";
    a.counted = counted;
    return a;
}

// "j" + std::to_string(i) draws a false -Wrestrict from GCC 12 at -O3.
std::string numbered(const char* prefix, int i)
{
    std::string s(prefix);
    s += std::to_string(i);
    return s;
}

using S = std::string;
using Strings = std::vector<std::string>;

Result okResult(const std::string& body = R"({"ok":true})")
{
    Result r;
    r.body = body;
    r.requestId = "req-1";
    r.keyLabel = "k1";
    return r;
}

std::vector<JobId> idsOf(const std::vector<Job>& jobs)
{
    std::vector<JobId> ids;
    for (const Job& j : jobs) {
        ids.push_back(j.id);
    }
    return ids;
}

// The counts kept by triggers must equal a recount of the rows, and the
// invariants the store promises must hold in the file itself.
void verifyFile(const std::filesystem::path& file)
{
    Database db(file, OpenMode::ReadOnly);
    const auto q = [&](const char* sql) { return db.queryInt64(sql); };
    QCOMPARE(q("SELECT count(*) FROM jobs WHERE state = 2 AND id NOT IN (SELECT job_id FROM results)"), 0);
    QCOMPARE(q("SELECT count(*) FROM results WHERE job_id NOT IN (SELECT id FROM jobs WHERE state = 2)"), 0);
    QCOMPARE(q("SELECT count(*) FROM jobs WHERE state = 1 AND (lease_owner IS NULL OR lease_expiry_ms IS NULL)"), 0);
    QCOMPARE(q("SELECT count(*) FROM jobs WHERE state <> 1 AND lease_owner IS NOT NULL"), 0);
    QCOMPARE(q("SELECT count(DISTINCT custom_id) FROM jobs"), q("SELECT count(*) FROM jobs"));
    for (int state = 0; state < 4; ++state) {
        const std::string s = std::to_string(state);
        QCOMPARE(db.queryInt64("SELECT n FROM state_counts WHERE state = " + s),
                 db.queryInt64("SELECT count(*) FROM jobs WHERE state = " + s));
    }
}

struct Store {
    QTemporaryDir dir;
    ManualClock clock;
    std::filesystem::path path;
    std::unique_ptr<JobStore> store;

    explicit Store(StoreOptions options = {})
        : path(std::filesystem::path(dir.path().toStdString()) / "queue.db"),
          store(std::make_unique<JobStore>(path, clock, options))
    {
    }
    JobStore* operator->() { return store.get(); }
    void reopen(StoreOptions options = {})
    {
        store.reset();
        store = std::make_unique<JobStore>(path, clock, options);
    }
};

// True when op throws a StoreError of this kind whose message names every
// one of mentions; says what it got otherwise.
template <typename Op>
bool failsWith(StoreErrorKind kind, std::initializer_list<std::string_view> mentions, Op&& op)
{
    try {
        op();
    } catch (const StoreError& e) {
        bool ok = e.kind() == kind;
        for (const std::string_view m : mentions) {
            ok = ok && std::string_view(e.what()).find(m) != std::string_view::npos;
        }
        if (!ok) {
            qWarning("unexpected StoreError (kind %d): %s", static_cast<int>(e.kind()), e.what());
        }
        return ok;
    }
    qWarning("no StoreError thrown");
    return false;
}

std::uintmax_t pagesOf(const std::filesystem::path& file)
{
    return std::filesystem::file_size(file) / 4096;
}

}  // namespace

class TestJobStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void reopenKeepsEverything();
    void idempotentEnqueue_data();
    void idempotentEnqueue();
    void duplicatesWithinOneBatch();
    void enqueueRejectsEmptyIds();
    void leaseOrderPriorityThenAge();
    void leaseByTenant();
    void expiredLeaseReturnsTheJob();
    void extendAndReleaseLeases();
    void completeExactlyOnce();
    void retryWaitsForNotBefore();
    void deadLetterKeepsEveryAttempt();
    void deadLetterFilters_data();
    void deadLetterFilters();
    void requeueByFilter();
    void cancelPendingJob();
    void editThenRequeue();
    void outcomesInInputOrder();
    void timelineMergesEverything();
    void readOnlyStoreSeesWrites();
    void migratesVersion1();
    void refusesNewerSchema();
    void refusesForeignDatabase();
    void garbageFileIsNotADatabase();
    void malformedFileGivesCorruptError();
    void readOnlyFile();
    void lockedByAnotherConnection();
    void openWhileLockedFailsCleanly();
    void diskFullCommitsNothing();
    void statementHelpers();
    void transactionRollsBackUnlessCommitted();
    void workspacePath_data();
    void workspacePath();
    void workspacePathRejects();
    void killedAtEveryPoint_data();
    void killedAtEveryPoint();
};

void TestJobStore::reopenKeepsEverything()
{
    Store s;
    const auto added = s->enqueueMany(std::vector{makeJob("a"), makeJob("b"), makeJob("c")});
    QCOMPARE(added.size(), std::size_t{3});
    const std::vector<Job> leased = s->lease({"w", 3, 30s, {}});
    QCOMPARE(leased.size(), std::size_t{3});
    QVERIFY(s->complete({added[0].id, okResult(R"({"answer":"a"})")}));
    QVERIFY(s->retry({added[1].id, "w", attempt("server_error", 500), s.clock.wallNow() + 1s}));
    QVERIFY(s->fail({added[2].id, "w", attempt("bad_request", 400)}));
    s->addNote({added[0].id, "sent", "on key k1", {}});

    s.reopen();
    const Counts c = s->counts();
    QCOMPARE(c.pending, 1);
    QCOMPARE(c.leased, 0);
    QCOMPARE(c.done, 1);
    QCOMPARE(c.dead, 1);
    QCOMPARE(s->result(added[0].id)->body, std::string(R"({"answer":"a"})"));
    QCOMPARE(s->job(added[1].id)->attempts, 1);
    QCOMPARE(s->job(added[1].id)->notBefore, s.clock.wallNow() + 1s);
    QCOMPARE(s->attempts(added[1].id).front().errorClass, std::string("server_error"));
    QCOMPARE(s->deadLetters().size(), std::size_t{1});
    QCOMPARE(s->findByCustomId("c")->state, JobState::Dead);
    bool sawNote = false;
    for (const TimelineEntry& e : s->timeline(added[0].id)) {
        sawNote = sawNote || (e.kind == "sent" && e.detail == "on key k1");
    }
    QVERIFY(sawNote);
    verifyFile(s.path);
}

void TestJobStore::idempotentEnqueue_data()
{
    QTest::addColumn<std::string>("method");
    QTest::addColumn<std::string>("url");
    QTest::addColumn<std::string>("body");
    QTest::addColumn<EnqueueStatus>("expected");

    const S chat = "/v1/chat/completions";
    QTest::newRow("same request") << S("POST") << chat << S(R"({"model":"m"})") << EnqueueStatus::Duplicate;
    QTest::newRow("other body") << S("POST") << chat << S(R"({"model":"x"})") << EnqueueStatus::Conflict;
    QTest::newRow("body differs in spacing") << S("POST") << chat << S(R"({"model": "m"})") << EnqueueStatus::Conflict;
    QTest::newRow("other url") << S("POST") << S("/v1/embeddings") << S(R"({"model":"m"})") << EnqueueStatus::Conflict;
    QTest::newRow("other method") << S("PUT") << chat << S(R"({"model":"m"})") << EnqueueStatus::Conflict;
}

void TestJobStore::idempotentEnqueue()
{
    QFETCH(std::string, method);
    QFETCH(std::string, url);
    QFETCH(std::string, body);
    QFETCH(EnqueueStatus, expected);

    Store s;
    const EnqueueResult first = s->enqueue(makeJob("x"));
    QCOMPARE(first.status, EnqueueStatus::Added);
    NewJob again = makeJob("x", body);
    again.method = method;
    again.url = url;
    const EnqueueResult second = s->enqueue(again);
    QCOMPARE(second.status, expected);
    QCOMPARE(second.id, first.id);
    QCOMPARE(s->counts().total(), 1);
    QCOMPARE(s->job(first.id)->body, std::string(R"({"model":"m"})"));
}

void TestJobStore::duplicatesWithinOneBatch()
{
    Store s;
    const auto r = s->enqueueMany(std::vector{makeJob("a"), makeJob("a"), makeJob("a", "{}"), makeJob("b")});
    QCOMPARE(r[0].status, EnqueueStatus::Added);
    QCOMPARE(r[1].status, EnqueueStatus::Duplicate);
    QCOMPARE(r[2].status, EnqueueStatus::Conflict);
    QCOMPARE(r[3].status, EnqueueStatus::Added);
    QCOMPARE(r[1].id, r[0].id);
    QVERIFY(r[3].id > r[0].id);

    // A finished job enqueued again (a resumed batch) stays finished.
    QVERIFY(!s->lease({"w", 10, 30s, {}}).empty());
    QVERIFY(s->complete({r[0].id, okResult()}));
    QCOMPARE(s->enqueue(makeJob("a")).status, EnqueueStatus::Duplicate);
    QCOMPARE(s->job(r[0].id)->state, JobState::Done);
    QCOMPARE(s->counts().total(), 2);
}

void TestJobStore::enqueueRejectsEmptyIds()
{
    Store s;
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, s->enqueue(makeJob("")));
    NewJob noUrl = makeJob("a");
    noUrl.url.clear();
    // A bad job anywhere in a batch rejects the batch before anything is written.
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, s->enqueueMany(std::vector{makeJob("ok"), noUrl}));
    QCOMPARE(s->counts().total(), 0);
}

void TestJobStore::leaseOrderPriorityThenAge()
{
    Store s;
    NewJob later = makeJob("later", "{}", 9);
    later.notBefore = s.clock.wallNow() + 10s;
    const auto r = s->enqueueMany(std::vector{makeJob("p0a", "{}", 0), makeJob("p5a", "{}", 5), makeJob("p0b", "{}", 0),
                                              makeJob("p5b", "{}", 5), makeJob("p1", "{}", 1), later});
    const std::vector<Job> first = s->lease({"w", 3, 30s, {}});
    QCOMPARE(idsOf(first), (std::vector<JobId>{r[1].id, r[3].id, r[4].id}));
    QCOMPARE(first[0].leaseOwner, std::string("w"));
    QCOMPARE(first[0].leaseExpiry, s.clock.wallNow() + 30s);
    QCOMPARE(first[0].state, JobState::Leased);
    QCOMPARE(first[0].leaseCount, 1);
    const std::vector<Job> rest = s->lease({"w", 10, 30s, {}});
    QCOMPARE(idsOf(rest), (std::vector<JobId>{r[0].id, r[2].id}));
    QVERIFY(s->lease({"w", 10, 30s, {}}).empty());

    s.clock.advance(10s);
    QCOMPARE(idsOf(s->lease({"w", 10, 30s, {}})), std::vector<JobId>{r[5].id});
    QCOMPARE(s->counts().leased, 6);
}

void TestJobStore::leaseByTenant()
{
    Store s;
    s->enqueueMany(std::vector{makeJob("a1", "{}", 0, "alpha"), makeJob("a2", "{}", 0, "alpha"),
                               makeJob("b1", "{}", 0, "beta"), makeJob("n1", "{}", 0, "")});
    QCOMPARE(s->pendingTenants(), (std::vector<std::string>{"", "alpha", "beta"}));
    const std::vector<Job> beta = s->lease({"w", 10, 30s, std::string("beta")});
    QCOMPARE(beta.size(), std::size_t{1});
    QCOMPARE(beta[0].customId, std::string("b1"));
    QCOMPARE(beta[0].tenant, std::string("beta"));
    QCOMPARE(s->pendingTenants(), (std::vector<std::string>{"", "alpha"}));
    QCOMPARE(s->lease({"w", 10, 30s, std::string("alpha")}).size(), std::size_t{2});
    QCOMPARE(s->lease({"w", 10, 30s, std::string("beta")}).size(), std::size_t{0});
}

void TestJobStore::expiredLeaseReturnsTheJob()
{
    Store s;
    const JobId id = s->enqueue(makeJob("a")).id;
    QCOMPARE(s->lease({"dead-worker", 1, 30s, {}}).size(), std::size_t{1});

    s.clock.advance(29s);
    QVERIFY(s->lease({"w2", 1, 30s, {}}).empty());
    s.clock.advance(1s);
    const std::vector<Job> again = s->lease({"w2", 1, 30s, {}});
    QCOMPARE(idsOf(again), std::vector<JobId>{id});
    QCOMPARE(again[0].leaseCount, 2);
    QCOMPARE(again[0].leaseOwner, std::string("w2"));

    // The first owner lost the job: it can no longer retry or release it...
    QVERIFY(!s->retry({id, "dead-worker", attempt("timeout"), s.clock.wallNow()}));
    QVERIFY(!s->releaseLease(id, "dead-worker"));
    // ...but an answer it got still counts, once.
    QVERIFY(s->complete({id, okResult("first")}));
    QVERIFY(!s->complete({id, okResult("second")}));
    QCOMPARE(s->result(id)->body, std::string("first"));

    bool sawExpiry = false;
    for (const TimelineEntry& e : s->timeline(id)) {
        sawExpiry = sawExpiry || (e.kind == "lease_expired" && e.detail == "held by dead-worker");
    }
    QVERIFY(sawExpiry);

    // reclaimExpiredLeases does the same without leasing.
    const JobId other = s->enqueue(makeJob("b")).id;
    QVERIFY(!s->lease({"w3", 1, 5s, {}}).empty());
    QCOMPARE(s->reclaimExpiredLeases(), std::size_t{0});
    s.clock.advance(5s);
    QCOMPARE(s->reclaimExpiredLeases(), std::size_t{1});
    QCOMPARE(s->job(other)->state, JobState::Pending);
    verifyFile(s.path);
}

void TestJobStore::extendAndReleaseLeases()
{
    Store s;
    s->enqueueMany(std::vector{makeJob("a"), makeJob("b"), makeJob("c"), makeJob("d")});
    const std::vector<Job> mine = s->lease({"w1", 2, 10s, {}});
    const std::vector<Job> theirs = s->lease({"w2", 2, 10s, {}});

    s.clock.advance(8s);
    QVERIFY(s->extendLease(mine[0].id, "w1", 10s));
    QVERIFY(!s->extendLease(mine[0].id, "w2", 10s));
    QCOMPARE(s->job(mine[0].id)->leaseExpiry, s.clock.wallNow() + 10s);
    QCOMPARE(s->extendLeases("w1", 20s), std::size_t{2});
    s.clock.advance(5s);
    // w2 did not extend: its jobs are returned; w1's are still held.
    const std::vector<Job> reclaimed = s->lease({"w3", 10, 10s, {}});
    QCOMPARE(idsOf(reclaimed), idsOf(theirs));

    QVERIFY(s->releaseLease(mine[0].id, "w1"));
    QVERIFY(!s->releaseLease(mine[0].id, "w1"));
    QCOMPARE(s->job(mine[0].id)->state, JobState::Pending);
    QCOMPARE(s->releaseLeases("w3"), std::size_t{2});
    QCOMPARE(s->counts().leased, 1);
    QCOMPARE(s->releaseAllLeases(), std::size_t{1});
    QCOMPARE(s->counts().pending, 4);
    verifyFile(s.path);
}

void TestJobStore::completeExactlyOnce()
{
    Store s;
    const auto r = s->enqueueMany(std::vector{makeJob("a"), makeJob("b"), makeJob("c")});
    QVERIFY(!s->lease({"w", 3, 30s, {}}).empty());
    const std::vector<Completion> batch{{r[0].id, okResult("a1")}, {r[1].id, okResult("b1")},
                                        {r[0].id, okResult("a2")}, {9999, okResult("none")}};
    QCOMPARE(s->completeMany(batch), (std::vector<bool>{true, true, false, false}));
    QVERIFY(!s->complete({r[1].id, okResult("b2")}));
    QCOMPARE(s->result(r[0].id)->body, std::string("a1"));
    QCOMPARE(s->result(r[1].id)->body, std::string("b1"));
    QVERIFY(!s->result(r[2].id));
    QCOMPARE(s->counts().done, 2);
    // Done is final: no retry, failure or requeue moves it.
    QVERIFY(!s->retry({r[0].id, "w", attempt("x"), s.clock.wallNow()}));
    QVERIFY(!s->fail({r[0].id, "", attempt("cancelled")}));
    QVERIFY(!s->requeue(r[0].id));
    QCOMPARE(s->job(r[0].id)->state, JobState::Done);
    verifyFile(s.path);
}

void TestJobStore::retryWaitsForNotBefore()
{
    Store s;
    const JobId id = s->enqueue(makeJob("a")).id;
    QVERIFY(!s->lease({"w", 1, 30s, {}}).empty());
    QVERIFY(s->retry({id, "w", attempt("rate_limited", 429, "k1", false), s.clock.wallNow() + 2s}));
    QCOMPARE(s->job(id)->attempts, 0);  // rate limited: not counted
    QVERIFY(s->lease({"w", 1, 30s, {}}).empty());
    s.clock.advance(2s);
    QCOMPARE(s->lease({"w", 1, 30s, {}}).size(), std::size_t{1});
    QVERIFY(s->retry({id, "w", attempt("server_error", 503), s.clock.wallNow() + 4s}));
    const Job j = *s->job(id);
    QCOMPARE(j.attempts, 1);
    QCOMPARE(j.state, JobState::Pending);
    QCOMPARE(j.lastErrorClass, std::string("server_error"));
    const std::vector<Attempt> a = s->attempts(id);
    QCOMPARE(a.size(), std::size_t{2});
    QVERIFY(!a[0].counted);
    QCOMPARE(a[0].httpStatus, 429);
    QCOMPARE(a[1].retryAt, s.clock.wallNow() + 4s);
    QCOMPARE(a[1].at, s.clock.wallNow());
}

void TestJobStore::deadLetterKeepsEveryAttempt()
{
    Store s;
    const JobId id = s->enqueue(makeJob("a")).id;
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(s->lease({"w", 1, 30s, {}}).size(), std::size_t{1});
        s.clock.advance(1s);
        QVERIFY(s->retry({id, "w", attempt("server_error", 500 + i, numbered("k", i)), s.clock.wallNow()}));
    }
    QVERIFY(!s->lease({"w", 1, 30s, {}}).empty());
    QVERIFY(!s->fail({id, "someone-else", attempt("server_error", 504, "k9")}));
    QVERIFY(s->fail({id, "w", attempt("server_error", 504, "k9")}));

    const std::vector<DeadLetter> dead = s->deadLetters();
    QCOMPARE(dead.size(), std::size_t{1});
    QCOMPARE(dead[0].job.id, id);
    QCOMPARE(dead[0].job.attempts, 4);
    QCOMPARE(dead[0].job.lastKeyLabel, std::string("k9"));
    QCOMPARE(dead[0].job.finished, s.clock.wallNow());
    QCOMPARE(dead[0].job.body, std::string(R"({"model":"m"})"));
    QCOMPARE(dead[0].attempts.size(), std::size_t{4});
    QCOMPARE(dead[0].attempts[1].httpStatus, 501);
    QCOMPARE(dead[0].attempts[3].keyLabel, std::string("k9"));
    QVERIFY(!s->result(id));
}

namespace {

// Four dead jobs: (class, key, model, died at +N s).
void makeDeadLetters(Store& s)
{
    struct Spec {
        const char* id;
        const char* errorClass;
        const char* key;
        const char* model;
    };
    const Spec specs[] = {{"d1", "server_error", "k1", "gpt"},
                          {"d2", "quota_exhausted", "k2", "gpt"},
                          {"d3", "server_error", "k2", "claude"},
                          {"d4", "bad_request", "k1", "claude"}};
    for (const Spec& spec : specs) {
        const JobId id = s->enqueue(makeJob(spec.id, "{}", 0, "", spec.model)).id;
        QVERIFY(!s->lease({"w", 1, 30s, {}}).empty());
        s.clock.advance(10s);
        QVERIFY(s->fail({id, "w", attempt(spec.errorClass, 500, spec.key)}));
    }
}

std::vector<std::string> customIds(const std::vector<DeadLetter>& dead)
{
    std::vector<std::string> ids;
    for (const DeadLetter& d : dead) {
        ids.push_back(d.job.customId);
    }
    return ids;
}

}  // namespace

void TestJobStore::deadLetterFilters_data()
{
    QTest::addColumn<std::string>("errorClass");
    QTest::addColumn<std::string>("keyLabel");
    QTest::addColumn<std::string>("model");
    QTest::addColumn<int>("fromSeconds");  // after the first death; -1: no bound
    QTest::addColumn<int>("toSeconds");
    QTest::addColumn<std::vector<std::string>>("expected");

    QTest::newRow("all") << S() << S() << S() << -1 << -1 << Strings{"d1", "d2", "d3", "d4"};
    QTest::newRow("class") << S("server_error") << S() << S() << -1 << -1 << Strings{"d1", "d3"};
    QTest::newRow("key") << S() << S("k2") << S() << -1 << -1 << Strings{"d2", "d3"};
    QTest::newRow("model") << S() << S() << S("claude") << -1 << -1 << Strings{"d3", "d4"};
    QTest::newRow("class and key") << S("server_error") << S("k2") << S() << -1 << -1 << Strings{"d3"};
    QTest::newRow("time range") << S() << S() << S() << 10 << 30 << Strings{"d2", "d3"};
    QTest::newRow("from only") << S() << S() << S() << 30 << -1 << Strings{"d4"};
    QTest::newRow("nothing") << S("timeout") << S() << S() << -1 << -1 << Strings{};
}

void TestJobStore::deadLetterFilters()
{
    QFETCH(std::string, errorClass);
    QFETCH(std::string, keyLabel);
    QFETCH(std::string, model);
    QFETCH(int, fromSeconds);
    QFETCH(int, toSeconds);
    QFETCH(std::vector<std::string>, expected);

    Store s;
    const WallTime firstDeath = s.clock.wallNow() + 10s;
    makeDeadLetters(s);
    DeadLetterFilter f;
    if (!errorClass.empty()) {
        f.errorClass = errorClass;
    }
    if (!keyLabel.empty()) {
        f.keyLabel = keyLabel;
    }
    if (!model.empty()) {
        f.model = model;
    }
    if (fromSeconds >= 0) {
        f.diedFrom = firstDeath + std::chrono::seconds(fromSeconds);
    }
    if (toSeconds >= 0) {
        f.diedTo = firstDeath + std::chrono::seconds(toSeconds);
    }
    QCOMPARE(customIds(s->deadLetters(f)), expected);
    QCOMPARE(s->requeueDead(f), expected.size());
    QCOMPARE(s->counts().pending, static_cast<std::int64_t>(expected.size()));
    QCOMPARE(s->counts().dead, static_cast<std::int64_t>(4 - expected.size()));
    verifyFile(s.path);
}

void TestJobStore::requeueByFilter()
{
    Store s;
    makeDeadLetters(s);
    // Paging: two at a time, in id order.
    const std::vector<DeadLetter> page1 = s->deadLetters({}, 2);
    QCOMPARE(customIds(page1), (std::vector<std::string>{"d1", "d2"}));
    QCOMPARE(customIds(s->deadLetters({}, 2, page1.back().job.id)), (std::vector<std::string>{"d3", "d4"}));

    const JobId d2 = s->findByCustomId("d2")->id;
    QVERIFY(s->requeue(d2));
    QVERIFY(!s->requeue(d2));  // no longer dead
    const Job j = *s->job(d2);
    QCOMPARE(j.state, JobState::Pending);
    QCOMPARE(j.attempts, 0);  // a fresh budget...
    QCOMPARE(s->attempts(d2).size(), std::size_t{1});  // ...and the history kept
    QVERIFY(!j.finished);

    QCOMPARE(s->requeueDead(), std::size_t{3});
    QCOMPARE(s->counts().dead, 0);
    QCOMPARE(s->lease({"w", 10, 30s, {}}).size(), std::size_t{4});
    verifyFile(s.path);
}

void TestJobStore::cancelPendingJob()
{
    Store s;
    const JobId id = s->enqueue(makeJob("a")).id;
    QVERIFY(s->fail({id, "", attempt("cancelled")}));
    QCOMPARE(s->job(id)->state, JobState::Dead);
    QVERIFY(!s->fail({id, "", attempt("cancelled")}));
}

void TestJobStore::editThenRequeue()
{
    Store s;
    const JobId id = s->enqueue(makeJob("a", R"({"model":"old","max_tokens":999999})", 0, "", "old")).id;
    QVERIFY(!s->editAndRequeue(id, "{}"));  // only dead jobs are edited
    QVERIFY(!s->lease({"w", 1, 30s, {}}).empty());
    QVERIFY(s->fail({id, "w", attempt("request_too_large", 400)}));

    QVERIFY(s->editAndRequeue(id, R"({"model":"new","max_tokens":100})", std::string_view("new")));
    const Job j = *s->job(id);
    QCOMPARE(j.state, JobState::Pending);
    QCOMPARE(j.body, std::string(R"({"model":"new","max_tokens":100})"));
    QCOMPARE(j.model, std::string("new"));
    QVERIFY(j.edited);
    // Rerunning the original input is still a no-op; the edited body is not
    // what was enqueued under this id.
    QCOMPARE(s->enqueue(makeJob("a", R"({"model":"old","max_tokens":999999})")).status, EnqueueStatus::Duplicate);
    QCOMPARE(s->enqueue(makeJob("a", R"({"model":"new","max_tokens":100})")).status, EnqueueStatus::Conflict);
    const std::vector<Job> leased = s->lease({"w", 1, 30s, {}});
    QCOMPARE(leased.at(0).body, std::string(R"({"model":"new","max_tokens":100})"));

    std::vector<std::string> kinds;
    for (const TimelineEntry& e : s->timeline(id)) {
        kinds.push_back(e.kind);
    }
    QCOMPARE(kinds, (std::vector<std::string>{"queued", "attempt", "edited", "requeued"}));
}

void TestJobStore::outcomesInInputOrder()
{
    Store s;
    std::vector<NewJob> jobs;
    for (int i = 0; i < 10; ++i) {
        jobs.push_back(makeJob(numbered("j", i), "{}", i % 3));  // priority shuffles the lease order
    }
    const auto r = s->enqueueMany(jobs);
    const std::vector<Job> leased = s->lease({"w", 10, 30s, {}});
    for (const Job& j : leased) {
        if (j.customId == "j4") {
            QVERIFY(s->fail({j.id, "w", attempt("bad_request", 400)}));
        } else if (j.customId != "j7") {
            QVERIFY(s->complete({j.id, okResult(j.customId)}));
        }
    }
    std::vector<std::string> order;
    JobId after = 0;
    for (;;) {
        const std::vector<Outcome> page = s->outcomes(after, 3);
        if (page.empty()) {
            break;
        }
        for (const Outcome& o : page) {
            order.push_back(o.customId);
            if (o.customId == "j4") {
                QCOMPARE(o.state, JobState::Dead);
                QVERIFY(!o.result);
                QCOMPARE(o.error->errorClass, std::string("bad_request"));
            } else {
                QCOMPARE(o.state, JobState::Done);
                QCOMPARE(o.result->body, o.customId);
            }
        }
        after = page.back().id;
    }
    QCOMPARE(order, (std::vector<std::string>{"j0", "j1", "j2", "j3", "j4", "j5", "j6", "j8", "j9"}));
    QCOMPARE(r.front().id, s->findByCustomId("j0")->id);
}

void TestJobStore::timelineMergesEverything()
{
    Store s;
    const JobId id = s->enqueue(makeJob("a", "{}", 2, "team", "gpt")).id;
    s.clock.advance(1s);
    s->addNote({id, "waited", "tokens/min of key k1 until +2s", {}});
    QVERIFY(!s->lease({"w", 1, 30s, {}}).empty());
    s.clock.advance(1s);
    QVERIFY(s->retry({id, "w", attempt("rate_limited", 429, "k1", false), s.clock.wallNow() + 1s}));
    s.clock.advance(1s);
    QVERIFY(!s->lease({"w", 1, 30s, {}}).empty());
    s.clock.advance(1s);
    QVERIFY(s->complete({id, okResult()}));

    const std::vector<TimelineEntry> t = s->timeline(id);
    QCOMPARE(t.size(), std::size_t{4});
    QCOMPARE(t[0].kind, std::string("queued"));
    QCOMPARE(t[0].detail, std::string("priority 2, tenant team, model gpt"));
    QCOMPARE(t[1].kind, std::string("waited"));
    QCOMPARE(t[2].kind, std::string("attempt"));
    QVERIFY(t[2].detail.starts_with("rate_limited, HTTP 429, key k1"));
    QVERIFY(t[2].detail.find("(not counted); retry at 2026-01-01T00:00:03.000Z") != std::string::npos);
    QCOMPARE(t[3].kind, std::string("done"));
    QCOMPARE(t[3].detail, std::string("HTTP 200, key k1, request req-1"));
    QCOMPARE(t[3].at, s.clock.wallNow());
    QVERIFY(s->timeline(12345).empty());
}

void TestJobStore::readOnlyStoreSeesWrites()
{
    Store s;
    s->enqueue(makeJob("a"));
    StoreOptions ro;
    ro.readOnly = true;
    JobStore reader(s.path, s.clock, ro);
    QCOMPARE(reader.counts().pending, 1);
    s->enqueue(makeJob("b"));
    QCOMPARE(reader.counts().pending, 2);
    QVERIFY(failsWith(StoreErrorKind::ReadOnly, {"opened read-only"}, [&] { reader.enqueue(makeJob("c")); }));
}

void TestJobStore::migratesVersion1()
{
    QTemporaryDir dir;
    const std::filesystem::path path = std::filesystem::path(dir.path().toStdString()) / "v1.db";
    {
        Database db(path, OpenMode::ReadWriteCreate);
        db.exec("PRAGMA journal_mode = WAL");
        Transaction t(db);
        schema::migrate(db, 0, 1);
        db.exec("INSERT INTO jobs (custom_id, method, url, body, model, created_ms, state, finished_ms) VALUES "
                "('a', 'POST', '/v1/chat/completions', '{\"n\":1}', 'm', 1000, 0, NULL), "
                "('b', 'POST', '/v1/chat/completions', '{\"n\":2}', 'm', 1000, 3, 1600), "
                "('c', 'POST', '/v1/chat/completions', '{\"n\":3}', 'm', 1000, 2, 1700)");
        db.exec("INSERT INTO attempts (job_id, at_ms, error_class, http_status, key_label) VALUES "
                "(2, 1500, 'server_error', 500, 'k1'), (2, 1600, 'quota_exhausted', 429, 'k2')");
        db.exec("INSERT INTO results (job_id, status_code, body, completed_ms) VALUES (3, 200, '{}', 1700)");
        t.commit();
        QCOMPARE(db.queryInt64("PRAGMA user_version"), 1);
    }

    ManualClock clock;
    {
        JobStore s(path, clock);
        const Counts c = s.counts();
        QCOMPARE(c.pending, 1);
        QCOMPARE(c.dead, 1);
        QCOMPARE(c.done, 1);
        DeadLetterFilter quota;
        quota.errorClass = "quota_exhausted";
        const std::vector<DeadLetter> dead = s.deadLetters(quota);
        QCOMPARE(dead.size(), std::size_t{1});
        QCOMPARE(dead[0].job.customId, std::string("b"));
        QCOMPARE(dead[0].job.lastKeyLabel, std::string("k2"));
        QCOMPARE(dead[0].job.tenant, std::string());
        QCOMPARE(dead[0].attempts.size(), std::size_t{2});
        QCOMPARE(s.enqueue(makeJob("a", R"({"n":1})")).status, EnqueueStatus::Duplicate);
        QCOMPARE(s.result(3)->statusCode, 200);
        QCOMPARE(s.pendingTenants(), std::vector<std::string>{""});
        QVERIFY(s.requeue(dead[0].job.id));
        QCOMPARE(s.lease({"w", 10, 30s, {}}).size(), std::size_t{2});
    }
    Database db(path, OpenMode::ReadOnly);
    QCOMPARE(db.queryInt64("PRAGMA user_version"), schema::kCurrentVersion);
    QCOMPARE(db.queryInt64("PRAGMA application_id"), schema::kApplicationId);
    verifyFile(path);
}

void TestJobStore::refusesNewerSchema()
{
    Store s;
    s->enqueue(makeJob("a"));
    s.store.reset();
    {
        Database db(s.path, OpenMode::ReadWrite);
        db.exec("PRAGMA user_version = 99");
    }
    for (const bool readOnly : {false, true}) {
        StoreOptions o;
        o.readOnly = readOnly;
        QVERIFY(failsWith(StoreErrorKind::TooNew, {"schema version 99", "newer Sluice", s.path.string()},
                          [&] { JobStore again(s.path, s.clock, o); }));
    }
    Database db(s.path, OpenMode::ReadOnly);
    QCOMPARE(db.queryInt64("PRAGMA user_version"), 99);  // untouched
    QCOMPARE(db.queryInt64("SELECT count(*) FROM jobs"), 1);
}

void TestJobStore::refusesForeignDatabase()
{
    QTemporaryDir dir;
    const std::filesystem::path path = std::filesystem::path(dir.path().toStdString()) / "other.db";
    {
        Database db(path, OpenMode::ReadWriteCreate);
        db.exec("CREATE TABLE notes (text TEXT)");
    }
    ManualClock clock;
    QVERIFY(failsWith(StoreErrorKind::NotADatabase, {"not a Sluice job store"}, [&] { JobStore s(path, clock); }));
    Database db(path, OpenMode::ReadOnly);
    QCOMPARE(db.queryInt64("SELECT count(*) FROM sqlite_schema"), 1);  // nothing added
}

void TestJobStore::garbageFileIsNotADatabase()
{
    QTemporaryDir dir;
    const std::filesystem::path path = std::filesystem::path(dir.path().toStdString()) / "garbage.db";
    {
        std::ofstream out(path, std::ios::binary);
        for (int i = 0; i < 1000; ++i) {
            out << "this is not a database, just bytes. ";
        }
    }
    const auto size = std::filesystem::file_size(path);
    ManualClock clock;
    for (const bool readOnly : {false, true}) {
        StoreOptions o;
        o.readOnly = readOnly;
        QVERIFY(failsWith(StoreErrorKind::NotADatabase, {"opening the job store", "not an SQLite database"},
                          [&] { JobStore s(path, clock, o); }));
    }
    QCOMPARE(std::filesystem::file_size(path), size);
}

void TestJobStore::malformedFileGivesCorruptError()
{
    Store s;
    std::vector<NewJob> jobs;
    for (int i = 0; i < 300; ++i) {
        jobs.push_back(makeJob(numbered("j", i), std::string(500, 'x')));
    }
    s->enqueueMany(jobs);
    s.store.reset();
    // Keep page 1 (header and schema root), overwrite everything after it.
    {
        std::fstream f(s.path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4096);
        const std::string junk(std::filesystem::file_size(s.path) - 4096, '\x5a');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    const auto corrupt = [](auto&& op) { return failsWith(StoreErrorKind::Corrupt, {"corrupted"}, op); };
    std::unique_ptr<JobStore> again;
    try {
        again = std::make_unique<JobStore>(s.path, s.clock);
    } catch (const StoreError& e) {
        // The schema itself may span the overwritten pages.
        QVERIFY2(e.kind() == StoreErrorKind::Corrupt, e.what());
        return;
    }
    QVERIFY(corrupt([&] { again->counts(); }));
    QVERIFY(corrupt([&] { (void)again->lease({"w", 10, 30s, {}}); }));
    QVERIFY(corrupt([&] { again->outcomes(); }));
    QVERIFY(corrupt([&] { again->enqueue(makeJob("new")); }));
    QVERIFY(corrupt([&] { again->quickCheck(); }));
}

void TestJobStore::readOnlyFile()
{
    Store s;
    s->enqueue(makeJob("a"));
    s.store.reset();
    QCOMPARE(::chmod(s.path.c_str(), 0444), 0);
    QVERIFY(failsWith(StoreErrorKind::ReadOnly, {"the file is read-only"}, [&] { JobStore rw(s.path, s.clock); }));
    StoreOptions ro;
    ro.readOnly = true;
    JobStore reader(s.path, s.clock, ro);
    QCOMPARE(reader.counts().pending, 1);
    QCOMPARE(reader.findByCustomId("a")->state, JobState::Pending);
}

void TestJobStore::lockedByAnotherConnection()
{
    StoreOptions o;
    o.busyTimeout = 20ms;  // SQLite's own wait; the test never sleeps
    Store s(o);
    s->enqueue(makeJob("a"));
    Database other(s.path, OpenMode::ReadWrite);
    other.exec("BEGIN EXCLUSIVE");
    const auto busy = [](auto&& op) { return failsWith(StoreErrorKind::Busy, {"another process", "20 ms"}, op); };
    QVERIFY(busy([&] { s->enqueueMany(std::vector{makeJob("b"), makeJob("c")}); }));
    QVERIFY(busy([&] { (void)s->lease({"w", 1, 30s, {}}); }));
    // Reads go on while another connection writes (WAL).
    QCOMPARE(s->counts().pending, 1);
    other.exec("ROLLBACK");
    s->enqueueMany(std::vector{makeJob("b"), makeJob("c")});
    QCOMPARE(s->counts().pending, 3);
}

void TestJobStore::openWhileLockedFailsCleanly()
{
    QTemporaryDir dir;
    const std::filesystem::path path = std::filesystem::path(dir.path().toStdString()) / "new.db";
    Database other(path, OpenMode::ReadWriteCreate);
    other.exec("PRAGMA journal_mode = WAL");
    other.exec("BEGIN EXCLUSIVE");
    other.exec("CREATE TABLE scratch (x)");  // really takes the write lock
    ManualClock clock;
    StoreOptions o;
    o.busyTimeout = 20ms;
    QVERIFY(failsWith(StoreErrorKind::Busy, {"opening the job store"}, [&] { JobStore s(path, clock, o); }));
    other.exec("ROLLBACK");
    JobStore s(path, clock, o);
    QCOMPARE(s.counts().total(), 0);
}

void TestJobStore::diskFullCommitsNothing()
{
    Store s;
    s->enqueue(makeJob("a"));
    s.store.reset();  // checkpoints the WAL into the file
    StoreOptions full;
    full.maxPageCount = static_cast<std::int64_t>(pagesOf(s.path));
    s.reopen(full);
    std::vector<NewJob> big;
    for (int i = 0; i < 200; ++i) {
        big.push_back(makeJob(numbered("big", i), std::string(2000, 'y')));
    }
    QVERIFY(failsWith(StoreErrorKind::Full, {"enqueueing jobs", "nothing of this operation was committed"},
                      [&] { s->enqueueMany(big); }));
    QCOMPARE(s->counts().total(), 1);
    QVERIFY(!s->findByCustomId("big0"));
    // Still usable for what fits.
    QVERIFY(!s->lease({"w", 1, 30s, {}}).empty());
    QVERIFY(s->complete({s->findByCustomId("a")->id, okResult()}));

    s.reopen();
    QCOMPARE(s->counts().total(), 1);
    QCOMPARE(s->counts().done, 1);
    verifyFile(s.path);
}

void TestJobStore::statementHelpers()
{
    QTemporaryDir dir;
    Database db(std::filesystem::path(dir.path().toStdString()) / "t.db", OpenMode::ReadWriteCreate);
    db.exec("CREATE TABLE t (i INTEGER, r REAL, s TEXT)");
    {
        auto ins = db.cached("INSERT INTO t VALUES (?1, ?2, ?3)");
        ins->bind(1, 7).bind(2, 1.5).bind(3, std::string("seven")).run();
        QVERIFY_THROWS_EXCEPTION(std::logic_error, db.cached("INSERT INTO t VALUES (?1, ?2, ?3)"));
    }
    {
        auto ins = db.cached("INSERT INTO t VALUES (?1, ?2, ?3)");  // reset and reusable
        ins->bind(1, std::optional<std::int64_t>()).bind(2, 2.5).bind(3, nullptr).run();
    }
    Statement sel(db, "SELECT i, r, s FROM t ORDER BY r");
    QVERIFY(sel.step());
    QCOMPARE(sel.int64(0), 7);
    QCOMPARE(sel.real(1), 1.5);
    QCOMPARE(sel.text(2), std::string("seven"));
    QVERIFY(sel.step());
    QVERIFY(!sel.optionalInt64(0));
    QVERIFY(!sel.optionalText(2));
    QVERIFY(!sel.step());
    QVERIFY_THROWS_EXCEPTION(std::logic_error, Statement(db, "SELECT 1; SELECT 2"));
    QVERIFY(failsWith(StoreErrorKind::Other, {"no such column: nope", "t.db"},
                      [&] { Statement bad(db, "SELECT nope FROM t"); }));
}

void TestJobStore::transactionRollsBackUnlessCommitted()
{
    QTemporaryDir dir;
    Database db(std::filesystem::path(dir.path().toStdString()) / "t.db", OpenMode::ReadWriteCreate);
    db.exec("CREATE TABLE t (i INTEGER)");
    try {
        Transaction t(db);
        db.exec("INSERT INTO t VALUES (1)");
        throw std::runtime_error("half way");
    } catch (const std::runtime_error&) {
    }
    QVERIFY(!db.inTransaction());
    QCOMPARE(db.queryInt64("SELECT count(*) FROM t"), 0);
    {
        Transaction t(db);
        db.exec("INSERT INTO t VALUES (2)");
        t.commit();
    }
    QCOMPARE(db.queryInt64("SELECT count(*) FROM t"), 1);
}

void TestJobStore::workspacePath_data()
{
    QTest::addColumn<std::string>("xdg");
    QTest::addColumn<std::string>("home");
    QTest::addColumn<std::string>("expected");
    QTest::newRow("xdg") << S("/x/data") << S("/home/u") << S("/x/data/sluice/work.db");
    QTest::newRow("no xdg") << S() << S("/home/u") << S("/home/u/.local/share/sluice/work.db");
    QTest::newRow("relative xdg is ignored") << S("data") << S("/home/u") << S("/home/u/.local/share/sluice/work.db");
    QTest::newRow("no home") << S("/x/data") << S() << S("/x/data/sluice/work.db");
}

void TestJobStore::workspacePath()
{
    QFETCH(std::string, xdg);
    QFETCH(std::string, home);
    QFETCH(std::string, expected);
    QCOMPARE(workspaceDatabasePath("work", xdg, home).string(), expected);
}

void TestJobStore::workspacePathRejects()
{
    for (const char* bad : {"", ".hidden", "../up", "a/b", "sp ace"}) {
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, workspaceDatabasePath(bad, "/x", "/h"));
    }
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, workspaceDatabasePath("work", "", ""));
}

namespace {

QString readLine(QProcess& p)
{
    while (!p.canReadLine()) {
        if (!p.waitForReadyRead(60'000)) {
            return {};
        }
    }
    return QString::fromUtf8(p.readLine()).trimmed();
}

constexpr int kHelperRounds = 30;
constexpr int kHelperJobs = kHelperRounds * 200;

}  // namespace

void TestJobStore::killedAtEveryPoint_data()
{
    // A pause point holds the helper there (blocked on stdin) until the
    // kill; "running" kills it mid-run as soon as it reports that round.
    QTest::addColumn<std::string>("point");
    QTest::addColumn<int>("round");
    QTest::addColumn<int>("leasedAtKill");  // -1: unknown (killed while running)
    QTest::newRow("before any lease") << S("enqueued") << 0 << 0;
    QTest::newRow("leases out") << S("leased") << 1 << 150;
    QTest::newRow("after recording") << S("recorded") << 2 << 0;
    QTest::newRow("running, round 1") << S("running") << 1 << -1;
    QTest::newRow("running, round 4") << S("running") << 4 << -1;
}

void TestJobStore::killedAtEveryPoint()
{
    QFETCH(std::string, point);
    QFETCH(int, round);
    QFETCH(int, leasedAtKill);

    QTemporaryDir dir;
    const std::filesystem::path path = std::filesystem::path(dir.path().toStdString()) / "crash.db";
    const QString file = QString::fromStdString(path.string());
    QStringList args{file, QStringLiteral("rounds"), QString::number(kHelperRounds)};
    if (point != "running") {
        args << QString::fromStdString(point) << QString::number(round);
    }
    QProcess helper;
    helper.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    helper.start(QStringLiteral(STORE_CRASH_HELPER), args);
    QVERIFY(helper.waitForStarted());

    int enqueuedTotal = 0;
    const QString stopLine =
        point == "running" ? QStringLiteral("recorded %1").arg(round) : QStringLiteral("paused");
    for (;;) {
        const QString line = readLine(helper);
        QVERIFY2(!line.isEmpty(), "the helper stopped before the kill point");
        if (line.startsWith(QLatin1String("enqueued "))) {
            enqueuedTotal = line.section(QLatin1Char(' '), 2, 2).toInt();
        }
        if (line == stopLine) {
            break;
        }
    }
    helper.kill();  // SIGKILL
    QVERIFY(helper.waitForFinished());
    QCOMPARE(helper.exitStatus(), QProcess::CrashExit);

    ManualClock clock;
    {
        // Everything committed before the kill is there, and consistent.
        JobStore s(path, clock);
        QVERIFY(s.quickCheck().empty());
        const Counts c = s.counts();
        QVERIFY(c.total() >= enqueuedTotal);
        if (leasedAtKill >= 0) {
            QCOMPARE(c.total(), enqueuedTotal);
            QCOMPARE(c.leased, leasedAtKill);
        }
    }
    verifyFile(path);

    // Restart: the whole input again, worked to the end.
    QProcess drain;
    drain.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    drain.start(QStringLiteral(STORE_CRASH_HELPER), {file, QStringLiteral("drain"), QString::number(kHelperJobs)});
    QVERIFY(drain.waitForFinished(120'000));
    QCOMPARE(drain.exitStatus(), QProcess::NormalExit);
    QCOMPARE(drain.exitCode(), 0);
    verifyFile(path);

    JobStore s(path, clock);
    std::set<std::string> seen;
    std::size_t lines = 0;
    for (JobId after = 0;;) {
        const std::vector<Outcome> page = s.outcomes(after, 1000);
        if (page.empty()) {
            break;
        }
        for (const Outcome& o : page) {
            ++lines;
            seen.insert(o.customId);
            QVERIFY(o.result.has_value() != o.error.has_value());
        }
        after = page.back().id;
    }
    QCOMPARE(lines, std::size_t{kHelperJobs});
    QCOMPARE(seen.size(), std::size_t{kHelperJobs});
}

QTEST_APPLESS_MAIN(TestJobStore)
#include "tst_job_store.moc"
