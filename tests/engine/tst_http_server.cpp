// The server layer on its own: reply plans (whole, delayed, chunked, cut,
// reset, hanging), answers from another thread, keep-alive, body limits.
// Real HTTP over loopback with libcurl; waits are on the client's own
// completion, never sleeps.
#include "http/http_client.h"
#include "net/http_server.h"
#include "net/http_session.h"
#include "support/http_client.h"

#include <QtTest>

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace sluice;
using namespace sluice::net;
using sluice::test::HttpClient;
using namespace std::chrono_literals;

namespace {

// A server whose handler the test sets per case.
class Harness {
public:
    explicit Harness(HttpHandler handler, std::size_t maxBody = 1024, std::optional<Duration> requestTimeout = {})
        : m_server(HttpServerOptions{"127.0.0.1", 0, 1, maxBody, requestTimeout}, std::move(handler))
    {
        m_port = m_server.start();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
    HttpServer& server() { return m_server; }

private:
    HttpServer m_server;
    std::uint16_t m_port = 0;
};

// A socket connected to 127.0.0.1:port whose reads give up after 5 s; -1
// when the connection fails.
int connectLoopback(std::uint16_t port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Everything received on `fd` until the server closes the connection (or
// 5 s pass: then *closed, when given, is false); closes `fd`.
std::string readUntilClosed(int fd, bool* closed = nullptr)
{
    std::string received;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
        received.append(buf, static_cast<std::size_t>(n));
    }
    if (closed != nullptr) {
        *closed = n == 0;
    }
    ::close(fd);
    return received;
}

// Sends raw bytes and returns everything received until the server closes
// the connection (or 5 s pass): for requests curl will not send.
std::string rawExchange(std::uint16_t port, const std::string& bytes)
{
    const int fd = connectLoopback(port);
    if (fd >= 0 && ::send(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size())) {
        return readUntilClosed(fd);
    }
    ::close(fd);
    return {};
}

// Connects and sends `bytes`, then waits (at most 5 s) for the server to
// close the connection; true when it did.
bool serverCloses(std::uint16_t port, const std::string& bytes)
{
    const int fd = connectLoopback(port);
    bool closed = false;
    if (fd >= 0 && ::send(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size())) {
        char buf[512];
        ssize_t n = 0;
        while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
        }
        closed = n == 0;
    }
    ::close(fd);
    return closed;
}

}  // namespace

class TestHttpServer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void streamWritesArriveInOrder();
    void peerGoneIsReported();
    void pipelinedRequestIsNoGoodbye();
    void slowRequestIsClosed_data();
    void slowRequestIsClosed();
    void wholeReplyWithHeaders();
    void replyLargerThanTheSendBufferArrivesWhole();
    void engineClientTellsANewConnectionFromAWarmOne();
    void requestFieldsReachTheHandler();
    void delayedReplyTakesAtLeastItsDelay();
    void chunkedPartsArriveInOrder();
    void closeEndingCutsAChunkedStream();
    void resetEndingCutsABody();
    void hangEndsOnlyWhenTheClientGivesUp();
    void answerFromAnotherThread();
    void droppedResponderAnswers500();
    void connectionIsReused();
    void bodyOverTheLimitIsFlagged();
    void expectContinueIsAnswered();
    void onFinishedRunsBeforeTheClientSeesTheEnd();
    void badPortIsReported();
    void malformedRequestAfterAGoodOneGets400();
    void drainClosesConnectionsAfterTheirReplies();
    void replyHeadBytesAreExact();
};

void TestHttpServer::streamWritesArriveInOrder()
{
    std::promise<bool> finished;
    std::vector<std::thread> writers;
    Harness h([&](InboundRequest&&, HttpResponder responder) {
        HttpReply head;
        head.headers.emplace_back("Content-Type", "text/event-stream");
        head.parts.push_back({Duration::zero(), "data: 0\n\n"});
        head.onFinished = [&](bool delivered) { finished.set_value(delivered); };
        std::shared_ptr<HttpStream> stream = responder.stream(std::move(head));
        // Written later, from another thread, as a relayed response is.
        writers.emplace_back([stream] {
            for (int i = 1; i <= 3; ++i) {
                stream->write("data: " + std::to_string(i) + "\n\n");
            }
            stream->end();
            stream->write("after the end\n");
        });
    });
    HttpClient http(h.url());
    const auto r = http.get("/stream");
    for (auto& t : writers) {
        t.join();
    }
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, 200L);
    QCOMPARE(r.body, std::string("data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n"));
    QCOMPARE(*r.header("transfer-encoding"), std::string("chunked"));
    QVERIFY(finished.get_future().get());
}

