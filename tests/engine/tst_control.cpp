// The control endpoint of a headless instance, over real loopback HTTP: a
// Dispatcher, JobStore and QueueRunner in front of the in-process mock, a
// ControlServer on them, and the ControlClient the console attaches with.
// Requests without the right bearer token are refused; a limit changed
// through the endpoint is what the running admission enforces within a
// second; a dead letter requeued through it runs again and completes; a
// drain closes the instance's intake and resumes dispatch until the queue
// is empty, and is refused by an instance with no intake to close.
// A worker's dead letters (its namespace's shared queue in a real
// redis-server) are listed, filtered, edited and requeued through the
// endpoint, and its drain stops leasing while what it holds finishes; a
// gateway's failed requests are listed and their requeue refused (409).
// The rollups a usage report is built from come back with what was sent.
#include "admission/admission.h"
#include "config/config.h"
#include "control/control_client.h"
#include "control/control_server.h"
#include "control/memory_rollups.h"
#include "deadletters/gateway_failures.h"
#include "deadletters/shared_dead_letters.h"
#include "dispatch/dispatcher.h"
#include "dispatch/fan_out_listener.h"
#include "metrics/gauges.h"
#include "metrics/metrics_recorder.h"
#include "mock/mock_provider.h"
#include "queue/queue_runner.h"
#include "shared/shared_queue.h"
#include "shared/shared_queue_runner.h"
#include "store/job_store.h"
#include "support/redis_server.h"

#include <QTemporaryDir>
#include <QtTest>

#include <atomic>

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

Config sluiceConfig(const std::string& baseUrl)
{
    json root = {{"providers",
                  json::array({{{"name", "mock"},
                                {"flavor", "openai"},
                                {"base_url", baseUrl},
                                {"limits", {{"rpm", 600}}},
                                {"keys", json::array({{{"name", "main"}, {"env", "MOCK_KEY"}}})}}})},
                 {"retry", {{"max_attempts", 2}, {"base_delay_s", 0.01}, {"max_delay_s", 0.05}}}};
    return loadConfig(JsonSource("control-test.json", root.dump(2)),
                      [](const std::string&) { return std::optional<std::string>("sk-mock"); });
}

store::NewJob newJob(const std::string& id)
{
    store::NewJob j;
    j.customId = id;
    j.url = "/v1/chat/completions";
    j.model = "gpt-4o-mini";
    j.body = json{{"model", "gpt-4o-mini"}, {"max_tokens", 10}, {"messages", json::array({{{"role", "user"}, {"content", id}}})}}
                 .dump();
    return j;
}

// A batch-like instance: store → runner → dispatcher → mock, with metrics,
// events and the control endpoint on it.
struct Instance {
    QTemporaryDir dir;
    SystemClock clock;
    mock::MockProvider provider;
    store::JobStore store;
    Admission admission{clock};
    control::MemoryRollups rollups;
    metrics::MetricsRecorder recorder{clock, metrics::RecorderOptions{}, &rollups};
    control::EventLog events{clock};
    FanOutListener downstream{&recorder, &events};
    QueueRunner runner;
    Dispatcher dispatcher;
    std::atomic<int> intakeClosed{0};  // times the endpoint's drain closed it
    std::unique_ptr<control::ControlServer> server;

    static mock::MockConfig fastMock()
    {
        mock::MockConfig m = mock::MockConfig::defaults();
        m.latency.baseMs = 0;
        m.latency.perOutputTokenMs = 0;
        m.latency.firstTokenMs = 0;
        m.limitsEnabled = false;
        return m;
    }

