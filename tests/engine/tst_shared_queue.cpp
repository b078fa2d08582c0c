// SharedQueue on a real redis-server: enqueueing is idempotent by
// custom_id; a consumer whose lease lapsed loses its entry to the one that
// takes it over, and only the holder's result is accepted; two consumers
// stealing each other's entries without pause still record exactly one
// result per job; released entries go to the next consumer at once; dead
// letters are seen, edited and requeued by another instance; with Redis
// away a call throws and the next one after it returns reconnects.
#include "shared/shared_queue.h"
#include "support/redis_server.h"

#include <QtTest>

#include <atomic>
#include <set>
#include <thread>

using namespace sluice;
using namespace sluice::shared;
using namespace std::chrono_literals;

namespace {

QueuedJob job(const std::string& id, const std::string& body = R"({"model":"m"})")
{
    QueuedJob j;
    j.customId = id;
    j.url = "/v1/chat/completions";
    j.body = body;
    j.model = "m";
    return j;
}

// Polls a condition (the server's idle clock cannot be driven by a
// ManualClock) for up to 5 s.
template <typename F>
bool waitUntil(F condition)
{
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

SharedResult ok(const std::string& body)
{
    SharedResult r;
    r.statusCode = 200;
    r.body = body;
    return r;
}

}  // namespace

class TestSharedQueue : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        try {
            m_redis = std::make_unique<testing::RedisServerFixture>();
        } catch (const std::exception& e) {
            QFAIL(e.what());
        }
    }
    void cleanupTestCase() { m_redis.reset(); }

    void enqueueIsIdempotentByCustomId()
    {
        SharedQueue q(m_redis->endpoint(), "idem", "a");
        const std::vector<QueuedJob> jobs{job("x"), job("y")};
        const auto first = q.enqueueMany(jobs);
        QCOMPARE(first.size(), 2u);
        QCOMPARE(first[0], SharedEnqueue::Added);
        QCOMPARE(q.enqueue(job("x")), SharedEnqueue::Duplicate);
        QCOMPARE(q.enqueue(job("x", R"({"model":"other"})")), SharedEnqueue::Conflict);
        QCOMPARE(q.counts().queued, 2);
    }

    void takeoverAfterLeaseLapseAcceptsOnlyTheHolder()
    {
        SharedQueue a(m_redis->endpoint(), "takeover", "a");
        SharedQueue b(m_redis->endpoint(), "takeover", "b");
        a.enqueue(job("j1"));
        const auto mine = a.lease(10, 60s);
        QCOMPARE(mine.size(), 1u);
        QVERIFY(!mine[0].takenOver);
        // a holds it: b finds nothing while the lease is fresh.
        QVERIFY(b.lease(10, 60s).empty());
        // a stops renewing (as if killed); once the entry is 30 ms idle, b takes it.
        std::vector<LeasedEntry> taken;
        QVERIFY(waitUntil([&] { return !(taken = b.lease(10, 30ms)).empty(); }));
        QCOMPARE(taken.size(), 1u);
        QVERIFY(taken[0].takenOver);
        QCOMPARE(mine[0].deliveries, 1);
        QCOMPARE(taken[0].deliveries, 2);  // what the runner's give-up-after count reads
        QCOMPARE(taken[0].job.customId, std::string("j1"));
        QCOMPARE(taken[0].entryId, mine[0].entryId);
        // a's renewal tells it the entry is gone; its late result is refused.
        QCOMPARE(a.renew({mine[0].entryId}), std::vector<std::string>{mine[0].entryId});
        QVERIFY(!a.complete(mine[0].entryId, "j1", ok("from a")));
        QVERIFY(b.complete(taken[0].entryId, "j1", ok("from b")));
        QVERIFY(!b.complete(taken[0].entryId, "j1", ok("again")));
        const auto r = a.results({"j1"});
        QVERIFY(r[0].has_value());
        QCOMPARE(r[0]->body, std::string("from b"));
        QCOMPARE(r[0]->by, std::string("b"));
        const SharedQueueCounts c = a.counts();
        QCOMPARE(c.queued, 0);
        QCOMPARE(c.leased, 0);
        QCOMPARE(c.done, 1);
    }

    void racingConsumersRecordExactlyOneResultEach()
    {
        constexpr int kJobs = 300;
        {
            SharedQueue q(m_redis->endpoint(), "race", "setup");
            std::vector<QueuedJob> jobs;
            for (int i = 0; i < kJobs; ++i) {
                jobs.push_back(job("r-" + std::to_string(i)));
            }
            q.enqueueMany(jobs);
        }
        // A lease of 0 ms: each consumer claims the other's entries as soon
        // as it sees them, so completions race on the same entries.
        std::atomic<int> accepted{0};
        std::atomic<int> refused{0};
        std::atomic<int> done{0};
        auto work = [&](const std::string& name) {
            SharedQueue q(m_redis->endpoint(), "race", name);
            while (done.load() < kJobs) {
                for (const LeasedEntry& e : q.lease(16, 0ms)) {
                    if (q.complete(e.entryId, e.job.customId, ok(name))) {
                        ++accepted;
                        ++done;
                    } else {
                        ++refused;
                    }
                }
            }
        };
        std::thread t1(work, "one");
        std::thread t2(work, "two");
        t1.join();
        t2.join();
        QCOMPARE(accepted.load(), kJobs);
        SharedQueue q(m_redis->endpoint(), "race", "check");
        std::vector<std::string> ids;
        for (int i = 0; i < kJobs; ++i) {
            ids.push_back("r-" + std::to_string(i));
        }
        int found = 0;
        for (const auto& r : q.results(ids)) {
            found += r.has_value() ? 1 : 0;
        }
        QCOMPARE(found, kJobs);
        const SharedQueueCounts c = q.counts();
        QCOMPARE(c.done, kJobs);
        QCOMPARE(c.queued, 0);
        QCOMPARE(c.leased, 0);
        qInfo("completions refused because another consumer held the entry: %d", refused.load());
    }

    void releasedEntryGoesToTheNextConsumerAtOnce()
    {
        SharedQueue a(m_redis->endpoint(), "release", "a");
        SharedQueue b(m_redis->endpoint(), "release", "b");
        a.enqueue(job("k"));
        const auto held = a.lease(1, 60s);
        QCOMPARE(held.size(), 1u);
        QVERIFY(!b.release(held[0].entryId));  // b does not hold it
        QVERIFY(a.release(held[0].entryId));
        const auto got = b.lease(1, 60s);
        QCOMPARE(got.size(), 1u);
        QCOMPARE(got[0].job.customId, std::string("k"));
        QVERIFY(!got[0].takenOver);
        QVERIFY(!a.complete(held[0].entryId, "k", ok("a")));
        QVERIFY(b.complete(got[0].entryId, "k", ok("b")));
        // Consumers that hold nothing leave the group; one that holds an entry stays.
        a.enqueue(job("k2"));
        QCOMPARE(a.lease(1, 60s).size(), 1u);
        QVERIFY(!a.leave());
        QVERIFY(b.leave());
        shared::RedisConnection c(m_redis->endpoint());
        QCOMPARE(c.checked({"XINFO", "CONSUMERS", a.streamKey(), "sluice"}).size(), 1u);
    }

    void deadLettersAreSharedEditedAndRequeued()
    {
        SharedQueue a(m_redis->endpoint(), "dead", "a");
        SharedQueue b(m_redis->endpoint(), "dead", "b");
        a.enqueue(job("bad", R"({"model":"m","max_tokens":-1})"));
        const auto held = a.lease(1, 60s);
        QCOMPARE(held.size(), 1u);
        SharedResult err;
        err.statusCode = 400;
        err.errorClass = "bad_request";
        err.message = "max_tokens must be positive";
        QVERIFY(a.deadLetter(held[0].entryId, held[0].job, err));
        // b sees it, with the error, and its result is the error.
        const auto dead = b.deadLetters();
        QCOMPARE(dead.size(), 1u);
        QCOMPARE(dead[0].job.customId, std::string("bad"));
        QCOMPARE(dead[0].error.errorClass, std::string("bad_request"));
        QVERIFY(b.results({"bad"})[0]->dead);
        QCOMPARE(b.counts().dead, 1);
        // b fixes the body and requeues it; the result is cleared until it runs again.
        QVERIFY(b.requeue("bad", std::string(R"({"model":"m","max_tokens":5})")));
        QVERIFY(!a.requeue("bad"));  // no longer a dead letter
        QVERIFY(!b.results({"bad"})[0].has_value());
        QVERIFY(b.deadLetters().empty());
        const auto again = a.lease(1, 60s);
        QCOMPARE(again.size(), 1u);
        QCOMPARE(again[0].job.body, std::string(R"({"model":"m","max_tokens":5})"));
        QVERIFY(a.complete(again[0].entryId, "bad", ok("fixed")));
        QVERIFY(!b.results({"bad"})[0]->dead);
        // The request first enqueued stays the idempotency check.
        QCOMPARE(a.enqueue(job("bad", R"({"model":"m","max_tokens":-1})")), SharedEnqueue::Duplicate);
    }

    void redisAwayThrowsAndTheNextCallReconnects()
    {
        testing::RedisServerFixture own;
        SharedQueue q(own.endpoint(), "outage", "a");
        q.enqueue(job("o1"));
        own.stop();
        QVERIFY_THROWS_EXCEPTION(RedisError, q.lease(1, 60s));
        QVERIFY_THROWS_EXCEPTION(RedisError, q.results({"o1"}));
        own.start();  // persistence is off: the server comes back empty
        QCOMPARE(q.enqueue(job("o2")), SharedEnqueue::Added);
        const auto got = q.lease(1, 60s);
        QCOMPARE(got.size(), 1u);
        QCOMPARE(got[0].job.customId, std::string("o2"));
    }

private:
    std::unique_ptr<testing::RedisServerFixture> m_redis;
};

QTEST_GUILESS_MAIN(TestSharedQueue)
#include "tst_shared_queue.moc"