void TestHttpServer::peerGoneIsReported()
{
    std::promise<void> gone;
    std::vector<HttpResponder> held;
    std::mutex mutex;
    Harness h([&](InboundRequest&&, HttpResponder responder) {
        responder.onPeerGone([&] { gone.set_value(); });
        std::lock_guard guard(mutex);
        held.push_back(std::move(responder));  // a held request: no answer yet
    });
    // The client gives up before any answer: the handler hears of it.
    HttpClient http(h.url());
    http.setTimeout(300ms);
    QVERIFY(!http.get("/held").completed());
    QVERIFY(gone.get_future().wait_for(10s) == std::future_status::ready);
}

void TestHttpServer::pipelinedRequestIsNoGoodbye()
{
    std::atomic<bool> gone{false};
    std::optional<HttpResponder> first;
    std::mutex mutex;
    Harness h([&](InboundRequest&& request, HttpResponder responder) {
        if (request.target == "/first") {
            responder.onPeerGone([&] { gone = true; });
            std::lock_guard guard(mutex);
            first.emplace(std::move(responder));  // held: answered by the test below
            return;
        }
        responder.send(HttpReply::whole(200, "text/plain", "second"));
    });
    // The second request arrives while the first is held: data from a peer
    // that stays, not a goodbye.
    const int fd = connectLoopback(h.server().port());
    QVERIFY(fd >= 0);
    const std::string one = "GET /first HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::string two = "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    QCOMPARE(::send(fd, one.data(), one.size(), 0), static_cast<ssize_t>(one.size()));
    QTRY_VERIFY_WITH_TIMEOUT((std::lock_guard(mutex), first.has_value()), 10000);
    QCOMPARE(::send(fd, two.data(), two.size(), 0), static_cast<ssize_t>(two.size()));
    // A server that took the bytes for a goodbye would close the
    // connection: the first answer would never come, and `gone` be set.
    {
        std::lock_guard guard(mutex);
        first->send(HttpReply::whole(200, "text/plain", "first"));
    }
    const std::string received = readUntilClosed(fd);
    const auto a = received.find("\r\n\r\nfirst");
    const auto b = received.find("\r\n\r\nsecond");
    QVERIFY2(a != std::string::npos && b != std::string::npos && a < b, received.c_str());
    QVERIFY(!gone);
}

// Half a header, then nothing: closed after the request timeout, well
// before the client's own 5 s. The deadline moves with each request on a
// kept-alive connection (one wait serves them all): after a request
// answered at once, half of the next one is closed the same way.
void TestHttpServer::slowRequestIsClosed_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<int>("answered");
    QTest::newRow("first request") << QByteArray("POST / HTTP/1.1\r\nHost: x\r\n") << 0;
    QTest::newRow("after an answered one")
        << QByteArray("GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\n") << 1;
}

void TestHttpServer::slowRequestIsClosed()
{
    QFETCH(QByteArray, bytes);
    QFETCH(int, answered);
    std::atomic<int> handled{0};
    Harness h([&](InboundRequest&&, HttpResponder responder) {
        ++handled;
        responder.send(HttpReply::whole(200, "text/plain", "ok"));
    },
              1024, Duration(200ms));
    QVERIFY(serverCloses(h.server().port(), bytes.toStdString()));
    QCOMPARE(handled.load(), answered);
    // Others are still served.
    HttpClient http(h.url());
    QCOMPARE(http.get("/").status, 200L);
}

