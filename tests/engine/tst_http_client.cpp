// Both upstream clients, http::HttpClient (libcurl's multi_socket
// interface) and http::H1Client (Sluice's own HTTP/1.1), each driven by its
// own poll() on the EpollDriver, over real loopback HTTP against an
// HttpServer; every case runs once per client: many transfers at once all complete and are counted; a
// reused easy handle carries nothing of the request before it (no
// credential header, no body, no method); a stream arrives in pieces; a
// total timeout fires with nothing else to wake the loop; an abort and a
// refused connection are reported; a head of more than HeaderMap's
// 1,000 headers is refused; wakeup() from another thread ends a
// long poll(). The EpollDriver's timer against a stand-in client: a firing
// that sets no new timer asks the client, and sleeps when it has none. Waits are on conditions with generous bounds, never sleeps.
#include "http/epoll_driver.h"
#include "http/http_client.h"
#include "http/upstream_client.h"
#include "net/http_server.h"
#include "support/scripted_upstream.h"

#include <QtTest>

#include <atomic>
#include <mutex>
#include <thread>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

std::string url(std::uint16_t port)
{
    return "http://127.0.0.1:" + std::to_string(port);
}

// What the upstream saw of one request.
struct Seen {
    std::string method;
    std::string path;
    std::string authorization;  // empty when none came
    std::string body;
};

http::HttpRequest getOf(const std::string& url)
{
    http::HttpRequest r;
    r.method = "GET";
    r.url = url;
    return r;
}

// Counts what the driver hands it; its timerFired() sets no new timer (as
// libcurl does when a transfer ends within the firing).
class StandIn final : public http::DrivenClient {
public:
    void socketReady(int, bool, bool) override {}
    void timerFired() override { ++fired; }
    std::optional<Duration> timeout() const override { return pending; }

    int fired = 0;
    std::optional<Duration> pending;
};

}  // namespace

class TestHttpClient : public QObject {
    Q_OBJECT

public:
    explicit TestHttpClient(http::UpstreamKind kind) : m_kind(kind) {}

private Q_SLOTS:
    void init();
    void cleanup();
    void manyTransfersCompleteAndAreCounted();
    void aReusedHandleKeepsNothingOfTheRequestBefore();
    void streamArrivesInPieces();
    void totalTimeoutFiresOnAnIdleLoop();
    void abortAndRefusedConnection();
    void aHeadOfTooManyHeadersIsRefused();
    void wakeupEndsAPollFromAnotherThread();
    void aFiringThatSetsNoTimerAsksTheClient();

private:
    std::unique_ptr<http::UpstreamClient> makeClient() const { return http::makeUpstreamClient(m_kind); }

    http::UpstreamKind m_kind;
    std::unique_ptr<net::HttpServer> m_upstream;
    std::string m_base;
    std::mutex m_mutex;
    std::vector<Seen> m_seen;
};

void TestHttpClient::init()
{
    m_seen.clear();
    m_upstream = std::make_unique<net::HttpServer>(net::HttpServerOptions{}, [this](net::InboundRequest&& r, net::HttpResponder responder) {
        {
            std::lock_guard guard(m_mutex);
            m_seen.push_back({std::string(r.method), std::string(r.path()),
                              std::string(r.header("authorization").value_or("")), r.body});
        }
        responder.send(test::scriptedReply(r));
    });
    m_base = url(m_upstream->start());
}

void TestHttpClient::cleanup()
{
    m_upstream.reset();
}

