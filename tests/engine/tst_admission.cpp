// The thread-safe Admission facade: reservations as RAII, blocking acquire
// with deadlines, cancellation, priority and FIFO order, all on a manual
// clock. Threads wait on conditions (QTRY_*), never on sleeps.
#include "admission/admission.h"

#include <QtTest>

#include <future>
#include <mutex>
#include <thread>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

Cost tokens(std::int64_t n)
{
    Cost c;
    c.inputTokens = n;
    return c;
}

// Runs acquire() on its own thread and records the order of grants.
class Requester {
public:
    Requester(Admission& a, Path path, Cost cost, std::vector<int>* order, std::mutex* orderMutex, int id,
              std::optional<TimePoint> deadline = std::nullopt, int priority = 0)
        : m_source(),
          m_result(std::async(std::launch::async, [=, &a, token = m_source.get_token()] {
              Acquisition r = a.acquire(path, cost, deadline, token, priority);
              if (r.status == AcquireStatus::Acquired && order != nullptr) {
                  std::lock_guard g(*orderMutex);
                  order->push_back(id);
              }
              return r;
          }))
    {
    }
    void stop() { m_source.request_stop(); }
    bool done() const { return m_result.wait_for(0s) == std::future_status::ready; }
    Acquisition take() { return m_result.get(); }

private:
    std::stop_source m_source;
    std::future<Acquisition> m_result;
};

}  // namespace

class TestAdmission : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void reservationDestroyedUnsettledIsRefunded();
    void settleWakesAWaiterForConcurrency();
    void acquireWaitsForTheClock();
    void deadlineExceeded();
    void stopCancelsAWaiter();
    void neverReturnsAtOnce();
    void fifoDoesNotLetSmallRequestsOvertakeALargeOne();
    void higherPriorityIsServedFirst();
    void tryAcquireDoesNotOvertakeQueuedWaiters();
    void waitersOnOtherScopesGoAhead();
    void limitRaiseWakesWaiters();
    void manualClockWakesSubscribers();
};

void TestAdmission::reservationDestroyedUnsettledIsRefunded()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId s = a.addScope(Admission::root(), "k", {perMinute(Measure::InputTokens, 1000), concurrency(1)});
    const Path p = a.pathTo(s);
    {
        Decision d = a.tryAcquire(p, tokens(600));
        QCOMPARE(d.verdict, Verdict::Admit);
        QVERIFY(d.reservation.valid());
        QCOMPARE(a.snapshot(s).dimensions.at(0).used, 600);
        QCOMPARE(a.snapshot(s).dimensions.at(1).used, 1);
    }
    QCOMPARE(a.snapshot(s).dimensions.at(0).used, 0);
    QCOMPARE(a.snapshot(s).dimensions.at(1).used, 0);

    Decision d = a.tryAcquire(p, tokens(600));
    a.settle(std::move(d.reservation), tokens(250));
    QVERIFY(!d.reservation.valid());
    QCOMPARE(a.snapshot(s).dimensions.at(0).used, 250);
    QCOMPARE(a.snapshot(s).dimensions.at(1).used, 0);
}

void TestAdmission::settleWakesAWaiterForConcurrency()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId s = a.addScope(Admission::root(), "k", {concurrency(1)});
    const Path p = a.pathTo(s);
    Decision first = a.tryAcquire(p, Cost{});
    QCOMPARE(first.verdict, Verdict::Admit);
    Requester second(a, p, Cost{}, nullptr, nullptr, 2);
    QTRY_COMPARE(a.waiting(), std::size_t{1});
    QVERIFY(!second.done());
    a.settle(std::move(first.reservation), Cost{});
    Acquisition r = second.take();
    QCOMPARE(r.status, AcquireStatus::Acquired);
    QCOMPARE(a.snapshot(s).dimensions.at(0).used, 1);
}

