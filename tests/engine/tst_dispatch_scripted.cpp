// The dispatcher's ordering, fairness, pause and retry timing on a
// ManualClock over a scripted transport: nothing goes on the wire and
// nothing depends on real time. Each test answers the requests itself, in
// the order the dispatcher started them, and moves the clock by hand. (The
// wire itself is tested against the mock in tst_dispatcher.)
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "support/fake_transport.h"
#include "support/scripted_dispatch.h"

#include <QtTest>

#include <condition_variable>
#include <mutex>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;
using test::FakeTransport;

namespace {

using Recorder = test::OutcomeRecorder;

// One provider, one key; `concurrency` requests at once across everything.
Config fakeConfig(int concurrency, json top = json::object())
{
    json root = {{"global", {{"limits", {{"concurrency", concurrency}}}}},
                 {"retry", {{"base_delay_s", 1}, {"max_delay_s", 1}}}};
    root.merge_patch(top);
    return test::fakeProviderConfig(json::object(), root);
}

JobSpec chat(const std::string& id, const std::string& model = "gpt-4o-mini")
{
    return test::chatJob(id, model);
}

struct Rig : test::ScriptedRig<Recorder> {
    using ScriptedRig::ScriptedRig;

    // What the ledger holds for `measure` on the fake provider's model.
    std::int64_t used(const std::string& model, Measure measure)
    {
        const auto p = admission.findScope(Admission::root(), "fake");
        const auto k = admission.findScope(*p, "main");
        const auto s = admission.findScope(*k, model);
        for (const auto& d : admission.snapshot(*s).dimensions) {
            if (d.spec.measure == measure) {
                return d.used;
            }
        }
        return -1;
    }

    // Answers the requests one at a time, in the order they are started,
    // and returns the jobs in that order.
    std::vector<std::string> serveInOrder(std::size_t n)
    {
        std::vector<std::string> order;
        for (std::size_t i = 0; i < n; ++i) {
            if (!transport.waitStarted(i + 1)) {
                break;
            }
            const FakeTransport::Started s = transport.started()[i];
            order.push_back(s.customTag);
            transport.reply(s.id, 200, FakeTransport::completion());
        }
        return order;
    }
};

}  // namespace

class TestDispatchScripted : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void pauseStopsDispatch();
    void higherPriorityGoesFirst();
    void tenantsShareFairly();
    void retryWaitsForItsTimeOnTheClock();
    void rateLimitAtOurPaceNarrowsTheBurst();
    void settlesToTheReportedUsage_data();
    void settlesToTheReportedUsage();
    void deadlineWhileQueued();
    void aPinnedJobWaitsForItsKeyAlone();
};

void TestDispatchScripted::pauseStopsDispatch()
{
    Rig rig(fakeConfig(4));
    rig.dispatcher->pause();
    QTRY_VERIFY(rig.dispatcher->stats().paused);
    rig.dispatcher->submit(chat("p1"));
    // Queued is published by the loop pass that took the job in, after its
    // lanes were scheduled: had it been sent, it would be by now.
    QTRY_COMPARE(rig.dispatcher->stats().queued, std::uint64_t{1});
    QCOMPARE(rig.transport.started().size(), std::size_t{0});
    rig.clock.advance(1h);
    rig.dispatcher->submit(chat("p2"));
    QTRY_COMPARE(rig.dispatcher->stats().queued, std::uint64_t{2});
    QCOMPARE(rig.transport.started().size(), std::size_t{0});
    rig.dispatcher->resume();
    QCOMPARE(rig.serveInOrder(2), (std::vector<std::string>{"p1", "p2"}));
    QVERIFY(rig.listener.waitFor(2));
    QCOMPARE(rig.listener.outcome("p1").result, JobResult::Completed);
}

void TestDispatchScripted::higherPriorityGoesFirst()
{
    Rig rig(fakeConfig(1));
    rig.dispatcher->pause();
    for (int i = 0; i < 10; ++i) {
        rig.dispatcher->submit(chat("low-" + std::to_string(i)));
    }
    for (int i = 0; i < 5; ++i) {
        JobSpec j = chat("high-" + std::to_string(i));
        j.priority = 5;
        rig.dispatcher->submit(j);
    }
    QTRY_COMPARE(rig.dispatcher->stats().queued, std::uint64_t{15});
    rig.dispatcher->resume();
    const std::vector<std::string> order = rig.serveInOrder(15);
    QCOMPARE(order.size(), std::size_t{15});
    for (std::size_t i = 0; i < order.size(); ++i) {
        // All five high ones first (in submission order), then the low ones.
        const std::string expected = i < 5 ? "high-" + std::to_string(i) : "low-" + std::to_string(i - 5);
        QCOMPARE(order[i], expected);
    }
    QVERIFY(rig.listener.waitFor(15));
}