void TestHttpClient::manyTransfersCompleteAndAreCounted()
{
    const auto owned = makeClient();
    http::UpstreamClient& client = *owned;
    // More than the handles it keeps for reuse, and in flight at once.
    constexpr int kMany = 300;
    std::vector<http::HttpResult> results(kMany);
    int done = 0;
    int counted = 0;
    for (int round = 0; round < 2; ++round) {
        done = 0;
        for (int i = 0; i < kMany; ++i) {
            http::HttpRequest req = getOf(m_base + "/r" + std::to_string(i));
            client.start(std::move(req), {nullptr, nullptr, [&, i](http::HttpResult&& r) {
                                              results[i] = std::move(r);
                                              ++done;
                                          },
                                          nullptr});
        }
        QCOMPARE(client.active(), std::size_t(kMany));
        const auto until = std::chrono::steady_clock::now() + 20s;
        while (done < kMany && std::chrono::steady_clock::now() < until) {
            counted += client.poll(50ms);
        }
        QCOMPARE(done, kMany);
        for (int i = 0; i < kMany; ++i) {
            QCOMPARE(results[i].status, 200L);
            QCOMPARE(results[i].body, "body of /r" + std::to_string(i));
            QCOMPARE(results[i].error, http::TransportError::None);
        }
    }
    // poll() reports each completion once.
    QCOMPARE(counted, 2 * kMany);
    QCOMPARE(client.active(), std::size_t(0));
}

void TestHttpClient::aReusedHandleKeepsNothingOfTheRequestBefore()
{
    const auto owned = makeClient();
    http::UpstreamClient& client = *owned;
    // One at a time, so the second request gets the first one's handle.
    bool done = false;
    http::HttpRequest post;
    post.url = m_base + "/first";
    post.headers = {"Content-Type: application/json"};
    post.secretHeader = Secret("sk-secret-1234").prefixed("Authorization: Bearer ");
    post.body = R"({"x":1})";
    client.start(std::move(post), {nullptr, nullptr, [&](http::HttpResult&& r) { done = r.status == 200; }, nullptr});
    QVERIFY(test::pollUntil(client, [&] { return done; }));

    done = false;
    http::HttpRequest get = getOf(m_base + "/second");
    client.start(std::move(get), {nullptr, nullptr, [&](http::HttpResult&& r) { done = r.status == 200; }, nullptr});
    QVERIFY(test::pollUntil(client, [&] { return done; }));

    std::lock_guard guard(m_mutex);
    QCOMPARE(m_seen.size(), std::size_t(2));
    QCOMPARE(m_seen[0].method, std::string("POST"));
    QCOMPARE(m_seen[0].authorization, std::string("Bearer sk-secret-1234"));
    QCOMPARE(m_seen[0].body, std::string(R"({"x":1})"));
    QCOMPARE(m_seen[1].method, std::string("GET"));
    QCOMPARE(m_seen[1].path, std::string("/second"));
    QCOMPARE(m_seen[1].authorization, std::string());
    QCOMPARE(m_seen[1].body, std::string());
}

void TestHttpClient::streamArrivesInPieces()
{
    const auto owned = makeClient();
    http::UpstreamClient& client = *owned;
    const std::optional<std::string> whole = test::streamedInPieces(client, m_base);
    QVERIFY(whole.has_value());
    QCOMPARE(*whole, std::string("one two three"));
}

void TestHttpClient::totalTimeoutFiresOnAnIdleLoop()
{
    // Nothing arrives after the first bytes: only libcurl's timer can end
    // the transfer, so this fails if the driver loses a timer.
    const auto owned = makeClient();
    http::UpstreamClient& client = *owned;
    std::optional<http::TransportError> error;
    http::HttpRequest h = getOf(m_base + "/hang");
    h.totalTimeout = 300ms;
    client.start(std::move(h), {nullptr, nullptr, [&](http::HttpResult&& r) { error = r.error; }, nullptr});
    QVERIFY(test::pollUntil(client, [&] { return error.has_value(); }));
    QCOMPARE(*error, http::TransportError::Timeout);
}

