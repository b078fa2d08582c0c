// Compacting a state file once its output is written (JobStore::compact and
// batchfile's compactAfterOutput), on real SQLite files: the file shrinks;
// a rerun of the same input stays a no-op and a changed one a conflict; dead
// letters, pending jobs and rollups are kept whole; an output can no longer
// be written from compacted results and says so; and a process killed with
// SIGKILL in the middle of a compaction leaves a consistent file that a
// second compaction finishes.
#include "batchfile/batch_compaction.h"
#include "batchfile/batch_output.h"
#include "core/atomic_file.h"
#include "core/clock.h"
#include "store/job_store.h"
#include "store/sqlite.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace sluice;
using namespace sluice::store;

namespace {

constexpr int kJobs = 2000;

NewJob inputLine(int i, const std::string& extra = {})
{
    char id[32];
    std::snprintf(id, sizeof id, "job-%06d", i);
    NewJob j;
    j.customId = id;
    j.url = "/v1/chat/completions";
    j.body = R"({"model":"m","messages":[{"role":"user","content":")" + std::string(200, 'q') + extra +
             R"("}],"i":)" + std::to_string(i) + "}";
    j.model = "m";
    return j;
}

std::vector<NewJob> inputLines(int n)
{
    std::vector<NewJob> jobs;
    for (int i = 0; i < n; ++i) {
        jobs.push_back(inputLine(i));
    }
    return jobs;
}

std::string responseBody(JobId id)
{
    return R"({"id":"chatcmpl-)" + std::to_string(id) + R"(","choices":[{"message":{"content":")" +
           std::string(800, 'a') + R"("}}]})";
}

// Every 10th job dies (after a failed attempt), every 7th of the rest retries
// once before it completes, the last 50 stay pending; every finished job has
// a note in its timeline.
struct Filled {
    std::vector<JobId> done;
    std::vector<JobId> dead;
    std::vector<JobId> pending;
};

Filled fill(JobStore& s, const Clock& clock)
{
    Filled f;
    s.enqueueMany(inputLines(kJobs));
    const std::vector<Job> leased = s.lease({"w", kJobs - 50, std::chrono::minutes(5), {}});
    Updates retries;
    for (const Job& j : leased) {
        if (j.id % 7 == 0 && j.id % 10 != 0) {
            retries.retries.push_back({j.id, "w", {"server_error", 500, "boom", "k1", true, {}, {}}, clock.wallNow()});
        }
    }
    s.recordMany(retries);
    std::vector<JobId> retried;
    for (const Retry& r : retries.retries) {
        retried.push_back(r.id);
    }
    const std::vector<Job> again = s.lease({"w", retried.size(), std::chrono::minutes(5), {}});
    Updates u;
    for (const Job& j : leased) {
        u.notes.push_back({j.id, "sent", "key k1", {}});
        if (j.id % 10 == 0) {
            u.failures.push_back({j.id, "w", {"bad_request", 400, "no such model", "k1", true, {}, {}}});
            f.dead.push_back(j.id);
        } else if (j.id % 7 != 0) {
            u.completions.push_back({j.id, {200, responseBody(j.id), "req-" + std::to_string(j.id), "k1", {}}});
            f.done.push_back(j.id);
        }
    }
    for (const Job& j : again) {
        u.completions.push_back({j.id, {200, responseBody(j.id), "req-" + std::to_string(j.id), "k1", {}}});
        f.done.push_back(j.id);
    }
    s.recordMany(u);
    for (JobId id = kJobs - 49; id <= kJobs; ++id) {
        f.pending.push_back(id);
    }
    std::sort(f.done.begin(), f.done.end());
    return f;
}

std::uintmax_t onDisk(const std::filesystem::path& p)
{
    std::error_code ec;
    std::uintmax_t n = std::filesystem::file_size(p, ec);
    const std::uintmax_t wal = std::filesystem::file_size(p.string() + "-wal", ec);
    return n + (ec ? 0 : wal);
}

std::string readAll(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace

class TestCompaction : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void shrinksAndKeepsWhatARerunNeeds();
    void keepsDeadLettersPendingJobsAndRollups();
    void outputFromCompactedStateIsRefused();
    void compactsOnlyTheRunsJobs();
    void killedMidwayLeavesAConsistentFile();
};

