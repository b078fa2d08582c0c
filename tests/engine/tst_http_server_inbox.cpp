// The server's inbox: answers given on other threads (a relayed response,
// as the gateway's dispatcher thread gives them) queue for the io threads
// and are announced on an eventfd. Many answers given at once from one
// foreign thread each reach their own connection; an answer given after
// stop() goes nowhere; a server started again takes foreign answers again.
// Real HTTP over loopback with libcurl; waits are on conditions, never sleeps.
#include "net/http_server.h"
#include "support/http_client.h"

#include <QtTest>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

using namespace sluice;
using namespace sluice::net;
using sluice::test::HttpClient;
using namespace std::chrono_literals;

namespace {

// Keeps every responder the handler is given, so the test answers them
// itself, from its own thread.
struct Held {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::pair<std::string, HttpResponder>> responders;  // request body, responder

    HttpHandler handler()
    {
        return [this](InboundRequest&& request, HttpResponder responder) {
            std::lock_guard guard(mutex);
            responders.emplace_back(std::move(request.body), std::move(responder));
            cv.notify_all();
        };
    }
    bool waitFor(std::size_t n)
    {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, 30s, [&] { return responders.size() >= n; });
    }
    std::vector<std::pair<std::string, HttpResponder>> take()
    {
        std::lock_guard guard(mutex);
        return std::exchange(responders, {});
    }
};

}  // namespace

class TestHttpServerInbox : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void manyForeignAnswersReachTheirConnections();
    void answerAfterStopGoesNowhere();
};

void TestHttpServerInbox::manyForeignAnswersReachTheirConnections()
{
    constexpr std::size_t kClients = 24;
    Held held;
    HttpServer server(HttpServerOptions{"127.0.0.1", 0, 1, 1024, {}}, held.handler());
    const std::string url = "http://127.0.0.1:" + std::to_string(server.start());
    std::vector<std::future<sluice::test::HttpResponse>> replies;
    for (std::size_t i = 0; i < kClients; ++i) {
        replies.push_back(std::async(std::launch::async, [url, i] {
            HttpClient client(url);
            return client.post("/", "client " + std::to_string(i), {});
        }));
    }
    QVERIFY(held.waitFor(kClients));
    // All answered in one burst from one thread: several are queued before
    // the io thread takes the first, and each must still find its own
    // connection, in any order.
    std::thread answerer([all = held.take()]() mutable {
        for (auto& [body, responder] : all) {
            responder.send(HttpReply::whole(200, "text/plain", "answer to " + body));
        }
    });
    answerer.join();
    for (std::size_t i = 0; i < kClients; ++i) {
        const auto r = replies[i].get();
        QVERIFY2(r.completed(), r.error.c_str());
        QCOMPARE(r.status, 200L);
        QCOMPARE(r.body, "answer to client " + std::to_string(i));
    }
    server.stop();
}

void TestHttpServerInbox::answerAfterStopGoesNowhere()
{
    Held held;
    HttpServer server(HttpServerOptions{"127.0.0.1", 0, 1, 1024, {}}, held.handler());
    const std::string url = "http://127.0.0.1:" + std::to_string(server.start());
    auto pending = std::async(std::launch::async, [url] { return HttpClient(url).post("/", "early", {}); });
    QVERIFY(held.waitFor(1));
    server.stop();
    // The connection closed with the server: the client sees no answer.
    QVERIFY(!pending.get().completed());
    // Answered after the stop, from another thread: dropped, no crash.
    std::thread late([all = held.take()]() mutable {
        for (auto& [body, responder] : all) {
            responder.send(HttpReply::whole(200, "text/plain", "too late for " + body));
        }
    });
    late.join();

    // Started again, the server takes answers from other threads again.
    const std::string again = "http://127.0.0.1:" + std::to_string(server.start());
    auto second = std::async(std::launch::async, [again] { return HttpClient(again).post("/", "second", {}); });
    QVERIFY(held.waitFor(1));
    std::thread answerer([all = held.take()]() mutable {
        for (auto& [body, responder] : all) {
            responder.send(HttpReply::whole(200, "text/plain", "answer to " + body));
        }
    });
    answerer.join();
    const auto r = second.get();
    QVERIFY2(r.completed(), r.error.c_str());
    QCOMPARE(r.body, std::string("answer to second"));
    server.stop();
}

QTEST_GUILESS_MAIN(TestHttpServerInbox)
#include "tst_http_server_inbox.moc"