void TestHttpClient::abortAndRefusedConnection()
{
    const auto owned = makeClient();
    http::UpstreamClient& client = *owned;
    std::optional<http::TransportError> hung;
    bool headSeen = false;
    http::HttpRequest h = getOf(m_base + "/hang");
    const auto id = client.start(std::move(h), {[&](long, const http::HeaderMap&) { headSeen = true; },
                                                [](std::string_view) { return true; },
                                                [&](http::HttpResult&& r) { hung = r.error; }, nullptr});
    QVERIFY(test::pollUntil(client, [&] { return headSeen; }));
    QVERIFY(!hung);
    client.abort(id);
    QCOMPARE(hung, std::optional(http::TransportError::Aborted));

    // The aborted transfer's handle serves the next one.
    bool again = false;
    http::HttpRequest next = getOf(m_base + "/after-abort");
    client.start(std::move(next), {nullptr, nullptr, [&](http::HttpResult&& r) { again = r.status == 200; }, nullptr});
    QVERIFY(test::pollUntil(client, [&] { return again; }));

    m_upstream->stop();
    std::optional<http::TransportError> refused;
    http::HttpRequest gone = getOf(m_base + "/after-stop");
    client.start(std::move(gone), {nullptr, nullptr, [&](http::HttpResult&& r) { refused = r.error; }, nullptr});
    QVERIFY(test::pollUntil(client, [&] { return refused.has_value(); }));
    QCOMPARE(*refused, http::TransportError::ConnectFailed);
}

void TestHttpClient::aHeadOfTooManyHeadersIsRefused()
{
    // The headers are a list looked up linearly: past HeaderMap::kMaxHeaders
    // (the server adds its own two) the answer is an error, not a long parse.
    const auto owned = makeClient();
    http::UpstreamClient& client = *owned;
    std::optional<http::HttpResult> within;
    std::optional<http::HttpResult> over;
    client.start(getOf(m_base + "/headers/990"), {nullptr, nullptr, [&](http::HttpResult&& r) { within = std::move(r); }, nullptr});
    client.start(getOf(m_base + "/headers/1000"), {nullptr, nullptr, [&](http::HttpResult&& r) { over = std::move(r); }, nullptr});
    QVERIFY(test::pollUntil(client, [&] { return within.has_value() && over.has_value(); }));
    QCOMPARE(within->error, http::TransportError::None);
    QCOMPARE(within->status, 200L);
    QCOMPARE(within->headers.at("x-h989"), std::string("v989"));
    QCOMPARE(within->body, std::string("headers"));
    QVERIFY(over->error != http::TransportError::None);
}

void TestHttpClient::wakeupEndsAPollFromAnotherThread()
{
    const auto owned = makeClient();
    http::UpstreamClient& client = *owned;
    std::atomic<bool> polling{false};
    std::thread waker([&] {
        while (!polling.load()) {
            std::this_thread::yield();
        }
        client.wakeup();
    });
    polling = true;
    // Without the wake-up this would wait the whole minute; a wake-up that
    // came before the poll began ends it just the same.
    const auto start = std::chrono::steady_clock::now();
    client.poll(60s);
    const auto waited = std::chrono::steady_clock::now() - start;
    waker.join();
    QVERIFY2(waited < 30s, "poll() did not return on wakeup()");
}

void TestHttpClient::aFiringThatSetsNoTimerAsksTheClient()
{
    http::EpollDriver driver;
    StandIn client;
    driver.timer(Duration::zero());
    driver.wait(10s, client);
    QCOMPARE(client.fired, 1);
    // The client holds no timer now: the driver must not fire again (a
    // driver that looked again a millisecond later would wake every
    // millisecond of an idle client's life).
    for (int i = 0; i < 3; ++i) {
        driver.wait(20ms, client);
    }
    QCOMPARE(client.fired, 1);

    // The client still holds one, due in 5 ms: it fires then, once.
    driver.timer(Duration::zero());
    client.pending = 5ms;
    driver.wait(10s, client);
    QCOMPARE(client.fired, 2);
    client.pending.reset();
    driver.wait(10s, client);
    QCOMPARE(client.fired, 3);
    driver.wait(20ms, client);
    QCOMPARE(client.fired, 3);
}

int main(int argc, char** argv)
{
    QCoreApplication app(argc, argv);
    int failed = 0;
    for (const auto kind : {http::UpstreamKind::Curl, http::UpstreamKind::Native}) {
        TestHttpClient test(kind);
        failed += QTest::qExec(&test, argc, argv);
    }
    return failed;
}
#include "tst_http_client.moc"