void TestCompaction::shrinksAndKeepsWhatARerunNeeds()
{
    QTemporaryDir dir;
    const std::filesystem::path path = dir.filePath(QStringLiteral("state.db")).toStdString();
    ManualClock clock;
    JobStore s(path, clock);
    const Filled f = fill(s, clock);
    const Counts before = s.counts();
    const std::uintmax_t sizeBefore = onDisk(path);

    CompactRequest request;
    request.note = "after writing out.jsonl";
    request.chunk = 300;
    int chunks = 0;
    request.onChunk = [&chunks](JobId, std::int64_t) { ++chunks; };
    const CompactReport r = s.compact(request);
    QCOMPARE(r.jobs, static_cast<std::int64_t>(f.done.size()));
    QCOMPARE(chunks, (kJobs + 299) / 300);
    // The results and timelines are most of the file.
    const std::uintmax_t sizeAfter = onDisk(path);
    QCOMPARE(r.bytesAfter, sizeAfter);
    QVERIFY2(sizeAfter * 2 < sizeBefore, qPrintable(QStringLiteral("%1 -> %2 bytes").arg(sizeBefore).arg(sizeAfter)));
    QVERIFY(s.quickCheck().empty());

    // Every job is still there in its state, and the same input again
    // changes nothing, while a changed request is still a conflict.
    const Counts after = s.counts();
    QCOMPARE(after.done, before.done);
    QCOMPARE(after.dead, before.dead);
    QCOMPARE(after.pending, before.pending);
    for (const EnqueueResult& e : s.enqueueMany(inputLines(kJobs))) {
        QCOMPARE(e.status, EnqueueStatus::Duplicate);
    }
    QCOMPARE(s.enqueue(inputLine(static_cast<int>(f.done.front()) - 1, "changed")).status, EnqueueStatus::Conflict);
    QCOMPARE(s.counts().total(), before.total());

    // A done job's result, attempts and events are gone; its timeline says
    // where they went.
    const JobId doneId = f.done.front();
    QVERIFY(!s.result(doneId));
    QVERIFY(s.attempts(doneId).empty());
    const std::vector<TimelineEntry> t = s.timeline(doneId);
    QCOMPARE(t.back().kind, std::string("compacted"));
    QVERIFY(t.back().detail.find("out.jsonl") != std::string::npos);
    QCOMPARE(s.compactedBetween(1, kJobs), static_cast<std::int64_t>(f.done.size()));

    // A second pass finds nothing more to drop.
    QCOMPARE(s.compact({}).jobs, std::int64_t{0});
    QCOMPARE(s.compactedBetween(1, kJobs), static_cast<std::int64_t>(f.done.size()));
}