void TestDispatchScripted::tenantsShareFairly()
{
    Rig rig(fakeConfig(1));
    rig.dispatcher->pause();
    for (int i = 0; i < 60; ++i) {
        JobSpec j = chat("heavy-" + std::to_string(i));
        j.tenant = "heavy";
        rig.dispatcher->submit(j);
    }
    for (int i = 0; i < 10; ++i) {
        JobSpec j = chat("light-" + std::to_string(i));
        j.tenant = "light";
        rig.dispatcher->submit(j);
    }
    QTRY_COMPARE(rig.dispatcher->stats().queued, std::uint64_t{70});
    rig.dispatcher->resume();
    const std::vector<std::string> order = rig.serveInOrder(70);
    QCOMPARE(order.size(), std::size_t{70});
    // Equal weights and equal sizes: the two tenants alternate until the
    // light one runs out, so its ten jobs are all within the first twenty.
    int lightInFirst20 = 0;
    for (std::size_t i = 0; i < 20; ++i) {
        lightInFirst20 += order[i].rfind("light", 0) == 0;
    }
    QCOMPARE(lightInFirst20, 10);
}

void TestDispatchScripted::retryWaitsForItsTimeOnTheClock()
{
    Rig rig(fakeConfig(4, {{"retry", {{"max_attempts", 3}}}}));
    rig.dispatcher->submit(chat("r1"));
    QVERIFY(rig.transport.waitStarted(1));
    // A 500 that names its retry time: two seconds.
    rig.transport.reply(rig.transport.started()[0].id, 500,
                        R"({"error":{"message":"boom","type":"server_error"}})", {{"retry-after", "2"}});
    QTRY_COMPARE(rig.dispatcher->stats().retries, std::uint64_t{1});

    // Just before it: a job on another lane goes out, the retry does not.
    rig.clock.advance(1900ms);
    rig.dispatcher->submit(chat("barrier", "gpt-4o"));
    QVERIFY(rig.transport.waitStarted(2));
    QCOMPARE(rig.transport.started()[1].customTag, std::string("barrier"));
    rig.transport.reply(rig.transport.started()[1].id, 200, FakeTransport::completion());
    QVERIFY(rig.listener.waitFor(1));
    QCOMPARE(rig.transport.started().size(), std::size_t{2});

    // At its time it goes, and completes on the second attempt.
    rig.clock.advance(100ms);
    QVERIFY(rig.transport.waitStarted(3));
    QCOMPARE(rig.transport.started()[2].customTag, std::string("r1"));
    rig.transport.reply(rig.transport.started()[2].id, 200, FakeTransport::completion());
    QVERIFY(rig.listener.waitFor(2));
    const JobOutcome o = rig.listener.outcome("r1");
    QCOMPARE(o.result, JobResult::Completed);
    QCOMPARE(o.attempts.size(), std::size_t{2});
    QCOMPARE(o.attempts[0].cls, FailureClass::ServerError);
}

// A 429 for a request our ledger allowed that says "in a second" (not a
// near miss) means the provider counts a window (a sliding window remembers
// a burst): the key+model paces evenly, one request at a time, instead of
// meeting the same 429 after every burst.
void TestDispatchScripted::rateLimitAtOurPaceNarrowsTheBurst()
{
    // 600 RPM at the default granularity: a burst of nine.
    Rig rig(fakeConfig(100, {{"providers", json::array({{{"name", "fake"},
                                                          {"flavor", "openai"},
                                                          {"base_url", "http://127.0.0.1:9"},
                                                          {"learn_limits", false},
                                                          {"models", {{"gpt-4o-mini", {{"limits", {{"rpm", 600}}}}},
                                                                      {"gpt-4o", {{"limits", {{"rpm", 100000}}}}}}},
                                                          {"keys", json::array({{{"name", "main"}, {"env", "FAKE_KEY"}}})}}})}}));
    rig.dispatcher->submit(chat("first"));
    QVERIFY(rig.transport.waitStarted(1));
    rig.transport.reply(rig.transport.started()[0].id, 429,
                        R"({"error":{"message":"Rate limit reached for gpt-4o-mini on requests per min (RPM): )"
                        R"(Limit 600, Used 10, Requested 1. Please try again in 1s.","type":"requests",)"
                        R"("param":null,"code":"rate_limit_exceeded"}})",
                        {{"retry-after", "1"}});
    QTRY_COMPARE(rig.dispatcher->stats().failures[static_cast<std::size_t>(FailureClass::RateLimited)],
                 std::uint64_t{1});
    for (int i = 0; i < 20; ++i) {
        rig.dispatcher->submit(chat("j" + std::to_string(i)));
    }
    // Past the key's cooling, with the bucket long full again: at one
    // instant, one request goes out and no more.
    rig.clock.advance(5s);
    QVERIFY(rig.transport.waitStarted(2));
    rig.dispatcher->submit(chat("barrier", "gpt-4o"));
    QVERIFY(rig.transport.waitStarted(3));
    const auto started = rig.transport.started();
    QCOMPARE(started.back().customTag, std::string("barrier"));
    QCOMPARE(started.size(), std::size_t{3});  // the retried "first", then the barrier
}

