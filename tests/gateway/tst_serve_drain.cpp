// The real `sluice-cli serve` stopping without cutting anyone off: on
// SIGTERM it drains (GET /healthz and new requests 503, each reply closing
// its connection) while a request under way runs to its end, then exits 0;
// a drain that outlasts --drain-seconds, or a second signal, stops it with
// what was cut short said on stderr. The provider is an HTTP server in this
// process that holds every request until the test releases it: a request
// stays under way, with no timing involved, for as long as the test says.
#include "net/http_server.h"
#include "support/cli_run.h"
#include "support/http_client.h"
#include "support/serve_process.h"

#include <QTemporaryDir>
#include <QtTest>

#include <future>
#include <mutex>
#include <vector>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

constexpr int kWaitMs = 15'000;
const std::string kChat = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokens":8})";

QString cli()
{
    return QStringLiteral(SLUICE_CLI_PATH);
}

// The provider: every request is held until release() answers it with a
// chat completion (usage included, so the gateway settles it).
class HeldProvider {
public:
    HeldProvider()
        : m_server(net::HttpServerOptions{}, [this](net::InboundRequest&&, net::HttpResponder responder) {
              std::lock_guard guard(m_mutex);
              m_held.push_back(std::move(responder));
          })
    {
        m_port = m_server.start();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
    std::size_t held() const
    {
        std::lock_guard guard(m_mutex);
        return m_held.size();
    }
    void release()
    {
        std::lock_guard guard(m_mutex);
        for (net::HttpResponder& r : m_held) {
            r.send(net::HttpReply::whole(200, "application/json", R"({"id":"chatcmpl-1","object":"chat.completion",
"created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},
"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}})"));
        }
        m_held.clear();
    }

private:
    mutable std::mutex m_mutex;
    std::vector<net::HttpResponder> m_held;
    net::HttpServer m_server;
    std::uint16_t m_port = 0;
};

struct Fixture {
    HeldProvider provider;
    QTemporaryDir dir;
    testing::ServeProcess serve;
    std::future<test::HttpResponse> underWay;

    // serve in front of the provider, one chat completion sent to it and
    // seen arriving at the provider.
    void start(const QStringList& extra)
    {
        launch(extra);
        if (!QTest::currentTestFailed()) {
            sendHeld();
        }
    }

    void launch(const QStringList& extra)
    {
        const QString config = dir.filePath(QStringLiteral("serve.json"));
        testing::writeTextFile(config, R"({ "providers": [ { "name": "mock", "flavor": "openai", "base_url": ")" +
                                           provider.url() +
                                           R"(", "models": { "gpt-4o-mini": {} },
    "keys": [ { "name": "mock", "env": "MOCK_API_KEY" } ] } ] })");
        testing::startServe(serve, cli(), config, extra, kWaitMs);
    }

    void sendHeld()
    {
        underWay = std::async(std::launch::async, [url = serve.gatewayUrl] {
            test::HttpClient client(url);
            client.setTimeout(30s);
            return client.post("/v1/chat/completions", kChat, {{"content-type", "application/json"}});
        });
        QTRY_COMPARE_WITH_TIMEOUT(provider.held(), std::size_t(1), kWaitMs);
    }

    void signal() { serve.process.terminate(); }  // SIGTERM
};

}  // namespace

class TestServeDrain : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void requestUnderWayFinishesAfterSigterm();
    void drainEndsAtItsLimit();
    void secondSignalStopsAtOnce();
};

void TestServeDrain::requestUnderWayFinishesAfterSigterm()
{
    Fixture f;
    f.launch({});
    if (QTest::currentTestFailed()) {
        return;
    }
    // Probed before the held request is sent: a connection counts as under
    // way until its answer is written, and the client can read that answer
    // before the server has finished writing it. Sent after, the probe's
    // own connection could still count when the signal comes (seen on a
    // loaded machine: "2 request(s) under way"); sent before, the gateway's
    // loop has finished with it by the time it reads the held request.
    test::HttpClient probe(f.serve.gatewayUrl);
    const test::HttpResponse serving = probe.get("/healthz");
    QCOMPARE(serving.status, 200L);
    QCOMPARE(serving.body, std::string(R"({"status":"serving"})"));
    f.sendHeld();
    if (QTest::currentTestFailed()) {
        return;
    }

    f.signal();
    QTRY_VERIFY2_WITH_TIMEOUT(f.serve.errHas(QStringLiteral("draining: 1 request(s) under way")),
                              qPrintable(f.serve.err), kWaitMs);
    test::HttpClient late(f.serve.gatewayUrl);
    const test::HttpResponse health = late.get("/healthz");
    QCOMPARE(health.status, 503L);
    QCOMPARE(health.body, std::string(R"({"status":"draining"})"));
    QCOMPARE(health.header("connection").value_or(""), std::string("close"));
    const test::HttpResponse refused = late.post("/v1/chat/completions", kChat, {{"content-type", "application/json"}});
    QCOMPARE(refused.status, 503L);
    QVERIFY2(refused.body.find("\"gateway_draining\"") != std::string::npos, refused.body.c_str());
    QCOMPARE(refused.header("x-should-retry").value_or(""), std::string("true"));
    QCOMPARE(f.provider.held(), std::size_t(1));  // nothing new reached the provider

    f.provider.release();
    const test::HttpResponse answer = f.underWay.get();
    QVERIFY2(answer.completed(), answer.error.c_str());
    QCOMPARE(answer.status, 200L);
    QVERIFY2(answer.body.find("\"chat.completion\"") != std::string::npos, answer.body.c_str());
    const testing::CliRun run = testing::finishCli(f.serve.process, kWaitMs);
    const QString err = f.serve.err + QString::fromStdString(run.err);
    QVERIFY2(run.exitCode == 0, qPrintable(err));
    QVERIFY2(err.contains(QStringLiteral("stopped (SIGTERM)")) && !err.contains(QStringLiteral("cut short")),
             qPrintable(err));
}

void TestServeDrain::drainEndsAtItsLimit()
{
    Fixture f;
    f.start({QStringLiteral("--drain-seconds"), QStringLiteral("1")});
    if (QTest::currentTestFailed()) {
        return;
    }
    f.signal();
    // The provider never answers: the request is still under way when the
    // drain's second is up.
    const testing::CliRun run = testing::finishCli(f.serve.process, kWaitMs);
    const QString err = f.serve.readErr() + QString::fromStdString(run.err);
    QVERIFY2(run.exitCode == 0, qPrintable(err));
    QVERIFY2(err.contains(QStringLiteral("1 request(s) cut short at the drain limit")), qPrintable(err));
    QVERIFY(f.underWay.get().status != 200L);
}

void TestServeDrain::secondSignalStopsAtOnce()
{
    Fixture f;
    f.start({});
    if (QTest::currentTestFailed()) {
        return;
    }
    f.signal();
    QTRY_VERIFY_WITH_TIMEOUT(f.serve.errHas(QStringLiteral("draining: 1 request(s) under way")), kWaitMs);
    f.signal();
    const testing::CliRun run = testing::finishCli(f.serve.process, kWaitMs);
    const QString err = f.serve.err + QString::fromStdString(run.err);
    QVERIFY2(run.exitCode == 0, qPrintable(err));
    QVERIFY2(err.contains(QStringLiteral("1 request(s) cut short by a second signal")), qPrintable(err));
    QVERIFY(f.underWay.get().status != 200L);
}

QTEST_GUILESS_MAIN(TestServeDrain)
#include "tst_serve_drain.moc"