    explicit Instance(std::optional<Secret> token, bool drainable = true)
        : provider(clock, fastMock()),
          store((provider.start(), dir.filePath(QStringLiteral("run.db")).toStdString()), clock),
          runner(store, clock, QueueRunnerOptions{}, &downstream),
          dispatcher(sluiceConfig(provider.baseUrl()), clock, admission, runner)
    {
        runner.attach(dispatcher);
        recorder.setGaugeSource([this] { return metrics::gaugeSampleOf(dispatcher.stats(), admission.snapshotAll()); });
        control::ControlOptions o;
        o.token = std::move(token);
        control::ControlTarget t;
        t.kind = "batch";
        t.clock = &clock;
        t.dispatcher = &dispatcher;
        t.admission = &admission;
        t.metrics = &recorder;
        t.store = &store;
        t.poke = [this] { runner.poke(); };
        t.events = &events;
        t.rollups = [this](WallTime from, WallTime to) {
            (void)recorder.flush();
            return control::RollupPage{rollups.rows(from, to), "memory (this run)"};
        };
        if (drainable) {
            t.drain = [this] { ++intakeClosed; };
        }
        server = std::make_unique<control::ControlServer>(o, t);
        recorder.start();
        dispatcher.start();
        runner.start();
        server->start();
    }
    ~Instance()
    {
        server->stop();
        dispatcher.stop();
        runner.stop();
        recorder.stop();
    }

    std::optional<LimitSpec> providerLimit(Measure m) const
    {
        for (const ScopeState& s : admission.snapshotAll()) {
            if (s.name == "mock" && s.parent == 0) {
                for (const DimensionState& d : s.dimensions) {
                    if (d.spec.measure == m) {
                        return d.spec;
                    }
                }
            }
        }
        return std::nullopt;
    }
};

shared::QueuedJob queuedJob(const std::string& id, const std::string& model)
{
    shared::QueuedJob j;
    j.customId = id;
    j.url = "/v1/chat/completions";
    j.model = model;
    j.body = json{{"model", model}, {"max_tokens", 10}, {"messages", json::array({{{"role", "user"}, {"content", id}}})}}
                 .dump();
    return j;
}

// A worker-like instance: the shared queue of a namespace on a real
// redis-server → SharedQueueRunner → dispatcher → mock, its dead letters
// and drain on the control endpoint, as `sluice-cli worker --control`.
struct WorkerInstance {
    SystemClock clock;
    mock::MockProvider provider;
    shared::SharedQueue queue;
    Admission admission{clock};
    shared::SharedQueueRunner runner;
    Dispatcher dispatcher;
    deadletters::SharedDeadLetters deadLetters{queue};
    std::unique_ptr<control::ControlServer> server;

    static shared::SharedQueueRunnerOptions runnerOptions(std::size_t maxOutstanding)
    {
        shared::SharedQueueRunnerOptions o;
        o.maxOutstanding = maxOutstanding;
        return o;
    }

    WorkerInstance(const shared::RedisEndpoint& redis, const std::string& ns, std::size_t maxOutstanding = 32)
        : provider(clock, Instance::fastMock()),
          queue(redis, ns, "worker-under-test"),
          runner(queue, clock, runnerOptions(maxOutstanding)),
          dispatcher((provider.start(), sluiceConfig(provider.baseUrl())), clock, admission, runner)
    {
        runner.attach(dispatcher);
        control::ControlTarget t;
        t.kind = "worker";
        t.clock = &clock;
        t.dispatcher = &dispatcher;
        t.admission = &admission;
        t.deadLetters = &deadLetters;
        t.drain = [this] { runner.closeIntake(); };
        server = std::make_unique<control::ControlServer>(control::ControlOptions{}, t);
        dispatcher.start();
        runner.start();
        server->start();
    }
    ~WorkerInstance()
    {
        server->stop();
        dispatcher.stop();
        runner.stop();
    }
};

long refusedStatus(control::ControlClient& client)
{
    try {
        client.status();
    } catch (const control::ControlError& e) {
        // The refusal never echoes the token.
        return std::string(e.what()).find("s3cret") == std::string::npos ? e.status() : -1;
    }
    return 200;
}

}  // namespace

