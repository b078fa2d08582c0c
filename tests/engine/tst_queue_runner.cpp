// QueueRunner on its own terms: a real JobStore file, a real Dispatcher over
// a scripted transport on a ManualClock. Leased jobs that cannot run are
// failed at once with the reason; the others are submitted, and each
// outcome (result, dead letter, timeline) reaches the store; the runner is
// drained when the store has nothing left to do.
#include "admission/admission.h"
#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "queue/queue_runner.h"
#include "store/job_store.h"
#include "support/fake_transport.h"

#include <QTemporaryDir>
#include <QtTest>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;
using test::FakeTransport;

namespace {

Config fakeConfig()
{
    json root = {{"providers", json::array({{{"name", "fake"},
                                             {"flavor", "openai"},
                                             {"base_url", "http://127.0.0.1:9"},
                                             {"learn_limits", false},
                                             {"keys", json::array({{{"name", "main"}, {"env", "FAKE_KEY"}}})}}})},
                 {"retry", {{"max_attempts", 1}}}};
    return loadConfig(JsonSource("fake-config.json", root.dump(2)),
                      [](const std::string&) { return std::optional<std::string>("sk-fake"); });
}

store::NewJob newJob(const std::string& id, const std::string& url = "/v1/chat/completions",
                     std::string body = {}, const std::string& model = "gpt-4o-mini")
{
    store::NewJob j;
    j.customId = id;
    j.url = url;
    j.model = model;
    j.body = body.empty() ? json{{"model", model},
                                 {"max_tokens", 20},
                                 {"messages", json::array({{{"role", "user"}, {"content", id}}})}}
                                .dump()
                          : std::move(body);
    return j;
}

}  // namespace

class TestQueueRunner : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void writesEveryOutcomeToTheStore();
    void leaseSkipsModels();
    void slowModelKeepsItsShare();
};

void TestQueueRunner::writesEveryOutcomeToTheStore()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    ManualClock clock;
    store::JobStore store(dir.filePath(QStringLiteral("jobs.db")).toStdString(), clock);
    store.enqueue(newJob("ok"));
    store.enqueue(newJob("refused"));
    store.enqueue(newJob("unknown-url", "/v1/embeddings"));
    store.enqueue(newJob("not-json", "/v1/chat/completions", "{\"model\":"));

    Admission admission{clock};
    FakeTransport transport;
    QueueRunner runner(store, clock);
    DispatcherOptions opt;
    opt.seed = 7;
    opt.transport = &transport;
    Dispatcher dispatcher(fakeConfig(), clock, admission, runner, opt);
    runner.attach(dispatcher);
    dispatcher.start();
    runner.start();

    // Only the two runnable jobs reach the wire.
    QVERIFY(transport.waitStarted(2));
    for (const FakeTransport::Started& s : transport.started()) {
        if (s.customTag == "ok") {
            transport.reply(s.id, 200, FakeTransport::completion(12, 7), {{"x-request-id", "req-ok"}});
        } else {
            transport.reply(s.id, 400, R"({"error":{"message":"bad field","type":"invalid_request_error"}})");
        }
    }
    QTRY_VERIFY_WITH_TIMEOUT(runner.drained(), 10000);
    runner.stop();
    dispatcher.stop();

    QCOMPARE(transport.started().size(), std::size_t{2});
    const QueueRunnerStats stats = runner.stats();
    QCOMPARE(stats.leased, std::uint64_t{4});
    QCOMPARE(stats.submitted, std::uint64_t{2});
    QCOMPARE(stats.rejected, std::uint64_t{2});
    QCOMPARE(stats.outstanding, std::uint64_t{0});
    QVERIFY2(stats.lastError.empty(), stats.lastError.c_str());

    const store::Counts counts = store.counts();
    QCOMPARE(counts.done, std::int64_t{1});
    QCOMPARE(counts.dead, std::int64_t{3});
    QCOMPARE(counts.pending + counts.leased, std::int64_t{0});

    const auto ok = store.findByCustomId("ok");
    QVERIFY(ok);
    const auto result = store.result(ok->id);
    QVERIFY(result);
    QCOMPARE(result->statusCode, 200);
    QCOMPARE(result->requestId, std::string("req-ok"));
    QCOMPARE(json::parse(result->body)["usage"]["completion_tokens"], 7);
    bool sawSent = false;
    for (const store::TimelineEntry& e : store.timeline(ok->id)) {
        sawSent = sawSent || e.kind == "sent";
    }
    QVERIFY(sawSent);

    QCOMPARE(store.findByCustomId("refused")->lastErrorClass, std::string("bad_request"));
    QCOMPARE(store.findByCustomId("unknown-url")->state, store::JobState::Dead);
    QCOMPARE(store.findByCustomId("not-json")->state, store::JobState::Dead);
}