void TestDispatchScripted::settlesToTheReportedUsage_data()
{
    QTest::addColumn<QString>("accounting");
    QTest::newRow("actual: settled to the usage reported") << QStringLiteral("actual");
    QTest::newRow("estimate: keeps what OpenAI charged on arrival") << QStringLiteral("estimate");
}

// Each job reserves its prompt estimate plus max_tokens (20) and settles
// to the prompt the provider reported plus either the output it reported
// ("actual") or max_tokens ("estimate"). The clock stands still, so nothing
// drains: the bucket holds exactly the sum.
void TestDispatchScripted::settlesToTheReportedUsage()
{
    QFETCH(QString, accounting);
    Rig rig(fakeConfig(100, {{"providers", json::array({{{"name", "fake"},
                                                          {"flavor", "openai"},
                                                          {"base_url", "http://127.0.0.1:9"},
                                                          {"learn_limits", false},
                                                          {"token_accounting", accounting.toStdString()},
                                                          {"models", {{"gpt-4o-mini", {{"limits", {{"tpm", 60'000}}}}}}},
                                                          {"keys", json::array({{{"name", "main"}, {"env", "FAKE_KEY"}}})}}})}}),
            Duration::zero());
    constexpr int kJobs = 20;
    for (int i = 0; i < kJobs; ++i) {
        rig.dispatcher->submit(chat("u" + std::to_string(i)));
    }
    QVERIFY(rig.transport.waitStarted(kJobs));
    std::int64_t expected = 0;
    for (int i = 0; i < kJobs; ++i) {
        // Prompts the provider counted differently from our estimate, and
        // outputs well below max_tokens.
        const int prompt = 30 + i;
        const int output = 3 + i % 5;
        rig.transport.reply(rig.transport.started()[static_cast<std::size_t>(i)].id, 200,
                            FakeTransport::completion(prompt, output));
        expected += prompt + (accounting == QStringLiteral("actual") ? output : 20);
    }
    QVERIFY(rig.listener.waitFor(kJobs));
    QTRY_COMPARE(rig.dispatcher->stats().completed, std::uint64_t{kJobs});
    for (int i = 0; i < kJobs; ++i) {
        const JobOutcome o = rig.listener.outcome("u" + std::to_string(i));
        QCOMPARE(o.result, JobResult::Completed);
        QVERIFY(o.usage.has_value());
        QCOMPARE(o.usage->inputTokens, 30 + i);
    }
    QCOMPARE(rig.used("gpt-4o-mini", Measure::TotalTokens), expected);
}

// A job whose deadline passes while it waits behind a busy lane is
// dead-lettered at its deadline (the loop wakes for the earliest one), not
// at a later sweep, never before its deadline, and never sent.
void TestDispatchScripted::deadlineWhileQueued()
{
    Rig rig(fakeConfig(10, {{"providers", json::array({{{"name", "fake"},
                                                         {"flavor", "openai"},
                                                         {"base_url", "http://127.0.0.1:9"},
                                                         {"learn_limits", false},
                                                         {"models", {{"gpt-4o-mini", {{"limits", {{"concurrency", 1}}}}},
                                                                     {"gpt-4o", json::object()}}},
                                                         {"keys", json::array({{{"name", "main"}, {"env", "FAKE_KEY"}}})}}})}}));
    rig.dispatcher->submit(chat("first"));
    QVERIFY(rig.transport.waitStarted(1));  // holds the model's only slot, unanswered
    JobSpec late = chat("late");
    late.deadline = rig.clock.now() + 300ms;
    rig.dispatcher->submit(late);
    QTRY_COMPARE(rig.dispatcher->stats().queued, std::uint64_t{1});

    // A moment before: the pass that sends a job on another lane has seen
    // the clock, and the late job is still waiting.
    rig.clock.advance(299ms);
    rig.dispatcher->submit(chat("barrier-1", "gpt-4o"));
    QVERIFY(rig.transport.waitStarted(2));
    QCOMPARE(rig.transport.started()[1].customTag, std::string("barrier-1"));
    QCOMPARE(rig.dispatcher->stats().queued, std::uint64_t{1});
    QCOMPARE(rig.dispatcher->stats().deadLettered, std::uint64_t{0});

    // The clock reaches the deadline and goes no further: it is
    // dead-lettered unsent, at that very time.
    rig.clock.advance(1ms);
    QVERIFY(rig.listener.waitFor(1));
    const JobOutcome o = rig.listener.outcome("late");
    QCOMPARE(o.result, JobResult::DeadLettered);
    QCOMPARE(o.cls, FailureClass::DeadlineExceeded);
    QVERIFY(o.attempts.empty());
    QVERIFY(!o.timeline.empty());
    QCOMPARE(o.timeline.back().kind, TimelineEvent::Kind::DeadLettered);
    QVERIFY(o.timeline.back().at == rig.clock.toWall(*late.deadline));
    rig.transport.reply(rig.transport.started()[0].id, 200, FakeTransport::completion());
    rig.transport.reply(rig.transport.started()[1].id, 200, FakeTransport::completion());
    QVERIFY(rig.listener.waitFor(3));
    QCOMPARE(rig.transport.started().size(), std::size_t{2});
}

// A job pinned to one key (a Responses API continuation, which only that
// key's project knows) goes on that key and no other, and while it waits
// for it, jobs that may go on any key are not held up behind it.
void TestDispatchScripted::aPinnedJobWaitsForItsKeyAlone()
{
    Rig rig(fakeConfig(10, {{"providers", json::array({{{"name", "fake"},
                                                         {"flavor", "openai"},
                                                         {"base_url", "http://127.0.0.1:9"},
                                                         {"learn_limits", false},
                                                         {"models", {{"gpt-4o-mini", json::object()}}},
                                                         {"keys", json::array({{{"name", "one"},
                                                                                {"env", "FAKE_KEY"},
                                                                                {"limits", {{"rpm", 1}}}},
                                                                               {{"name", "two"}, {"env", "FAKE_KEY"}}})}}})}}));
    JobSpec first = chat("first");
    first.key = "one";
    rig.dispatcher->submit(first);
    QVERIFY(rig.transport.waitStarted(1));
    rig.transport.reply(rig.transport.started()[0].id, 200, FakeTransport::completion());
    QVERIFY(rig.listener.waitFor(1));
    QCOMPARE(rig.listener.outcome("first").key, std::string("one"));

    // Key one's minute is spent: the pinned job waits for it…
    JobSpec pinned = chat("pinned");
    pinned.key = "one";
    rig.dispatcher->submit(pinned);
    QTRY_COMPARE(rig.dispatcher->stats().queued, std::uint64_t{1});
    // …while a job for any key goes at once, on key two.
    rig.dispatcher->submit(chat("free"));
    QVERIFY(rig.transport.waitStarted(2));
    QCOMPARE(rig.transport.started()[1].customTag, std::string("free"));
    rig.transport.reply(rig.transport.started()[1].id, 200, FakeTransport::completion());
    QVERIFY(rig.listener.waitFor(2));
    QCOMPARE(rig.listener.outcome("free").key, std::string("two"));
    bool pinnedLaneShown = false;
    for (const LaneStatus& l : rig.dispatcher->stats().lanes) {
        pinnedLaneShown = pinnedLaneShown || (l.key == "one" && l.queued == 1 && l.blocked);
    }
    QVERIFY(pinnedLaneShown);
    QCOMPARE(rig.transport.started().size(), std::size_t{2});

    // When key one has room again, the pinned job goes on it.
    rig.clock.advance(61s);
    QVERIFY(rig.transport.waitStarted(3));
    QCOMPARE(rig.transport.started()[2].customTag, std::string("pinned"));
    rig.transport.reply(rig.transport.started()[2].id, 200, FakeTransport::completion());
    QVERIFY(rig.listener.waitFor(3));
    QCOMPARE(rig.listener.outcome("pinned").key, std::string("one"));

    // A key the provider does not have is refused by name.
    JobSpec nowhere = chat("nowhere");
    nowhere.key = "three";
    try {
        rig.dispatcher->submit(nowhere);
        QFAIL("a job pinned to an unknown key was taken");
    } catch (const InputError& e) {
        QCOMPARE(std::string(e.what()), std::string("key: \"three\" is not a key of provider \"fake\""));
    }
    // Disabled while it waits: it cannot go anywhere else.
    rig.dispatcher->setKeyEnabled("fake", "one", false);
    JobSpec stranded = chat("stranded");
    stranded.key = "one";
    rig.dispatcher->submit(stranded);
    QVERIFY(rig.listener.waitFor(4));
    QCOMPARE(rig.listener.outcome("stranded").cls, FailureClass::NoUsableKey);
    QVERIFY(rig.listener.outcome("stranded").reason.find("key one of provider fake") != std::string::npos);
}

QTEST_APPLESS_MAIN(TestDispatchScripted)
#include "tst_dispatch_scripted.moc"