class TestControl : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void refusesWithoutTheToken();
    void nonLoopbackNeedsAToken();
    void limitChangeReachesTheRunningDispatcher();
    void statusAndSeriesMoveWithTraffic();
    void requeuesADeadLetter();
    void badRequestsAreNamed();
    void drainClosesTheIntakeAndRunsTheQueue();
    void rollupsCarryWhatWasSent();
    void workerDeadLettersAreListedAndRequeued();
    void workerDrainStopsLeasingAndFinishesWhatItHolds();
    void gatewayFailuresAreListedNotRequeued();
};

void TestControl::refusesWithoutTheToken()
{
    Instance instance(Secret("s3cret"));
    control::ControlClient none(instance.server->url(), std::nullopt, instance.clock);
    QCOMPARE(refusedStatus(none), 401L);
    control::ControlClient wrong(instance.server->url(), Secret("s3creT"), instance.clock);
    QCOMPARE(refusedStatus(wrong), 401L);
    control::ControlClient shorter(instance.server->url(), Secret("s3cre"), instance.clock);
    QCOMPARE(refusedStatus(shorter), 401L);
    // A refused command changes nothing.
    try {
        none.pause();
        QFAIL("pause without a token was accepted");
    } catch (const control::ControlError& e) {
        QCOMPARE(e.status(), 401L);
    }
    QVERIFY(!instance.dispatcher.stats().paused);

    control::ControlClient right(instance.server->url(), Secret("s3cret"), instance.clock);
    const control::ControlStatus s = right.status();
    QCOMPARE(s.kind, std::string("batch"));
    right.pause();
    QTRY_VERIFY_WITH_TIMEOUT(right.status().dispatch.paused, 1000);
    right.resume();
    QTRY_VERIFY_WITH_TIMEOUT(!right.status().dispatch.paused, 1000);
}

void TestControl::nonLoopbackNeedsAToken()
{
    SystemClock clock;
    Admission admission{clock};
    struct Null : DispatchListener {
        void onFinished(JobOutcome&&) override {}
    } listener;
    Dispatcher dispatcher(sluiceConfig("http://127.0.0.1:9"), clock, admission, listener);
    control::ControlTarget t;
    t.kind = "serve";
    t.clock = &clock;
    t.dispatcher = &dispatcher;
    t.admission = &admission;
    control::ControlOptions o;
    o.host = "0.0.0.0";
    QVERIFY_THROWS_EXCEPTION(InputError, control::ControlServer(o, t));
    o.token = Secret("");
    QVERIFY_THROWS_EXCEPTION(InputError, control::ControlServer(o, t));
    o.token = Secret("long-enough");
    control::ControlServer withToken(o, t);  // accepted (not started: no need to listen on every interface)
    QVERIFY(control::isLoopback("127.0.0.1"));
    QVERIFY(control::isLoopback("::1"));
    QVERIFY(!control::isLoopback("10.0.0.1"));
}