// An answer is written at once as far as the socket takes it and the rest
// asynchronously: 16 MiB, far over loopback's send buffer, arrives whole
// and in order, twice on one connection.
void TestHttpServer::replyLargerThanTheSendBufferArrivesWhole()
{
    std::string big(16u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);
    }
    Harness h([&](InboundRequest&&, HttpResponder responder) {
        responder.send(HttpReply::whole(200, "application/octet-stream", big));
    });
    HttpClient http(h.url());
    for (int i = 0; i < 2; ++i) {
        const auto r = http.get("/");
        QCOMPARE(r.status, 200L);
        QCOMPARE(r.body.size(), big.size());
        QVERIFY(r.body == big);
    }
}

// The engine's client says, as each request leaves, whether it opened its
// connection (the dispatcher spaces the next whole-bucket request further
// after one that did): the first request to a server does, the next one
// on the kept-alive connection does not.
void TestHttpServer::engineClientTellsANewConnectionFromAWarmOne()
{
    Harness h([](InboundRequest&&, HttpResponder responder) {
        responder.send(HttpReply::whole(200, "text/plain", "ok"));
    });
    sluice::http::HttpClient client;
    std::vector<bool> sentOnNew;
    for (int i = 0; i < 3; ++i) {
        bool done = false;
        sluice::http::HttpRequest r;
        r.method = "GET";
        r.url = h.url() + "/x";
        sluice::http::TransferHandlers handlers;
        handlers.onComplete = [&done](sluice::http::HttpResult&& result) {
            QCOMPARE(result.status, 200L);
            done = true;
        };
        handlers.onSending = [&sentOnNew](bool newConnection) { sentOnNew.push_back(newConnection); };
        client.start(std::move(r), std::move(handlers));
        for (int polls = 0; !done && polls < 500; ++polls) {
            client.poll(std::chrono::milliseconds(10));
        }
        QVERIFY(done);
    }
    QCOMPARE(sentOnNew, (std::vector<bool>{true, false, false}));
}

void TestHttpServer::wholeReplyWithHeaders()
{
    Harness h([](InboundRequest&&, HttpResponder responder) {
        HttpReply reply = HttpReply::whole(201, "text/plain", "made");
        reply.headers.emplace_back("X-Thing", "one");
        responder.send(std::move(reply));
    });
    HttpClient client(h.url());
    const auto r = client.get("/anything");
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.status, 201L);
    QCOMPARE(r.body, std::string("made"));
    QCOMPARE(r.header("x-thing").value_or(""), std::string("one"));
    QCOMPARE(r.header("content-type").value_or(""), std::string("text/plain"));
    QCOMPARE(r.header("content-length").value_or(""), std::string("4"));
}

