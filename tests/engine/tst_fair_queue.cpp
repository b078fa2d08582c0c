// FairQueue on its own: priority classes first, then start-time fair
// queuing between tenants by weight and size; pushFront keeps a requeued
// job's place; remove and size stay consistent.
#include "dispatch/fair_queue.h"

#include <QtTest>

#include <vector>

using namespace sluice;

namespace {

std::vector<DispatchId> drain(FairQueue& q)
{
    std::vector<DispatchId> out;
    while (auto id = q.peek()) {
        out.push_back(*id);
        q.pop();
    }
    return out;
}

}  // namespace

class TestFairQueue : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void emptyQueue();
    void higherPriorityFirstThenFifo();
    void tenantsAlternateAtEqualWeight();
    void weightsShareInProportion_data();
    void weightsShareInProportion();
    void largerJobsCountForMore();
    void pushFrontKeepsItsPlace();
    void removeKeepsTheRest();
};

void TestFairQueue::emptyQueue()
{
    FairQueue q;
    QVERIFY(q.empty());
    QVERIFY(!q.peek());
    q.pop();  // harmless
    QVERIFY(!q.remove(1));
    QCOMPARE(q.size(), std::size_t{0});
}

void TestFairQueue::higherPriorityFirstThenFifo()
{
    FairQueue q;
    q.push(1, 0, "a", 1, 10);
    q.push(2, 5, "a", 1, 10);
    q.push(3, 0, "a", 1, 10);
    q.push(4, 5, "b", 1, 10);
    q.push(5, -1, "a", 1, 10);
    QCOMPARE(q.size(), std::size_t{5});
    QCOMPARE(drain(q), (std::vector<DispatchId>{2, 4, 1, 3, 5}));
    QVERIFY(q.empty());
}

void TestFairQueue::tenantsAlternateAtEqualWeight()
{
    FairQueue q;
    for (DispatchId i = 0; i < 6; ++i) {
        q.push(100 + i, 0, "heavy", 1, 10);
    }
    for (DispatchId i = 0; i < 3; ++i) {
        q.push(200 + i, 0, "light", 1, 10);
    }
    // Submitted all heavy first, yet served in turns until light runs out.
    QCOMPARE(drain(q), (std::vector<DispatchId>{100, 200, 101, 201, 102, 202, 103, 104, 105}));
}

void TestFairQueue::weightsShareInProportion_data()
{
    QTest::addColumn<double>("weightA");
    QTest::addColumn<int>("aInFirst12");
    QTest::newRow("equal weights: half each") << 1.0 << 6;
    QTest::newRow("twice the weight: two thirds") << 2.0 << 8;
    QTest::newRow("three times: three quarters") << 3.0 << 9;
}

void TestFairQueue::weightsShareInProportion()
{
    QFETCH(double, weightA);
    QFETCH(int, aInFirst12);
    FairQueue q;
    for (DispatchId i = 0; i < 20; ++i) {
        q.push(100 + i, 0, "a", weightA, 10);
        q.push(200 + i, 0, "b", 1, 10);
    }
    const auto order = drain(q);
    QCOMPARE(order.size(), std::size_t{40});
    int a = 0;
    for (std::size_t i = 0; i < 12; ++i) {
        a += order[i] < 200;
    }
    QCOMPARE(a, aInFirst12);
}

void TestFairQueue::largerJobsCountForMore()
{
    FairQueue q;
    // One tenant sends jobs three times the size: it gets a third as many.
    for (DispatchId i = 0; i < 10; ++i) {
        q.push(100 + i, 0, "big", 1, 30);
        q.push(200 + i, 0, "small", 1, 10);
    }
    const auto order = drain(q);
    int big = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        big += order[i] < 200;
    }
    QCOMPARE(big, 2);
}

void TestFairQueue::pushFrontKeepsItsPlace()
{
    FairQueue q;
    q.push(1, 0, "a", 1, 10);
    q.push(2, 0, "b", 1, 10);
    q.push(3, 0, "a", 1, 10);
    QCOMPARE(*q.peek(), DispatchId{1});
    q.pop();
    // Job 1 was rate limited: it goes back ahead of job 3 and of b's turn
    // taken after it.
    q.pushFront(1, 0, "a", 1, 10);
    QCOMPARE(q.size(), std::size_t{3});
    QCOMPARE(drain(q), (std::vector<DispatchId>{1, 2, 3}));
}

void TestFairQueue::removeKeepsTheRest()
{
    FairQueue q;
    q.push(1, 0, "a", 1, 10);
    q.push(2, 1, "b", 1, 10);
    q.push(3, 0, "a", 1, 10);
    QVERIFY(q.remove(2));
    QVERIFY(!q.remove(2));
    QCOMPARE(q.size(), std::size_t{2});
    QCOMPARE(drain(q), (std::vector<DispatchId>{1, 3}));
}

QTEST_APPLESS_MAIN(TestFairQueue)
#include "tst_fair_queue.moc"