void TestControl::limitChangeReachesTheRunningDispatcher()
{
    Instance instance(std::nullopt);
    control::ControlClient client(instance.server->url(), std::nullopt, instance.clock);
    QCOMPARE(instance.providerLimit(Measure::Requests)->limit, std::int64_t{600});

    // A slow limit first (one request per 10 s), so the request below is
    // still counted when it is read however loaded the machine is: at 600
    // RPM its debt is gone 100 ms after it was sent.
    client.setLimits(LimitTarget{"mock", "", ""}, {LimitSpec{Measure::Requests, 6, std::chrono::minutes(1), 0}});
    QTRY_VERIFY_WITH_TIMEOUT(instance.providerLimit(Measure::Requests) &&
                                 instance.providerLimit(Measure::Requests)->limit == 6,
                             1000);
    // Traffic next, so the change lands on a dispatcher that is counting.
    instance.store.enqueue(newJob("before"));
    instance.runner.poke();
    QTRY_COMPARE_WITH_TIMEOUT(instance.store.counts().done, std::int64_t{1}, 10000);
    const std::int64_t usedBefore = [&] {
        for (const ScopeState& s : instance.admission.snapshotAll()) {
            if (s.name == "mock" && s.parent == 0) {
                return s.dimensions.front().used;
            }
        }
        return std::int64_t{-1};
    }();
    QVERIFY(usedBefore >= 1);

    client.setLimits(LimitTarget{"mock", "", ""}, {LimitSpec{Measure::Requests, 7, std::chrono::minutes(1), 0}});
    QTRY_VERIFY_WITH_TIMEOUT(instance.providerLimit(Measure::Requests) &&
                                 instance.providerLimit(Measure::Requests)->limit == 7,
                             1000);
    // The configuration and the status the console reads say the same.
    bool inConfig = false;
    for (const ProviderConfig& p : client.config().providers) {
        for (const LimitSpec& l : p.limits) {
            inConfig = inConfig || (p.name == "mock" && l.measure == Measure::Requests && l.limit == 7);
        }
    }
    QVERIFY(inConfig);
    bool inStatus = false;
    for (const ScopeState& s : client.status().scopes) {
        for (const DimensionState& d : s.dimensions) {
            if (s.name == "mock" && d.spec.measure == Measure::Requests) {
                inStatus = d.spec.limit == 7;
                // Usage counted before the change is kept, not reset.
                QVERIFY(d.used >= 1);
            }
        }
    }
    QVERIFY(inStatus);

    // An invalid limit is refused, named, and changes nothing.
    try {
        client.setLimits(LimitTarget{"nope", "", ""}, {LimitSpec{Measure::Requests, 5, std::chrono::minutes(1), 0}});
        QFAIL("a limit for an unknown provider was accepted");
    } catch (const control::ControlError& e) {
        QCOMPARE(e.status(), 400L);
        QVERIFY2(std::string(e.what()).find("nope") != std::string::npos, e.what());
    }
    QCOMPARE(instance.providerLimit(Measure::Requests)->limit, std::int64_t{7});
}

void TestControl::statusAndSeriesMoveWithTraffic()
{
    Instance instance(std::nullopt);
    control::ControlClient client(instance.server->url(), std::nullopt, instance.clock);
    const control::ControlStatus before = client.status();
    QVERIFY(before.seriesSince);
    QVERIFY(before.queue);
    for (int i = 0; i < 5; ++i) {
        instance.store.enqueue(newJob("job-" + std::to_string(i)));
    }
    instance.runner.poke();
    QTRY_COMPARE_WITH_TIMEOUT(client.status().queue->done, std::int64_t{5}, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(client.status().dispatch.completed, std::uint64_t{5}, 5000);
    const control::ControlStatus after = client.status();
    QVERIFY(after.dispatch.inputTokens > 0);
    QCOMPARE(after.dispatch.keys.size(), std::size_t{1});
    QCOMPARE(after.dispatch.keys.front().key, std::string("main"));

    // The live series: every send counted once across the pages.
    std::uint64_t sent = 0;
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            const control::SeriesPage page = client.series(metrics::ScopeKey::global(), 1s, before.seriesSince);
            sent = 0;
            for (const metrics::SeriesPoint& p : page.points) {
                sent += p.tally.sent;
            }
            return sent == 5;
        }(),
        5000);
    // A scope's own series, by name.
    const control::SeriesPage provider = client.series(metrics::ScopeKey::ofProvider("mock"), 1s, before.seriesSince);
    std::uint64_t providerSent = 0;
    for (const metrics::SeriesPoint& p : provider.points) {
        providerSent += p.tally.sent;
    }
    QCOMPARE(providerSent, std::uint64_t{5});
}