void TestAdmission::acquireWaitsForTheClock()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId s = a.addScope(Admission::root(), "k", {perMinute(Measure::Requests, 60, 1)});
    const Path p = a.pathTo(s);
    Decision first = a.tryAcquire(p, Cost{});
    QCOMPARE(first.verdict, Verdict::Admit);
    const TimePoint start = clock.now();
    Requester r(a, p, Cost{}, nullptr, nullptr, 1);
    QTRY_COMPARE(a.waiting(), std::size_t{1});
    clock.advance(999ms);
    QVERIFY(!r.done());
    QCOMPARE(a.waiting(), std::size_t{1});
    clock.advance(1ms);
    Acquisition got = r.take();
    QCOMPARE(got.status, AcquireStatus::Acquired);
    QCOMPARE(got.reservation.admittedAt() - start, Duration(1s));
}

void TestAdmission::deadlineExceeded()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId s = a.addScope(Admission::root(), "k", {perMinute(Measure::Requests, 1)});
    const Path p = a.pathTo(s);
    Decision held = a.tryAcquire(p, Cost{});
    Requester r(a, p, Cost{}, nullptr, nullptr, 1, clock.now() + 10s);
    QTRY_COMPARE(a.waiting(), std::size_t{1});
    clock.advance(10s);
    Acquisition got = r.take();
    QCOMPARE(got.status, AcquireStatus::DeadlineExceeded);
    QCOMPARE(got.binding.measure, Measure::Requests);
    QCOMPARE(a.waiting(), std::size_t{0});
    // The failed waiter took nothing: only the held request is counted.
    QCOMPARE(a.snapshot(s).dimensions.at(0).used, 1);
}

void TestAdmission::stopCancelsAWaiter()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId s = a.addScope(Admission::root(), "k", {concurrency(1)});
    const Path p = a.pathTo(s);
    Decision held = a.tryAcquire(p, Cost{});
    Requester r(a, p, Cost{}, nullptr, nullptr, 1);
    QTRY_COMPARE(a.waiting(), std::size_t{1});
    r.stop();
    QCOMPARE(r.take().status, AcquireStatus::Cancelled);
    QCOMPARE(a.waiting(), std::size_t{0});
    QCOMPARE(a.snapshot(s).dimensions.at(0).used, 1);
}

void TestAdmission::neverReturnsAtOnce()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId s = a.addScope(Admission::root(), "k", {perMinute(Measure::InputTokens, 100)});
    Acquisition r = a.acquire(a.pathTo(s), tokens(101));
    QCOMPARE(r.status, AcquireStatus::Never);
    QCOMPARE(r.binding.scope, s);
    QVERIFY(!r.reservation.valid());
}

void TestAdmission::fifoDoesNotLetSmallRequestsOvertakeALargeOne()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    // 60 tokens per minute: one token per second.
    const ScopeId s = a.addScope(Admission::root(), "k", {perMinute(Measure::InputTokens, 60)});
    const Path p = a.pathTo(s);
    Decision full = a.tryAcquire(p, tokens(60));
    QCOMPARE(full.verdict, Verdict::Admit);

    const TimePoint start = clock.now();
    // Queue a large request first, then small ones that would fit sooner.
    Requester large(a, p, tokens(30), nullptr, nullptr, 0);
    QTRY_COMPARE(a.waiting(), std::size_t{1});
    std::vector<std::unique_ptr<Requester>> small;
    for (int i = 1; i <= 3; ++i) {
        small.push_back(std::make_unique<Requester>(a, p, tokens(1), nullptr, nullptr, i));
        QTRY_COMPARE(a.waiting(), std::size_t(i + 1));
    }
    // After 29 s the small ones would fit, but they are behind the large one.
    clock.advance(29s);
    QCOMPARE(a.waiting(), std::size_t{4});
    clock.advance(1s);
    Acquisition first = large.take();
    QCOMPARE(first.status, AcquireStatus::Acquired);
    QCOMPARE(first.reservation.admittedAt() - start, Duration(30s));
    // Then the small ones, in the order they queued, one per second.
    std::vector<Acquisition> held;
    for (int i = 0; i < 3; ++i) {
        clock.advance(1s);
        Acquisition& got = held.emplace_back(small[static_cast<std::size_t>(i)]->take());
        QCOMPARE(got.status, AcquireStatus::Acquired);
        QCOMPARE(got.reservation.admittedAt() - start, Duration(std::chrono::seconds(31 + i)));
    }
}