void TestQueueRunner::leaseSkipsModels()
{
    QTemporaryDir dir;
    ManualClock clock;
    store::JobStore store(dir.filePath(QStringLiteral("jobs.db")).toStdString(), clock);
    store.enqueue(newJob("a", "/v1/chat/completions", {}, "gpt-4o"));
    store.enqueue(newJob("b", "/v1/chat/completions", {}, "gpt-4o-mini"));
    store.enqueue(newJob("c", "/v1/chat/completions", {}, "o3"));
    store::LeaseRequest req;
    req.owner = "t";
    req.max = 10;
    req.skipModels = {"gpt-4o", "o3"};
    const auto first = store.lease(req);
    QCOMPARE(first.size(), std::size_t{1});
    QCOMPARE(first[0].customId, std::string("b"));
    req.skipModels = {"gpt-4o"};
    req.tenant = "";
    const auto second = store.lease(req);
    QCOMPARE(second.size(), std::size_t{1});
    QCOMPARE(second[0].customId, std::string("c"));
}

// A model whose jobs cannot go out (here: never answered) gets no more than
// its share of the runner's slots: as its jobs finish, the slots go to the
// model waiting behind it, not to more of its own backlog, which would
// starve the other model's traffic (the issue-13 soak's fall in rate).
void TestQueueRunner::slowModelKeepsItsShare()
{
    QTemporaryDir dir;
    ManualClock clock;
    store::JobStore store(dir.filePath(QStringLiteral("jobs.db")).toStdString(), clock);
    std::vector<store::NewJob> jobs;
    for (int i = 0; i < 40; ++i) {
        jobs.push_back(newJob("slow-" + std::to_string(i), "/v1/chat/completions", {}, "gpt-4o"));
    }
    for (int i = 0; i < 40; ++i) {
        jobs.push_back(newJob("fast-" + std::to_string(i), "/v1/chat/completions", {}, "gpt-4o-mini"));
    }
    store.enqueueMany(jobs);

    Admission admission{clock};
    FakeTransport transport;
    QueueRunnerOptions ro;
    ro.maxOutstanding = 20;
    QueueRunner runner(store, clock, ro);
    DispatcherOptions opt;
    opt.seed = 7;
    opt.transport = &transport;
    Dispatcher dispatcher(fakeConfig(), clock, admission, runner, opt);
    runner.attach(dispatcher);
    dispatcher.start();
    runner.start();

    // The first lease, with nothing outstanding, takes the first 20: all slow.
    QVERIFY(transport.waitStarted(20));
    for (const FakeTransport::Started& s : transport.started()) {
        QVERIFY2(s.customTag.rfind("slow-", 0) == 0, s.customTag.c_str());
    }
    // Ten of them finish: their slots go to the fast model (the slow one
    // keeps at most half of 20 while another model has jobs outstanding).
    const auto firstTwenty = transport.started();
    for (std::size_t i = 0; i < 10; ++i) {
        transport.reply(firstTwenty[i].id, 200, FakeTransport::completion(12, 7));
    }
    QTRY_COMPARE_WITH_TIMEOUT(transport.started().size(), std::size_t{30}, 10000);
    const auto all = transport.started();
    int fast = 0;
    for (std::size_t i = 20; i < all.size(); ++i) {
        fast += all[i].customTag.rfind("fast-", 0) == 0 ? 1 : 0;
    }
    QCOMPARE(fast, 10);
    runner.stop();
    dispatcher.stop();
}

QTEST_APPLESS_MAIN(TestQueueRunner)
#include "tst_queue_runner.moc"