void TestControl::requeuesADeadLetter()
{
    Instance instance(Secret("s3cret"));
    control::ControlClient client(instance.server->url(), Secret("s3cret"), instance.clock);
    // A job that died once (its key refused, say): dead in the store. The
    // runner stays away while the test plays the job's holder: on its next
    // poll it would lease the job first (seen under ASan).
    instance.runner.stop();
    instance.dispatcher.pause();
    const store::JobId id = instance.store.enqueue(newJob("revived")).id;
    const std::vector<store::Job> leased = instance.store.lease(store::LeaseRequest{"test", 10, 1min, {}});
    QCOMPARE(leased.size(), std::size_t{1});
    store::Failure f;
    f.id = id;
    f.owner = "test";
    f.attempt.errorClass = "auth_failed";
    f.attempt.httpStatus = 401;
    f.attempt.message = "key refused";
    f.attempt.counted = false;
    QVERIFY(instance.store.fail(f));
    QCOMPARE(instance.store.job(id)->state, store::JobState::Dead);
    instance.dispatcher.resume();
    instance.runner.start();

    store::DeadLetterFilter filter;
    filter.errorClass = "auth_failed";
    const auto dead = client.deadLetters(filter, 10);
    QCOMPARE(dead.size(), std::size_t{1});
    QCOMPARE(dead.front().job.customId, std::string("revived"));
    QCOMPARE(dead.front().attempts.back().httpStatus, 401);
    filter.errorClass = "timeout";
    QCOMPARE(client.deadLetters(filter, 10).size(), std::size_t{0});

    QCOMPARE(client.requeue(id), std::size_t{1});
    QTRY_COMPARE_WITH_TIMEOUT(instance.store.job(id)->state, store::JobState::Done, 10000);
    const control::JobDetail detail = client.job(id);
    QVERIFY(detail.job);
    QVERIFY(detail.result);
    QCOMPARE(detail.result->statusCode, 200);
    bool requeued = false;
    for (const store::TimelineEntry& e : detail.timeline) {
        requeued = requeued || e.kind == "requeued";
    }
    QVERIFY(requeued);
    // Requeueing what is not dead does nothing.
    QCOMPARE(client.requeue(id), std::size_t{0});
}

void TestControl::badRequestsAreNamed()
{
    Instance instance(std::nullopt);
    control::ControlClient client(instance.server->url(), std::nullopt, instance.clock);
    try {
        client.job(999999);
        QFAIL("an unknown job was found");
    } catch (const control::ControlError& e) {
        QCOMPARE(e.status(), 404L);
    }
    QVERIFY_THROWS_EXCEPTION(InputError, control::ControlClient("not an address", std::nullopt, instance.clock));
    control::ControlClient nobody("127.0.0.1:1", std::nullopt, instance.clock, 2s);
    try {
        nobody.status();
        QFAIL("an instance answered on port 1");
    } catch (const control::ControlError& e) {
        QCOMPARE(e.status(), 0L);
    }
}

void TestControl::drainClosesTheIntakeAndRunsTheQueue()
{
    Instance instance(std::nullopt);
    control::ControlClient client(instance.server->url(), std::nullopt, instance.clock);
    control::ControlStatus before = client.status();
    QVERIFY(before.canDrain);
    QVERIFY(!before.draining);
    // Paused with work queued: a drain, as on the console's own engine,
    // resumes dispatch and the queue runs until it is empty.
    client.pause();
    QTRY_VERIFY_WITH_TIMEOUT(instance.dispatcher.stats().paused, 1000);
    for (int i = 0; i < 5; ++i) {
        instance.store.enqueue(newJob("drained-" + std::to_string(i)));
    }
    instance.runner.poke();
    client.drain();
    QCOMPARE(instance.intakeClosed.load(), 1);
    QVERIFY(client.status().draining);
    QTRY_VERIFY_WITH_TIMEOUT(!client.status().dispatch.paused, 1000);
    QTRY_COMPARE_WITH_TIMEOUT(instance.store.counts().done, std::int64_t{5}, 10000);
    QCOMPARE(instance.store.counts().pending + instance.store.counts().leased, std::int64_t{0});

    // An instance with no intake to close says so, and changes nothing.
    Instance fixed(std::nullopt, false);
    control::ControlClient other(fixed.server->url(), std::nullopt, fixed.clock);
    QVERIFY(!other.status().canDrain);
    other.pause();
    QTRY_VERIFY_WITH_TIMEOUT(fixed.dispatcher.stats().paused, 1000);
    try {
        other.drain();
        QFAIL("a drain without an intake was accepted");
    } catch (const control::ControlError& e) {
        QCOMPARE(e.status(), 501L);
        QVERIFY2(std::string(e.what()).find("no intake") != std::string::npos, e.what());
    }
    QVERIFY(fixed.dispatcher.stats().paused);
    QVERIFY(!other.status().draining);
}