void TestCompaction::keepsDeadLettersPendingJobsAndRollups()
{
    QTemporaryDir dir;
    const std::filesystem::path path = dir.filePath(QStringLiteral("state.db")).toStdString();
    ManualClock clock;
    JobStore s(path, clock);
    const Filled f = fill(s, clock);
    {
        Database db(path, OpenMode::ReadWrite);
        db.exec("INSERT INTO metrics_minutes (minute_ms, provider, key_label, model, sent, completed) "
                "VALUES (60000, 'openai', 'k1', 'm', 2000, 1700)");
    }
    const std::vector<DeadLetter> deadBefore = s.deadLetters({}, 10'000);
    s.compact({});

    // Dead letters whole, with their attempts: --explain and a requeue work.
    const std::vector<DeadLetter> deadAfter = s.deadLetters({}, 10'000);
    QCOMPARE(deadAfter.size(), f.dead.size());
    QCOMPARE(deadAfter.size(), deadBefore.size());
    for (std::size_t i = 0; i < deadAfter.size(); ++i) {
        QCOMPARE(deadAfter[i].attempts.size(), deadBefore[i].attempts.size());
        QCOMPARE(deadAfter[i].job.body, deadBefore[i].job.body);
    }
    QVERIFY(s.requeue(f.dead.front()));

    // Pending jobs go on as before: a resume sends and records them.
    const std::vector<Job> rest = s.lease({"w2", 1000, std::chrono::minutes(1), {}});
    QCOMPARE(rest.size(), f.pending.size() + 1);
    for (const Job& j : rest) {
        QVERIFY(s.complete({j.id, {200, responseBody(j.id), "r", "k1", {}}}));
    }
    for (const JobId id : f.pending) {
        QVERIFY(s.result(id).has_value());
    }
    QVERIFY(s.result(f.dead.front()).has_value());
    QCOMPARE(s.compactedBetween(1, kJobs), static_cast<std::int64_t>(f.done.size()));

    // The rollups reports read are untouched.
    Database db(path, OpenMode::ReadOnly);
    QCOMPARE(db.queryInt64("SELECT sum(sent) FROM metrics_minutes"), std::int64_t{2000});
}

void TestCompaction::outputFromCompactedStateIsRefused()
{
    QTemporaryDir dir;
    const std::filesystem::path path = dir.filePath(QStringLiteral("state.db")).toStdString();
    const std::string out = dir.filePath(QStringLiteral("out.jsonl")).toStdString();
    ManualClock clock;
    JobStore s(path, clock);
    fill(s, clock);
    const BatchOutputCounts written = writeBatchOutput(s, out);
    const std::string firstOutput = readAll(out);
    QVERIFY(written.completed > 0);
    QVERIFY(compactedOutputProblem(s, nullptr).empty());

    const CompactReport r = compactAfterOutput(s, nullptr, out);
    QCOMPARE(static_cast<std::uint64_t>(r.jobs), written.completed);

    // Writing again would lose lines: refused up front with what and where,
    // and refused by the writer itself, which leaves the file as it was.
    const std::string why = compactedOutputProblem(s, nullptr);
    QVERIFY2(why.find(std::to_string(r.jobs) + " results were compacted") != std::string::npos, why.c_str());
    QVERIFY2(why.find(out) != std::string::npos, why.c_str());
    QVERIFY_THROWS_EXCEPTION(FileError, writeBatchOutput(s, out));
    QCOMPARE(readAll(out), firstOutput);
}

void TestCompaction::compactsOnlyTheRunsJobs()
{
    QTemporaryDir dir;
    const std::filesystem::path path = dir.filePath(QStringLiteral("state.db")).toStdString();
    ManualClock clock;
    JobStore s(path, clock);
    const Filled f = fill(s, clock);
    // A run that holds the first 500 and the last 500 ids (say, another
    // input shares the state file in between).
    BatchIds run;
    for (JobId id = 1; id <= 500; ++id) {
        run.add(id, static_cast<std::size_t>(id));
    }
    for (JobId id = kJobs - 499; id <= kJobs; ++id) {
        run.add(id, static_cast<std::size_t>(id));
    }
    compactAfterOutput(s, &run, "run.jsonl");
    const auto doneIn = [&f](JobId a, JobId b) {
        return static_cast<std::int64_t>(
            std::count_if(f.done.begin(), f.done.end(), [&](JobId id) { return id >= a && id <= b; }));
    };
    QCOMPARE(s.compactedBetween(1, 500), doneIn(1, 500));
    QCOMPARE(s.compactedBetween(501, kJobs - 500), std::int64_t{0});
    QCOMPARE(s.compactedBetween(kJobs - 499, kJobs), doneIn(kJobs - 499, kJobs));
    QVERIFY(s.result(f.done[static_cast<std::size_t>(doneIn(1, 500))]).has_value());
    QVERIFY(!compactedOutputProblem(s, &run).empty());
}

void TestCompaction::killedMidwayLeavesAConsistentFile()
{
    QTemporaryDir dir;
    const std::filesystem::path path = dir.filePath(QStringLiteral("state.db")).toStdString();
    Filled f;
    {
        ManualClock clock;
        JobStore s(path, clock);
        f = fill(s, clock);
    }
    QProcess helper;
    helper.start(QStringLiteral(STORE_CRASH_HELPER),
                 {QString::fromStdString(path.string()), QStringLiteral("compact"), QStringLiteral("400"),
                  QStringLiteral("2")});
    QVERIFY(helper.waitForStarted());
    JobId through = 0;
    for (;;) {
        QVERIFY2(helper.canReadLine() || helper.waitForReadyRead(60'000), "the helper stopped before the kill point");
        const QString line = QString::fromUtf8(helper.readLine()).trimmed();
        if (line.startsWith(QLatin1String("compacted "))) {
            through = line.section(QLatin1Char(' '), 1, 1).toLongLong();
        }
        if (line == QLatin1String("paused")) {
            break;
        }
    }
    helper.kill();  // SIGKILL, in the middle of the compaction
    QVERIFY(helper.waitForFinished());
    QCOMPARE(helper.exitStatus(), QProcess::CrashExit);
    QCOMPARE(through, JobId{800});

    ManualClock clock;
    JobStore s(path, clock);
    QVERIFY(s.quickCheck().empty());
    // The chunks committed before the kill are compacted, and none after.
    std::int64_t doneThrough = 0;
    for (const JobId id : f.done) {
        doneThrough += id <= through ? 1 : 0;
        QCOMPARE(s.result(id).has_value(), id > through);
    }
    QCOMPARE(s.compactedBetween(1, kJobs), doneThrough);
    std::int64_t recorded = 0;
    for (const Compaction& c : s.compactions()) {
        QVERIFY(c.last <= through);
        recorded += c.jobs;
    }
    QCOMPARE(recorded, doneThrough);
    // A second compaction finishes the job.
    QCOMPARE(s.compact({}).jobs, static_cast<std::int64_t>(f.done.size()) - doneThrough);
    QCOMPARE(s.compactedBetween(1, kJobs), static_cast<std::int64_t>(f.done.size()));
    QVERIFY(s.quickCheck().empty());
}

QTEST_APPLESS_MAIN(TestCompaction)
#include "tst_compaction.moc"