// The head is written piece by piece into room made once (appendText): the
// bytes must be exactly the status line, the headers in order, the framing
// and the blank line, whatever the lengths of the pieces.
void TestHttpServer::replyHeadBytesAreExact()
{
    HttpReply reply = HttpReply::whole(429, "application/json", "{}");
    reply.headers.emplace_back("x-empty", "");
    reply.headers.emplace_back(std::string(300, 'n'), std::string(5000, 'v'));
    std::string out = "kept";
    appendReplyHead(out, reply, true);
    std::string expected = "keptHTTP/1.1 429 Too Many Requests\r\n";
    for (const auto& [name, value] : reply.headers) {
        expected += name + ": " + value + "\r\n";
    }
    expected += "Content-Length: 2\r\n\r\n";
    QCOMPARE(out, expected);

    HttpReply stream;
    stream.status = 299;
    stream.chunked = true;
    out.clear();
    appendReplyHead(out, stream, false);
    QCOMPARE(out, std::string("HTTP/1.1 299 Unknown\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));

    HttpReply declared;
    declared.status = 200;
    declared.declaredLength = 18446744073709551615ULL;  // the widest a length can be written
    out.clear();
    appendReplyHead(out, declared, true);
    QCOMPARE(out, std::string("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n"));
}

void TestHttpServer::requestFieldsReachTheHandler()
{
    std::promise<InboundRequest> seen;
    Harness h([&](InboundRequest&& request, HttpResponder responder) {
        seen.set_value(request);
        responder.send(HttpReply::whole(200, "text/plain", "ok"));
    });
    HttpClient client(h.url());
    const auto r = client.post("/v1/path?x=1", "{\"a\":1}", {{"Content-Type", "application/json"}, {"X-Key", "v"}});
    QVERIFY(r.completed());
    const InboundRequest req = seen.get_future().get();
    QCOMPARE(req.method, std::string("POST"));
    QCOMPARE(req.target, std::string("/v1/path?x=1"));
    QCOMPARE(std::string(req.path()), std::string("/v1/path"));
    QCOMPARE(req.body, std::string("{\"a\":1}"));
    QCOMPARE(std::string(req.header("x-key").value_or("")), std::string("v"));
    QCOMPARE(std::string(req.header("CONTENT-TYPE").value_or("")), std::string("application/json"));
    QVERIFY(!req.bodyTooLarge);
}

void TestHttpServer::delayedReplyTakesAtLeastItsDelay()
{
    Harness h([](InboundRequest&&, HttpResponder responder) {
        responder.send(HttpReply::whole(200, "text/plain", "late", 150ms));
    });
    HttpClient client(h.url());
    const auto r = client.get("/");
    QVERIFY(r.completed());
    QCOMPARE(r.body, std::string("late"));
    // A lower bound only: the timer may fire late on a busy machine.
    QVERIFY2(r.seconds >= 0.145, std::to_string(r.seconds).c_str());
}

void TestHttpServer::chunkedPartsArriveInOrder()
{
    Harness h([](InboundRequest&&, HttpResponder responder) {
        HttpReply reply;
        reply.chunked = true;
        reply.headers.emplace_back("Content-Type", "text/event-stream");
        reply.parts = {{0ms, "data: 1\n\n"}, {5ms, "data: 2\n\n"}, {0ms, "data: 3\n\n"}, {5ms, "data: 4\n\n"}};
        responder.send(std::move(reply));
    });
    HttpClient client(h.url());
    const auto r = client.get("/");
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.header("transfer-encoding").value_or(""), std::string("chunked"));
    const auto events = test::parseSse(r.body);
    QCOMPARE(events.size(), std::size_t(4));
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(events[static_cast<std::size_t>(i)].data, std::to_string(i + 1));
    }
}

void TestHttpServer::closeEndingCutsAChunkedStream()
{
    Harness h([](InboundRequest&&, HttpResponder responder) {
        HttpReply reply;
        reply.chunked = true;
        reply.parts = {{0ms, "data: 1\n\n"}};
        reply.ending = HttpEnding::Close;
        responder.send(std::move(reply));
    });
    HttpClient client(h.url());
    const auto r = client.get("/");
    QVERIFY(!r.completed());
    QCOMPARE(r.status, 200L);
    QCOMPARE(r.body, std::string("data: 1\n\n"));
}

void TestHttpServer::resetEndingCutsABody()
{
    Harness h([](InboundRequest&&, HttpResponder responder) {
        HttpReply reply = HttpReply::whole(200, "application/json", "{\"half\":");
        reply.declaredLength = 40;
        reply.ending = HttpEnding::Reset;
        responder.send(std::move(reply));
    });
    HttpClient client(h.url());
    const auto r = client.get("/");
    QVERIFY(!r.completed());
    QVERIFY2(r.curlCode == CURLE_RECV_ERROR || r.curlCode == CURLE_PARTIAL_FILE, r.error.c_str());
    QCOMPARE(r.body, std::string("{\"half\":"));
}

void TestHttpServer::hangEndsOnlyWhenTheClientGivesUp()
{
    std::promise<bool> finished;
    Harness h([&](InboundRequest&&, HttpResponder responder) {
        HttpReply reply;
        reply.ending = HttpEnding::Hang;
        reply.onFinished = [&](bool delivered) { finished.set_value(delivered); };
        responder.send(std::move(reply));
    });
    HttpClient client(h.url());
    client.setTimeout(200ms);
    const auto r = client.get("/");
    QCOMPARE(r.curlCode, CURLE_OPERATION_TIMEDOUT);
    QCOMPARE(r.status, 0L);
    // The client's close ends the silence on the server.
    auto future = finished.get_future();
    QVERIFY(future.wait_for(10s) == std::future_status::ready);
    QCOMPARE(future.get(), false);
    QTRY_COMPARE(h.server().openConnections(), std::size_t(0));
}