void TestControl::rollupsCarryWhatWasSent()
{
    Instance instance(std::nullopt);
    control::ControlClient client(instance.server->url(), std::nullopt, instance.clock);
    const WallTime from = instance.clock.wallNow() - std::chrono::minutes(1);
    for (int i = 0; i < 3; ++i) {
        instance.store.enqueue(newJob("counted-" + std::to_string(i)));
    }
    instance.runner.poke();
    QTRY_COMPARE_WITH_TIMEOUT(instance.store.counts().done, std::int64_t{3}, 10000);
    const control::RollupPage page = client.rollups(from, instance.clock.wallNow() + std::chrono::minutes(1));
    QCOMPARE(page.source, std::string("memory (this run)"));
    std::uint64_t sent = 0;
    std::uint64_t completed = 0;
    for (const metrics::RollupRow& r : page.rows) {
        QCOMPARE(r.provider, std::string("mock"));
        QCOMPARE(r.key, std::string("main"));
        QCOMPARE(r.model, std::string("gpt-4o-mini"));
        sent += r.tally.sent;
        completed += r.tally.completed;
    }
    QCOMPARE(sent, std::uint64_t{3});
    QCOMPARE(completed, std::uint64_t{3});
    // A range before the run holds nothing; a reversed one is refused.
    QCOMPARE(client.rollups(from - std::chrono::hours(2), from - std::chrono::hours(1)).rows.size(), std::size_t{0});
    try {
        client.rollups(from, from - std::chrono::minutes(1));
        QFAIL("a reversed range was accepted");
    } catch (const control::ControlError& e) {
        QCOMPARE(e.status(), 400L);
    }
}

