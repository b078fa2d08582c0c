// A batch whose state database sits on a disk that fills up: the parts
// `sluice-cli batch` runs (job store, queue runner, dispatcher) against the
// real mock over loopback, with SQLite's files going through FullDiskVfs,
// which fails writes with SQLITE_FULL after a set number of bytes. The runner
// must stop on its own and say the disk is full and the state intact; the
// file must pass SQLite's check with every job either untouched or wholly
// recorded; and once space is freed, a second run over the same file ends
// with exactly one outcome per custom_id.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "mock/mock_provider.h"
#include "queue/queue_runner.h"
#include "store/job_store.h"
#include "support/full_disk_vfs.h"

#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <set>

using namespace sluice;
using nlohmann::json;

namespace {

constexpr int kJobs = 400;

mock::MockConfig quickMock()
{
    mock::MockConfig m = mock::MockConfig::defaults();
    m.latency.baseMs = 1;
    m.latency.perOutputTokenMs = 0;
    m.limitsEnabled = false;
    return m;
}

Config configFor(const std::string& baseUrl)
{
    const json root = {{"providers",
                        {{{"name", "mock"},
                          {"flavor", "openai"},
                          {"base_url", baseUrl},
                          {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 1000000}}}}}}},
                          {"keys", {{{"name", "mock"}, {"env", "MOCK_API_KEY"}}}}}}}};
    return loadConfig(JsonSource("full-disk-config.json", root.dump()),
                      [](const std::string&) { return std::optional<std::string>("sk-mock"); });
}

std::vector<store::NewJob> jobs()
{
    std::vector<store::NewJob> out;
    for (int i = 0; i < kJobs; ++i) {
        store::NewJob j;
        j.customId = "job-" + std::to_string(i);
        j.url = "/v1/chat/completions";
        j.model = "gpt-4o-mini";
        j.body = json{{"model", "gpt-4o-mini"},
                      {"max_tokens", 20},
                      {"messages", json::array({{{"role", "user"}, {"content", "Say something about " + j.customId}}})}}
                     .dump();
        out.push_back(std::move(j));
    }
    return out;
}

// One run as sluice-cli batch does it: lease, send, record, until the store
// is drained or the runner gives up. Returns the runner's failure, if any.
std::string runOnce(store::JobStore& st, mock::MockProvider& provider, Clock& clock)
{
    st.releaseAllLeases();
    Admission admission(clock);
    // A few jobs at a time, so outcomes are written in several transactions
    // and the disk fills between two of them.
    QueueRunnerOptions ro;
    ro.maxOutstanding = 40;
    QueueRunner runner(st, clock, ro);
    DispatcherOptions dopt;
    dopt.seed = 3;
    Dispatcher dispatcher(configFor(provider.baseUrl()), clock, admission, runner, dopt);
    runner.attach(dispatcher);
    dispatcher.start();
    runner.start();
    // A bound on a hang, not a timing assertion: the runner either drains or fails.
    for (int i = 0; i < 6000 && !runner.drained() && !runner.failed(); ++i) {
        QTest::qWait(10);
    }
    dispatcher.stop();
    runner.stop();
    return runner.stats().failure;
}

// Every job is pending (leases released or not), or done with its whole
// result, or dead with its error: nothing half-recorded.
void checkWhole(store::JobStore& st)
{
    QCOMPARE(st.quickCheck(), std::vector<std::string>{});
    for (const store::Outcome& o : st.outcomes(0, kJobs + 10)) {
        if (o.state == store::JobState::Done) {
            QVERIFY2(o.result.has_value(), o.customId.c_str());
            QCOMPARE(o.result->statusCode, 200);
            QVERIFY2(json::accept(o.result->body), o.customId.c_str());
        } else {
            QVERIFY2(o.error.has_value() && !o.error->message.empty(), o.customId.c_str());
        }
    }
}

}  // namespace

class TestFullDisk : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Queueing a batch on a full disk fails as a whole: no job is left behind.
    void enqueueOnAFullDiskAddsNothing()
    {
        test::FullDiskVfs vfs;
        QTemporaryDir dir;
        SystemClock clock;
        const std::string path = dir.filePath(QStringLiteral("state.db")).toStdString();
        {
            store::JobStore st(path, clock);
            vfs.setRemaining(16 * 1024);
            const std::vector<store::NewJob> all = jobs();
            try {
                st.enqueueMany(all);
                QFAIL("enqueueMany succeeded on a full disk");
            } catch (const store::StoreError& e) {
                QCOMPARE(e.kind(), store::StoreErrorKind::Full);
            }
            QVERIFY(vfs.refused() > 0);
        }
        vfs.setRemaining(test::FullDiskVfs::kUnlimited);
        store::JobStore st(path, clock);
        QCOMPARE(st.quickCheck(), std::vector<std::string>{});
        QCOMPARE(st.counts().total(), 0);
        const std::vector<store::NewJob> all = jobs();
        st.enqueueMany(all);
        QCOMPARE(st.counts().pending, kJobs);
    }

    // The disk fills up while results are being recorded.
    void fullDiskStopsTheRunAndResumeFinishesIt()
    {
        test::FullDiskVfs vfs;
        QTemporaryDir dir;
        SystemClock clock;
        mock::MockProvider provider(clock, quickMock());
        provider.start();
        const std::string path = dir.filePath(QStringLiteral("state.db")).toStdString();
        {
            store::JobStore st(path, clock);
            const std::vector<store::NewJob> all = jobs();
            st.enqueueMany(all);
            // Room for leasing and some outcomes (about a third), not all of them.
            vfs.setRemaining(800 * 1024);
            const std::string failure = runOnce(st, provider, clock);
            QVERIFY2(vfs.refused() > 0, "the disk never filled up");
            QVERIFY2(failure.find("full") != std::string::npos, failure.c_str());
            QVERIFY2(failure.find("intact") != std::string::npos, failure.c_str());
            QVERIFY2(failure.find(path) != std::string::npos, failure.c_str());
            const store::Counts c = st.counts();
            QVERIFY2(c.done + c.dead < kJobs, "everything was recorded: the disk filled up too late to test anything");
            QVERIFY2(c.done + c.dead > 0, "nothing was recorded: the disk filled up before the results came");
        }

        // Space freed: the file is whole, and the same run resumes.
        vfs.setRemaining(test::FullDiskVfs::kUnlimited);
        store::JobStore st(path, clock);
        checkWhole(st);
        const std::int64_t recordedBefore = st.counts().done + st.counts().dead;
        QCOMPARE(runOnce(st, provider, clock), std::string());
        checkWhole(st);
        const store::Counts c = st.counts();
        QCOMPARE(c.done + c.dead, kJobs);
        QCOMPARE(c.pending + c.leased, 0);
        std::set<std::string> ids;
        for (const store::Outcome& o : st.outcomes(0, kJobs + 10)) {
            QVERIFY2(ids.insert(o.customId).second, o.customId.c_str());
        }
        QCOMPARE(static_cast<int>(ids.size()), kJobs);
        qInfo("recorded before the disk filled: %lld of %d; the rest after space was freed",
              static_cast<long long>(recordedBefore), kJobs);
        provider.stop();
    }
};

QTEST_GUILESS_MAIN(TestFullDisk)
#include "tst_full_disk.moc"