void TestAdmission::higherPriorityIsServedFirst()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId s = a.addScope(Admission::root(), "k", {concurrency(1)});
    const Path p = a.pathTo(s);
    Decision held = a.tryAcquire(p, Cost{});
    std::vector<int> order;
    std::mutex orderMutex;
    Requester low(a, p, Cost{}, &order, &orderMutex, 1, std::nullopt, 0);
    QTRY_COMPARE(a.waiting(), std::size_t{1});
    Requester high(a, p, Cost{}, &order, &orderMutex, 2, std::nullopt, 5);
    QTRY_COMPARE(a.waiting(), std::size_t{2});
    a.settle(std::move(held.reservation), Cost{});
    Acquisition h = high.take();
    QCOMPARE(h.status, AcquireStatus::Acquired);
    QVERIFY(!low.done());
    a.settle(std::move(h.reservation), Cost{});
    QCOMPARE(low.take().status, AcquireStatus::Acquired);
    QCOMPARE(order, (std::vector<int>{2, 1}));
}

void TestAdmission::tryAcquireDoesNotOvertakeQueuedWaiters()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId s = a.addScope(Admission::root(), "k", {perMinute(Measure::InputTokens, 60)});
    const Path p = a.pathTo(s);
    Decision full = a.tryAcquire(p, tokens(60));
    QCOMPARE(full.verdict, Verdict::Admit);
    Requester large(a, p, tokens(30), nullptr, nullptr, 0);
    QTRY_COMPARE(a.waiting(), std::size_t{1});
    clock.advance(5s);
    const Decision d = a.tryAcquire(p, tokens(1));
    QCOMPARE(d.verdict, Verdict::Wait);
    QCOMPARE(d.notBefore - clock.now(), Duration(25s));
    clock.advance(25s);
    QCOMPARE(large.take().status, AcquireStatus::Acquired);
}

void TestAdmission::waitersOnOtherScopesGoAhead()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId busy = a.addScope(Admission::root(), "busy", {concurrency(1)});
    const ScopeId free = a.addScope(Admission::root(), "free", {concurrency(1)});
    Decision held = a.tryAcquire(a.pathTo(busy), Cost{});
    Requester blocked(a, a.pathTo(busy), Cost{}, nullptr, nullptr, 1);
    QTRY_COMPARE(a.waiting(), std::size_t{1});
    Acquisition other = a.acquire(a.pathTo(free), Cost{});
    QCOMPARE(other.status, AcquireStatus::Acquired);
    QCOMPARE(a.tryAcquire(a.pathTo(free), Cost{}).verdict, Verdict::Wait);
    held = Decision{};  // cancels the held reservation
    QCOMPARE(blocked.take().status, AcquireStatus::Acquired);
}

void TestAdmission::limitRaiseWakesWaiters()
{
    ManualClock clock;
    Admission a(clock, nullptr, Duration::zero());
    const ScopeId s = a.addScope(Admission::root(), "k", {concurrency(1)});
    const Path p = a.pathTo(s);
    Decision held = a.tryAcquire(p, Cost{});
    Requester r(a, p, Cost{}, nullptr, nullptr, 1);
    QTRY_COMPARE(a.waiting(), std::size_t{1});
    a.setLimits(s, {concurrency(2)});
    Acquisition got = r.take();
    QCOMPARE(got.status, AcquireStatus::Acquired);
    QCOMPARE(a.snapshot(s).dimensions.at(0).used, 2);
}

void TestAdmission::manualClockWakesSubscribers()
{
    ManualClock clock;
    int calls = 0;
    {
        ClockSubscription sub = clock.subscribe([&] { ++calls; });
        clock.advance(1s);
        clock.advance(Duration::zero());
        clock.advanceTo(clock.now() - 1s);
        QCOMPARE(calls, 1);
    }
    clock.advance(1s);
    QCOMPARE(calls, 1);
    QCOMPARE(clock.toWall(clock.now() + 1h) - clock.wallNow(), Duration(1h));
}

QTEST_APPLESS_MAIN(TestAdmission)
#include "tst_admission.moc"