void TestControl::workerDeadLettersAreListedAndRequeued()
{
    testing::RedisServerFixture redis;
    WorkerInstance worker(redis.endpoint(), "ctl-dead");
    control::ControlClient client(worker.server->url(), std::nullopt, worker.clock);
    // Three jobs for a model the provider does not serve die for real; one
    // for a model it serves completes.
    shared::SharedQueue producer(redis.endpoint(), "ctl-dead", "producer");
    for (const char* id : {"nope-1", "nope-2", "nope-3"}) {
        QCOMPARE(producer.enqueue(queuedJob(id, "gpt-nope")), shared::SharedEnqueue::Added);
    }
    QCOMPARE(producer.enqueue(queuedJob("fine", "gpt-4o-mini")), shared::SharedEnqueue::Added);
    QTRY_COMPARE_WITH_TIMEOUT(producer.counts().dead, std::int64_t{3}, 15000);
    QTRY_COMPARE_WITH_TIMEOUT(producer.counts().done, std::int64_t{1}, 15000);

    const control::ControlStatus status = client.status();
    QCOMPARE(status.kind, std::string("worker"));
    QVERIFY(status.deadLetters);
    QVERIFY(status.requeueRefusal.empty());
    QVERIFY(status.queue);
    QCOMPARE(status.queue->dead, std::int64_t{3});
    QCOMPARE(status.queue->done, std::int64_t{1});

    const auto dead = client.deadLetters({}, 10);
    QCOMPARE(dead.size(), std::size_t{3});
    const std::string errorClass = dead.front().attempts.back().errorClass;
    QVERIFY(!errorClass.empty());
    for (const store::DeadLetter& d : dead) {
        QCOMPARE(d.job.id, deadletters::sharedJobId(d.job.customId));
        QCOMPARE(d.job.model, std::string("gpt-nope"));
        QCOMPARE(d.attempts.back().errorClass, errorClass);
    }
    store::DeadLetterFilter other;
    other.errorClass = "no_such_class";
    QCOMPARE(client.deadLetters(other, 10).size(), std::size_t{0});
    // The shared queue keeps no time of death: a time filter is refused, named.
    store::DeadLetterFilter byTime;
    byTime.diedFrom = WallTime{};
    try {
        client.deadLetters(byTime, 10);
        QFAIL("a time filter was applied to dead letters without times");
    } catch (const control::ControlError& e) {
        QCOMPARE(e.status(), 400L);
        QVERIFY2(std::string(e.what()).find("died_from_ms") != std::string::npos, e.what());
    }
    try {
        client.rollups(WallTime{}, worker.clock.wallNow());
        QFAIL("an instance without rollups answered some");
    } catch (const control::ControlError& e) {
        QCOMPARE(e.status(), 501L);
    }
    const store::JobId nope1 = deadletters::sharedJobId("nope-1");
    const control::JobDetail detail = client.job(nope1);
    QVERIFY(detail.job);
    QCOMPARE(detail.job->customId, std::string("nope-1"));

    // Edited to a model the provider serves and requeued: it completes.
    const std::string body =
        json{{"model", "gpt-4o-mini"}, {"max_tokens", 10}, {"messages", json::array({{{"role", "user"}, {"content", "again"}}})}}
            .dump();
    QVERIFY(client.editAndRequeue(nope1, body));
    QTRY_COMPARE_WITH_TIMEOUT(producer.counts().done, std::int64_t{2}, 15000);
    const auto results = producer.results({"nope-1"});
    QVERIFY(results.front());
    QVERIFY(!results.front()->dead);
    QCOMPARE(results.front()->statusCode, 200);

    // Requeued by class, unedited: both run again (and die again).
    store::DeadLetterFilter byClass;
    byClass.errorClass = errorClass;
    QCOMPARE(client.requeueDead(byClass), std::size_t{2});
    QTRY_COMPARE_WITH_TIMEOUT(worker.runner.stats().deadLettered, std::uint64_t{5}, 15000);
    QCOMPARE(producer.counts().dead, std::int64_t{2});
    // One by id; an id that is not a dead letter requeues nothing.
    QCOMPARE(client.requeue(deadletters::sharedJobId("nope-2")), std::size_t{1});
    QCOMPARE(client.requeue(deadletters::sharedJobId("fine")), std::size_t{0});
    QTRY_COMPARE_WITH_TIMEOUT(worker.runner.stats().deadLettered, std::uint64_t{6}, 15000);
}

