// EngineRuntime, the one composition root: the shared link is made only for
// a configuration with "shared", its budget and observer reach the
// Admission and Dispatcher, the dispatcher is attached to it once built and
// detached before it goes; a queue-fed runtime starts its runner with the
// dispatcher, or later for a held queue, and stops both.
#include "config/config.h"
#include "core/clock.h"
#include "host/engine_runtime.h"
#include "store/job_store.h"

#include <QTemporaryDir>
#include <QtTest>

using namespace sluice;

class TestEngineRuntime : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void linkOnlyWithShared();
    void linkAttachedThenDetached();
    void queueFedRunnerStartsWithOrAfterTheDispatcher();
};

namespace {

struct LinkLog {
    int made = 0;
    int attached = 0;
    int detached = 0;
    Dispatcher* dispatcher = nullptr;
};

class FakeLink final : public host::SharedLink {
public:
    explicit FakeLink(LinkLog& log) : m_log(log) { ++m_log.made; }
    SharedBudget* budget() noexcept override { return nullptr; }
    PeerSignalObserver* observer() noexcept override { return nullptr; }
    void attach(Dispatcher& dispatcher) override
    {
        ++m_log.attached;
        m_log.dispatcher = &dispatcher;
    }
    void detach() override
    {
        // The runtime detaches once; a second call must find nothing attached.
        if (m_log.attached > m_log.detached) {
            ++m_log.detached;
        }
    }
    host::SharedLinkStatus linkStatus() const override { return {}; }
    std::string prometheusText() const override { return {}; }

private:
    LinkLog& m_log;
};

Config testConfig(bool shared)
{
    Config c = loadConfig(JsonSource("runtime.json", R"({"providers": [{"name": "p", "flavor": "openai",
        "base_url": "http://127.0.0.1:9", "keys": [{"name": "k", "env": "K"}]}]})"),
                          [](const std::string&) -> std::optional<std::string> { return "sk-test"; });
    if (shared) {
        c.shared = SharedConfig{};
        c.shared->host = "127.0.0.1";
        c.shared->ns = "test";
    }
    return c;
}

host::RuntimeOptions withFactory(LinkLog& log)
{
    host::RuntimeOptions o;
    o.shared = [&log](const Config&, Clock&) -> std::unique_ptr<host::SharedLink> {
        return std::make_unique<FakeLink>(log);
    };
    return o;
}

class Quiet : public DispatchListener {
public:
    void onFinished(JobOutcome&&) override {}
};

}  // namespace

void TestEngineRuntime::linkOnlyWithShared()
{
    ManualClock clock;
    Quiet listener;
    LinkLog log;
    host::EngineRuntime runtime(clock, testConfig(false), listener, withFactory(log));
    QCOMPARE(log.made, 0);
    QVERIFY(runtime.shared() == nullptr);
    QVERIFY(runtime.runner() == nullptr);
    QCOMPARE(runtime.dispatcher().config()->providers.size(), std::size_t{1});
}

void TestEngineRuntime::linkAttachedThenDetached()
{
    ManualClock clock;
    Quiet listener;
    LinkLog log;
    {
        host::EngineRuntime runtime(clock, testConfig(true), listener, withFactory(log));
        QCOMPARE(log.made, 1);
        QVERIFY(runtime.shared() != nullptr);
        QCOMPARE(log.attached, 1);
        QCOMPARE(log.dispatcher, &runtime.dispatcher());
        QCOMPARE(log.detached, 0);
    }
    QCOMPARE(log.detached, 1);
}

void TestEngineRuntime::queueFedRunnerStartsWithOrAfterTheDispatcher()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    ManualClock clock;
    store::JobStore st(dir.filePath(QStringLiteral("runtime.db")).toStdString(), clock);
    Quiet downstream;
    host::EngineRuntime runtime(clock, testConfig(false), st, QueueRunnerOptions{}, &downstream);
    QVERIFY(runtime.runner() != nullptr);
    runtime.start(false);  // a held queue
    QVERIFY(!runtime.runnerStarted());
    runtime.startRunner();
    QVERIFY(runtime.runnerStarted());
    runtime.stop();
    QVERIFY(!runtime.runnerStarted());
    runtime.start();
    QVERIFY(runtime.runnerStarted());
    runtime.stop();
    runtime.stop();  // idempotent
    QVERIFY(!runtime.runnerStarted());
}

QTEST_APPLESS_MAIN(TestEngineRuntime)
#include "tst_engine_runtime.moc"