void TestHttpServer::answerFromAnotherThread()
{
    std::vector<std::jthread> workers;
    std::mutex mutex;
    Harness h([&](InboundRequest&& request, HttpResponder responder) {
        std::lock_guard guard(mutex);
        workers.emplace_back([r = std::move(responder), body = request.body]() mutable {
            r.send(HttpReply::whole(200, "text/plain", "worker saw " + body));
        });
    });
    HttpClient client(h.url());
    const auto r = client.post("/", "hello", {});
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.body, std::string("worker saw hello"));
    const auto again = client.post("/", "again", {});
    QCOMPARE(again.body, std::string("worker saw again"));
}

void TestHttpServer::droppedResponderAnswers500()
{
    Harness h([](InboundRequest&&, HttpResponder) {});
    HttpClient client(h.url());
    const auto r = client.get("/");
    QVERIFY(r.completed());
    QCOMPARE(r.status, 500L);
}

void TestHttpServer::connectionIsReused()
{
    Harness h([](InboundRequest&&, HttpResponder responder) { responder.send(HttpReply::whole(200, "text/plain", "x")); });
    HttpClient client(h.url());
    QVERIFY(client.get("/").completed());
    QCOMPARE(client.lastNewConnections(), 1L);
    QVERIFY(client.get("/").completed());
    QCOMPARE(client.lastNewConnections(), 0L);
    QCOMPARE(h.server().openConnections(), std::size_t(1));
}

void TestHttpServer::bodyOverTheLimitIsFlagged()
{
    std::atomic<bool> flagged{false};
    Harness h(
        [&](InboundRequest&& request, HttpResponder responder) {
            flagged = request.bodyTooLarge;
            responder.send(HttpReply::whole(request.bodyTooLarge ? 413 : 200, "text/plain", "seen"));
        },
        1024);
    HttpClient client(h.url());
    const auto big = client.post("/", std::string(4096, 'x'), {{"Content-Type", "application/json"}});
    QCOMPARE(big.status, 413L);
    QVERIFY(flagged.load());
    QCOMPARE(big.header("connection").value_or(""), std::string("close"));
    const auto small = client.post("/", std::string(100, 'x'), {{"Content-Type", "application/json"}});
    QCOMPARE(small.status, 200L);
    QVERIFY(!flagged.load());
}

void TestHttpServer::expectContinueIsAnswered()
{
    Harness h([](InboundRequest&& request, HttpResponder responder) {
        responder.send(HttpReply::whole(200, "text/plain", std::to_string(request.body.size())));
    });
    HttpClient client(h.url());
    // curl would wait a minute for "100 Continue", far past the whole
    // request's 10 s limit: the request completes only if the server says it.
    client.setExpectContinueTimeout(60s);
    const auto r = client.post("/", std::string(900, 'y'), {{"Expect", "100-continue"}});
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.body, std::string("900"));
}

void TestHttpServer::onFinishedRunsBeforeTheClientSeesTheEnd()
{
    std::atomic<int> finished{0};
    Harness h([&](InboundRequest&&, HttpResponder responder) {
        HttpReply reply;
        reply.chunked = true;
        reply.parts = {{0ms, "a"}, {2ms, "b"}};
        reply.onFinished = [&](bool delivered) { finished += delivered ? 1 : 100; };
        responder.send(std::move(reply));
    });
    HttpClient client(h.url());
    for (int i = 1; i <= 5; ++i) {
        QVERIFY(client.get("/").completed());
        QCOMPARE(finished.load(), i);
    }
}