void TestControl::workerDrainStopsLeasingAndFinishesWhatItHolds()
{
    testing::RedisServerFixture redis;
    // It holds at most 4: of 6 jobs, 2 wait in the stream.
    WorkerInstance worker(redis.endpoint(), "ctl-drain", 4);
    control::ControlClient client(worker.server->url(), std::nullopt, worker.clock);
    QVERIFY(client.status().canDrain);
    // Paused while it holds jobs: the drain resumes dispatch, they finish.
    client.pause();
    QTRY_VERIFY_WITH_TIMEOUT(worker.dispatcher.stats().paused, 1000);
    shared::SharedQueue producer(redis.endpoint(), "ctl-drain", "producer");
    for (int i = 0; i < 6; ++i) {
        producer.enqueue(queuedJob("job-" + std::to_string(i), "gpt-4o-mini"));
    }
    QTRY_COMPARE_WITH_TIMEOUT(worker.runner.stats().outstanding, std::uint64_t{4}, 10000);
    QCOMPARE(worker.runner.stats().leased, std::uint64_t{4});
    client.drain();
    QVERIFY(client.status().draining);
    QVERIFY(worker.runner.intakeClosed());
    // What it held finishes and is recorded; the room that frees up is not
    // filled (a runner that kept leasing takes the other 2 in the same pass).
    QTRY_COMPARE_WITH_TIMEOUT(producer.counts().done, std::int64_t{4}, 15000);
    QTRY_COMPARE_WITH_TIMEOUT(worker.runner.stats().outstanding, std::uint64_t{0}, 15000);
    QCOMPARE(worker.runner.stats().leased, std::uint64_t{4});
    // The other 2 are left for other workers: another consumer leases them.
    const auto other = producer.lease(10, std::chrono::seconds(30));
    QCOMPARE(other.size(), std::size_t{2});
    QCOMPARE(worker.runner.stats().leased, std::uint64_t{4});
    QCOMPARE(producer.counts().done, std::int64_t{4});
}

void TestControl::gatewayFailuresAreListedNotRequeued()
{
    // A gateway-like instance: jobs submitted to the dispatcher straight
    // (as the gateway does), its failures kept for the endpoint.
    SystemClock clock;
    mock::MockProvider provider(clock, Instance::fastMock());
    provider.start();
    Admission admission(clock);
    deadletters::GatewayFailures failures(clock);
    Dispatcher dispatcher(sluiceConfig(provider.baseUrl()), clock, admission, failures);
    control::ControlTarget t;
    t.kind = "serve";
    t.clock = &clock;
    t.dispatcher = &dispatcher;
    t.admission = &admission;
    t.deadLetters = &failures;
    control::ControlServer server(control::ControlOptions{}, t);
    dispatcher.start();
    server.start();
    control::ControlClient client(server.url(), std::nullopt, clock);
    for (const char* model : {"gpt-nope", "gpt-4o-mini"}) {
        JobSpec job;
        job.customId = std::string("req-") + model;
        job.body = json{{"model", model}, {"max_tokens", 10}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
        dispatcher.submit(std::move(job));
    }
    QTRY_COMPARE_WITH_TIMEOUT(dispatcher.stats().completed, std::uint64_t{1}, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(client.deadLetters({}, 10).size(), std::size_t{1}, 10000);

    const control::ControlStatus status = client.status();
    QVERIFY(status.deadLetters);
    QVERIFY(!status.queue);
    QVERIFY2(status.requeueRefusal.find("answer") != std::string::npos, status.requeueRefusal.c_str());
    const store::DeadLetter d = client.deadLetters({}, 10).front();
    QCOMPARE(d.job.customId, std::string("req-gpt-nope"));
    QCOMPARE(d.job.model, std::string("gpt-nope"));
    QVERIFY(d.job.finished);
    QVERIFY(!d.attempts.empty());
    QVERIFY(d.attempts.back().httpStatus >= 400);
    const control::JobDetail detail = client.job(d.job.id);
    QVERIFY(detail.job);
    QVERIFY(!detail.timeline.empty());
    // Requeue and edit are refused with the reason, not 501.
    for (int which = 0; which < 2; ++which) {
        try {
            if (which == 0) {
                client.requeue(d.job.id);
            } else {
                client.editAndRequeue(d.job.id, "{\"model\":\"gpt-4o-mini\"}");
            }
            QFAIL("a gateway request was requeued");
        } catch (const control::ControlError& e) {
            QCOMPARE(e.status(), 409L);
            QCOMPARE(std::string(e.what()).find("answer") != std::string::npos, true);
        }
    }
    server.stop();
    dispatcher.stop();
}

QTEST_APPLESS_MAIN(TestControl)
#include "tst_control.moc"