void TestHttpServer::badPortIsReported()
{
    Harness first([](InboundRequest&&, HttpResponder responder) { responder.send(HttpReply::whole(200, "text/plain", "")); });
    const auto port = static_cast<std::uint16_t>(std::stoi(first.url().substr(first.url().rfind(':') + 1)));
    HttpServer second(HttpServerOptions{"127.0.0.1", port, 1, 1024, std::nullopt}, [](InboundRequest&&, HttpResponder) {});
    bool threw = false;
    try {
        second.start();
    } catch (const std::runtime_error& e) {
        threw = std::string(e.what()).find("127.0.0.1:" + std::to_string(port)) != std::string::npos;
    }
    QVERIFY(threw);
    HttpServer bad(HttpServerOptions{"not-an-ip", 0, 1, 1024, std::nullopt}, [](InboundRequest&&, HttpResponder) {});
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, bad.start());
}

void TestHttpServer::malformedRequestAfterAGoodOneGets400()
{
    Harness h([](InboundRequest&&, HttpResponder responder) { responder.send(HttpReply::whole(200, "text/plain", "ok")); });
    const auto port = static_cast<std::uint16_t>(std::stoi(h.url().substr(h.url().rfind(':') + 1)));
    const std::string got =
        rawExchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost x\r\n\r\n");
    QVERIFY2(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0, got.c_str());
    const auto second = got.find("HTTP/1.1 400 Bad Request\r\n");
    QVERIFY2(second != std::string::npos, got.c_str());
    QVERIFY(got.find("Connection: close\r\n", second) != std::string::npos);
}

// A held request keeps its connection busy until its answer is written;
// after drain() every reply says Connection: close and the server closes
// the connection after it, a request that came before included.
void TestHttpServer::drainClosesConnectionsAfterTheirReplies()
{
    std::mutex mutex;
    std::optional<HttpResponder> held;
    std::atomic<bool> heldArrived{false};
    Harness h([&](InboundRequest&& request, HttpResponder responder) {
        if (request.path() == "/held") {
            std::lock_guard guard(mutex);
            held = std::move(responder);
            heldArrived = true;
            return;
        }
        responder.send(HttpReply::whole(200, "text/plain", "now"));
    });
    QCOMPARE(h.server().busyConnections(), std::size_t(0));
    const int heldFd = connectLoopback(h.server().port());
    QVERIFY(heldFd >= 0);
    const std::string heldRequest = "GET /held HTTP/1.1\r\nHost: x\r\n\r\n";
    QCOMPARE(::send(heldFd, heldRequest.data(), heldRequest.size(), 0), static_cast<ssize_t>(heldRequest.size()));
    QTRY_VERIFY_WITH_TIMEOUT(heldArrived.load(), 5000);
    QCOMPARE(h.server().busyConnections(), std::size_t(1));

    HttpClient client(h.url());
    QVERIFY(client.get("/").completed());
    // Answered: that connection is idle again once the io thread is past the write.
    QTRY_COMPARE_WITH_TIMEOUT(h.server().busyConnections(), std::size_t(1), 5000);
    QCOMPARE(h.server().openConnections(), std::size_t(2));

    h.server().drain();
    {
        std::lock_guard guard(mutex);
        held->send(HttpReply::whole(200, "text/plain", "late"));
    }
    bool closed = false;
    const std::string reply = readUntilClosed(heldFd, &closed);
    QVERIFY2(closed, "the server kept the held request's connection open after its reply");
    QVERIFY2(reply.find("Connection: close") != std::string::npos, reply.c_str());
    QVERIFY2(reply.ends_with("late"), reply.c_str());
    QTRY_COMPARE_WITH_TIMEOUT(h.server().busyConnections(), std::size_t(0), 5000);

    const int freshFd = connectLoopback(h.server().port());
    const std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    QCOMPARE(::send(freshFd, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
    const std::string fresh = readUntilClosed(freshFd, &closed);
    QVERIFY2(closed, "the server kept a new connection open after its reply");
    QVERIFY2(fresh.starts_with("HTTP/1.1 200") && fresh.find("Connection: close") != std::string::npos, fresh.c_str());
    QVERIFY2(fresh.ends_with("now"), fresh.c_str());
    QTRY_COMPARE_WITH_TIMEOUT(h.server().busyConnections(), std::size_t(0), 5000);
}

QTEST_APPLESS_MAIN(TestHttpServer)
#include "tst_http_server.moc"
