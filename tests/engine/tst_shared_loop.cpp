// One event loop for the gateway's connections and the dispatcher's
// transfers (net::EventLoop, gateway::LoopTransport): an HttpServer on a
// loop that a thread of the test drives runs its handler on that thread
// and writes answers given there, inside a handler or out of one, and
// answers given on other threads; stop() closes its connections on the
// loop (a held request's peer-gone callback runs) while the loop goes on.
// libcurl driven through the loop's descriptor watches and timer completes
// many transfers at once, passes a stream through as it arrives, aborts
// one, and reports a refused connection. One runFor runs at most a batch of
// handlers, and an owner's `between` runs inside it after a handler that
// handed work over: a job a loop handler submits to a dispatcher on the
// loop is on the provider's socket before the next handler runs. Real HTTP
// over loopback; waits are on conditions, never sleeps.
#include "admission/admission.h"
#include "core/clock.h"
#include "core/unique_fd.h"
#include "dispatch/dispatcher.h"
#include "gateway/loop_transport.h"
#include "net/event_loop.h"
#include "net/http_server.h"
#include "support/http_client.h"
#include "support/scripted_dispatch.h"
#include "support/scripted_upstream.h"

#include <QtTest>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

// Drives a loop on a thread of its own, as the dispatcher does.
class Driver {
public:
    explicit Driver(net::EventLoop& loop)
        : m_loop(loop), m_thread([this] {
              m_id = std::this_thread::get_id();
              m_started.set_value();
              while (!m_stop.load()) {
                  m_loop.runFor(50ms);
              }
          })
    {
        m_started.get_future().wait();
    }
    ~Driver() { stop(); }
    void stop()
    {
        m_stop = true;
        m_loop.wakeup();
        if (m_thread.joinable()) {
            m_thread.join();
        }
    }
    std::thread::id id() const { return m_id; }

private:
    net::EventLoop& m_loop;
    std::atomic<bool> m_stop{false};
    std::promise<void> m_started;
    std::thread::id m_id;
    std::thread m_thread;
};

std::string url(std::uint16_t port)
{
    return "http://127.0.0.1:" + std::to_string(port);
}

// Pipes watched on a loop for reading, each made ready by one byte: the
// handler of pipe i reads its byte and calls onRead(i). The watches end
// before the pipes close.
class ReadyPipes {
public:
    ReadyPipes(net::EventLoop& loop, std::size_t count, std::function<void(std::size_t)> onRead)
        : m_onRead(std::move(onRead))
    {
        for (std::size_t i = 0; i < count; ++i) {
            int fds[2];
            if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
                throw std::runtime_error("pipe2 failed");
            }
            m_read.emplace_back(fds[0]);
            m_write.emplace_back(fds[1]);
            m_watches.push_back(std::make_unique<net::FdWatch>(loop, fds[0], [this, i](bool readable, bool) {
                char byte = 0;
                if (readable && ::read(m_read[i].get(), &byte, 1) == 1) {
                    m_onRead(i);
                }
            }));
            m_watches.back()->set(net::FdWatch::kReadable);
        }
    }
    ~ReadyPipes() { m_watches.clear(); }
    ReadyPipes(const ReadyPipes&) = delete;
    ReadyPipes& operator=(const ReadyPipes&) = delete;

    // Makes pipes first .. first + count - 1 readable; false if a write failed.
    bool ready(std::size_t first, std::size_t count)
    {
        for (std::size_t i = first; i < first + count; ++i) {
            if (::write(m_write[i].get(), "x", 1) != 1) {
                return false;
            }
        }
        return true;
    }

private:
    std::function<void(std::size_t)> m_onRead;
    std::vector<UniqueFd> m_read;
    std::vector<UniqueFd> m_write;
    std::vector<std::unique_ptr<net::FdWatch>> m_watches;
};

// A connection to 127.0.0.1:port that has sent `request`; an empty
// UniqueFd when either failed.
UniqueFd sentRequest(std::uint16_t port, std::string_view request)
{
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0
        || ::send(fd.get(), request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) {
        return UniqueFd();
    }
    return fd;
}

// One HTTP/1.1 request (head and Content-Length body) read from a
// blocking socket; what came before the connection ended or 10 s passed.
std::string readRequest(int fd)
{
    timeval limit{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    std::string got;
    char buf[4096];
    for (;;) {
        const std::size_t head = got.find("\r\n\r\n");
        if (head != std::string::npos) {
            const std::size_t at = got.find("Content-Length: ");
            const std::size_t body = at != std::string::npos && at < head ? std::stoul(got.substr(at + 16)) : 0;
            if (got.size() >= head + 4 + body) {
                return got;
            }
        }
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return got;
        }
        got.append(buf, static_cast<std::size_t>(n));
    }
}

// A transport that counts its polls, around the real one.
class CountingTransport final : public Transport {
public:
    explicit CountingTransport(Transport& inner) : m_inner(inner) {}
    TransferId start(http::HttpRequest request, http::TransferHandlers handlers) override
    {
        return m_inner.start(std::move(request), std::move(handlers));
    }
    void abort(TransferId id) override { m_inner.abort(id); }
    void poll(Duration timeout) override
    {
        ++polls;
        m_inner.poll(timeout);
    }
    void pollWithHandoffs(Duration timeout, const std::function<void()>& between) override
    {
        ++polls;
        m_inner.pollWithHandoffs(timeout, between);
    }
    void wakeup() override { m_inner.wakeup(); }

    std::atomic<int> polls{0};

private:
    Transport& m_inner;
};

bool readable(int fd)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

// Runs the loop on this thread until `done`, at most 2,000 turns; false if
// it never was.
bool driveUntil(net::EventLoop& loop, const std::function<bool()>& done)
{
    for (int turn = 0; turn < 2000 && !done(); ++turn) {
        loop.runFor(10ms);
    }
    return done();
}

// What arrived on `fd` while the loop ran, until it holds `end`.
std::string receivedUntil(net::EventLoop& loop, int fd, std::string_view end)
{
    std::string got;
    driveUntil(loop, [&] {
        char buf[4096];
        for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0;) {
            got.append(buf, static_cast<std::size_t>(n));
        }
        return got.find(end) != std::string::npos;
    });
    return got;
}

}  // namespace

class TestSharedLoop : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void serverRunsOnTheDriverThread();
    void stopClosesConnectionsWhileTheLoopRuns();
    void curlTransfersRunOnTheLoop();
    void runForRunsOneBatchAndLeavesTheRestReady();
    void runForReturnsAfterAHandlerThatWokeIt();
    void betweenRunsAfterAHandlerThatWokeItAndTheBatchGoesOn();
    void aJobSubmittedOnTheLoopGoesUpstreamBeforeTheNextHandler();
    void repliesInAScopeAreWrittenWhenItCloses();
    void directRepliesKeepTheOrderOfWorkHandedOverBefore();
    void aBodyThatCameWithItsHeadCostsNoTurn();
};

void TestSharedLoop::serverRunsOnTheDriverThread()
{
    net::EventLoop loop;
    Driver driver(loop);
    std::mutex mutex;
    std::vector<std::thread::id> handlerThreads;
    std::vector<net::HttpResponder> held;
    std::vector<std::shared_ptr<net::LoopTimer>> timers;
    net::HttpServerOptions opt;
    opt.loop = &loop;
    net::HttpServer server(opt, [&](net::InboundRequest&& r, net::HttpResponder responder) {
        std::lock_guard guard(mutex);
        handlerThreads.push_back(std::this_thread::get_id());
        if (r.path() == "/now") {
            responder.send(net::HttpReply::whole(200, "text/plain", "now"));
        } else if (r.path() == "/later") {
            // Answered on the driver thread, but after the handler returned.
            auto shared = std::make_shared<net::HttpResponder>(std::move(responder));
            auto timer = std::make_shared<net::LoopTimer>(loop, [shared] {
                shared->send(net::HttpReply::whole(200, "text/plain", "later"));
            });
            timer->arm(5ms);
            timers.push_back(timer);
        } else {
            held.push_back(std::move(responder));
        }
    });
    const std::uint16_t port = server.start();

    test::HttpClient now(url(port));
    QCOMPARE(now.get("/now").body, std::string("now"));
    QCOMPARE(now.get("/later").body, std::string("later"));
    // Answered from this thread, not the loop's: through the inbox.
    auto foreign = std::async(std::launch::async, [port] { return test::HttpClient(url(port)).get("/held"); });
    QTRY_COMPARE_WITH_TIMEOUT(([&] { std::lock_guard g(mutex); return held.size(); })(), std::size_t(1), 20'000);
    {
        std::lock_guard guard(mutex);
        held.front().send(net::HttpReply::whole(200, "text/plain", "foreign"));
    }
    QCOMPARE(foreign.wait_for(20s), std::future_status::ready);
    QCOMPARE(foreign.get().body, std::string("foreign"));
    std::lock_guard guard(mutex);
    QCOMPARE(handlerThreads.size(), std::size_t(3));
    for (const auto& id : handlerThreads) {
        QVERIFY(id == driver.id());
    }
    timers.clear();
}

void TestSharedLoop::stopClosesConnectionsWhileTheLoopRuns()
{
    net::EventLoop loop;
    Driver driver(loop);
    std::atomic<int> gone{0};
    std::atomic<int> arrived{0};
    std::vector<net::HttpResponder> held;  // touched on the driver thread only
    net::HttpServerOptions opt;
    opt.loop = &loop;
    auto server = std::make_unique<net::HttpServer>(opt, [&](net::InboundRequest&&, net::HttpResponder responder) {
        responder.onPeerGone([&gone] { ++gone; });
        held.push_back(std::move(responder));
        ++arrived;
    });
    const std::uint16_t port = server->start();
    auto waiting = std::async(std::launch::async, [port] { return test::HttpClient(url(port)).get("/held"); });
    QTRY_COMPARE_WITH_TIMEOUT(arrived.load(), 1, 20'000);
    server->stop();
    QCOMPARE(gone.load(), 1);
    QCOMPARE(waiting.wait_for(20s), std::future_status::ready);
    QVERIFY(!waiting.get().completed());
    loop.call([&] { held.clear(); });
    QTRY_COMPARE_WITH_TIMEOUT(server->openConnections(), std::size_t(0), 20'000);
    // The loop goes on: a new server on it serves.
    server = std::make_unique<net::HttpServer>(opt, [](net::InboundRequest&&, net::HttpResponder responder) {
        responder.send(net::HttpReply::whole(200, "text/plain", "again"));
    });
    QCOMPARE(test::HttpClient(url(server->start())).get("/").body, std::string("again"));
    server->stop();
}

void TestSharedLoop::curlTransfersRunOnTheLoop()
{
    // The upstream: io threads of its own; /stream sends three chunks 20 ms
    // apart, /hang never answers.
    net::HttpServer upstream(net::HttpServerOptions{}, [](net::InboundRequest&& r, net::HttpResponder responder) {
        responder.send(test::scriptedReply(r));
    });
    const std::string base = url(upstream.start());
    net::EventLoop loop;
    gateway::LoopTransport transport(loop);

    constexpr int kMany = 100;
    std::vector<http::HttpResult> results(kMany);
    int done = 0;
    for (int i = 0; i < kMany; ++i) {
        http::HttpRequest req;
        req.method = "GET";
        req.url = base + "/r" + std::to_string(i);
        transport.start(std::move(req), {nullptr, nullptr, [&, i](http::HttpResult&& r) {
                                             results[i] = std::move(r);
                                             ++done;
                                         },
                                         nullptr});
    }
    QVERIFY(test::pollUntil(transport, [&] { return done == kMany; }));
    for (int i = 0; i < kMany; ++i) {
        QCOMPARE(results[i].status, 200L);
        QCOMPARE(results[i].body, "body of /r" + std::to_string(i));
    }

    // A stream arrives in pieces, as sent.
    const std::optional<std::string> whole = test::streamedInPieces(transport, base);
    QVERIFY(whole.has_value());
    QCOMPARE(*whole, std::string("one two three"));

    // Aborted while the upstream holds it open; a refused connection.
    std::optional<http::TransportError> hung;
    bool headSeen = false;
    http::HttpRequest h;
    h.method = "GET";
    h.url = base + "/hang";
    const auto id = transport.start(std::move(h), {[&](long, const http::HeaderMap&) { headSeen = true; },
                                                   [](std::string_view) { return true; },
                                                   [&](http::HttpResult&& r) { hung = r.error; }, nullptr});
    QVERIFY(test::pollUntil(transport, [&] { return headSeen; }));
    QVERIFY(!hung);
    transport.abort(id);
    QCOMPARE(hung, std::optional(http::TransportError::Aborted));
    upstream.stop();
    std::optional<http::TransportError> refused;
    http::HttpRequest gone;
    gone.method = "GET";
    gone.url = base + "/after";
    transport.start(std::move(gone), {nullptr, nullptr, [&](http::HttpResult&& r) { refused = r.error; }, nullptr});
    QVERIFY(test::pollUntil(transport, [&] { return refused.has_value(); }));
    QCOMPARE(*refused, http::TransportError::ConnectFailed);
}

// Five descriptors ready at once on a loop whose batch is two: each runFor
// runs two of their handlers and returns, and the next call runs more
// without waiting for its (long) timeout, so the driver gets its turn
// between batches and nothing ready is left behind.
void TestSharedLoop::runForRunsOneBatchAndLeavesTheRestReady()
{
    net::EventLoop loop(2);
    int ran = 0;
    ReadyPipes pipes(loop, 5, [&ran](std::size_t) { ++ran; });
    QVERIFY(pipes.ready(0, 5));
    loop.runFor(Duration::zero());
    QCOMPARE(ran, 2);
    loop.runFor(std::chrono::hours(1));
    QCOMPARE(ran, 4);
    loop.runFor(std::chrono::hours(1));
    QCOMPARE(ran, 5);
}

// A handler that hands the driver's owner work (the gateway's: a request
// submitted to the dispatcher) ends the batch, so that work is not held up
// by the handlers still ready; they run in the next call, at once.
void TestSharedLoop::runForReturnsAfterAHandlerThatWokeIt()
{
    net::EventLoop loop;  // the default batch, more than the five ready
    int ran = 0;
    ReadyPipes pipes(loop, 5, [&](std::size_t) {
        if (++ran == 2) {
            loop.wakeup();
        }
    });
    QVERIFY(pipes.ready(0, 5));
    loop.runFor(Duration::zero());
    QCOMPARE(ran, 2);
    // The wake-up was for the call that returned: this one neither stops
    // early nor waits.
    loop.runFor(std::chrono::hours(1));
    QCOMPARE(ran, 5);
}

// An owner that takes handed-over work up itself (runFor with `between`,
// the dispatcher's): after a handler that called wakeup(), `between` runs
// before the next handler and the batch goes on; a handler that hands
// nothing over gets no call, and neither does a batch where none did.
void TestSharedLoop::betweenRunsAfterAHandlerThatWokeItAndTheBatchGoesOn()
{
    net::EventLoop loop;  // the default batch, more than the five ready
    std::vector<std::string> order;
    int ran = 0;
    ReadyPipes pipes(loop, 6, [&](std::size_t) {
        order.push_back("handler");
        if (++ran == 2 || ran == 3) {
            loop.wakeup();
        }
    });
    const std::function<void()> between = [&] { order.push_back("between"); };
    QVERIFY(pipes.ready(0, 5));
    loop.runFor(Duration::zero(), between);
    QCOMPARE(order, (std::vector<std::string>{"handler", "handler", "between", "handler", "between", "handler",
                                              "handler"}));
    order.clear();
    QVERIFY(pipes.ready(5, 1));
    loop.runFor(std::chrono::hours(1), between);
    QCOMPARE(order, (std::vector<std::string>{"handler"}));
}

// The dispatcher on the shared loop: a job that a handler of the loop
// submits (the gateway's, for a request it read) is on the provider's
// socket before the loop's next handler runs, within the same poll of the
// transport (the dispatcher's loop did not turn for it). A burst of
// requests read in one batch used to wait for the whole batch.
void TestSharedLoop::aJobSubmittedOnTheLoopGoesUpstreamBeforeTheNextHandler()
{
    // The provider: a socket this test answers by hand.
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    QVERIFY(listener.valid());
    QVERIFY(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    QVERIFY(::listen(listener.get(), 4) == 0);
    QVERIFY(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);

    net::EventLoop loop;
    gateway::LoopTransport loopTransport(loop);
    CountingTransport transport(loopTransport);
    SystemClock clock;
    Admission admission(clock);
    test::OutcomeRecorder recorder;
    DispatcherOptions opt;
    opt.transport = &transport;
    Dispatcher dispatcher(test::fakeProviderConfig({{"base_url", url(ntohs(addr.sin_port))}}), clock, admission,
                          recorder, opt);
    dispatcher.start();

    // A first job leaves a kept-alive connection behind.
    dispatcher.submit(test::chatJob("first"));
    const UniqueFd upstream(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    QVERIFY(upstream.valid());
    QVERIFY(readRequest(upstream.get()).find("POST /v1/chat/completions") == 0);
    const std::string answer =
        R"({"id":"c1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}})";
    const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                              + std::to_string(answer.size()) + "\r\n\r\n" + answer;
    QVERIFY(::send(upstream.get(), reply.data(), reply.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(reply.size()));
    QVERIFY(recorder.waitFor(1));
    QCOMPARE(recorder.outcome("first").result, JobResult::Completed);

    // Three pipes on the loop: the first holds its handler until the other
    // two are ready, so their handlers run in one batch. Of those, the
    // first submits a job, the second looks at the provider's socket.
    std::promise<void> entered;
    std::promise<void> open;
    std::shared_future<void> opened = open.get_future().share();
    std::promise<void> looked;
    int seen = 0;
    int pollsAtSubmit = -1;
    int pollsAtLook = -1;
    bool onTheWire = false;
    std::unique_ptr<ReadyPipes> pipes;
    // A check that fails below must not leave the loop's thread held
    // (released before the pipes go).
    struct Release {
        std::promise<void>& gate;
        bool done = false;
        void now()
        {
            if (!done) {
                done = true;
                gate.set_value();
            }
        }
        ~Release() { now(); }
    } release{open};
    loop.call([&] {
        pipes = std::make_unique<ReadyPipes>(loop, 3, [&](std::size_t i) {
            if (i == 0) {
                entered.set_value();
                opened.wait();
            } else if (seen++ == 0) {
                pollsAtSubmit = transport.polls.load();
                dispatcher.submit(test::chatJob("second"));
            } else {
                pollsAtLook = transport.polls.load();
                char byte = 0;
                onTheWire = ::recv(upstream.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
                looked.set_value();
            }
        });
    });
    QVERIFY(pipes);
    QVERIFY(pipes->ready(0, 1));
    QVERIFY(entered.get_future().wait_for(10s) == std::future_status::ready);
    QVERIFY(pipes->ready(1, 2));
    release.now();
    QVERIFY(looked.get_future().wait_for(10s) == std::future_status::ready);
    QVERIFY(onTheWire);
    QCOMPARE(pollsAtLook, pollsAtSubmit);
    QVERIFY(readRequest(upstream.get()).find("\"content\":\"second\"") != std::string::npos);
    loop.call([&] { pipes.reset(); });
    dispatcher.stop();
}

// Replies given under a DirectReplies scope (as the gateway gives the
// answers it read from the provider's sockets) are written together when
// the outermost scope closes, before the code that opened it goes on: a
// client then wakes once for all of them. A reply given outside any scope
// is posted to the connection's next turn.
void TestSharedLoop::repliesInAScopeAreWrittenWhenItCloses()
{
    net::EventLoop loop;
    std::map<std::string, net::HttpResponder> held;
    net::HttpServerOptions opt;
    opt.loop = &loop;
    net::HttpServer server(opt, [&](net::InboundRequest&& r, net::HttpResponder responder) {
        held.emplace(std::string(r.path()), std::move(responder));
    });
    const std::uint16_t port = server.start();
    const UniqueFd first = sentRequest(port, "GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
    const UniqueFd second = sentRequest(port, "GET /second HTTP/1.1\r\nHost: t\r\n\r\n");
    const UniqueFd posted = sentRequest(port, "GET /posted HTTP/1.1\r\nHost: t\r\n\r\n");
    QVERIFY(first.valid() && second.valid() && posted.valid());
    QVERIFY(driveUntil(loop, [&] { return held.size() == 3; }));
    // [0]: inside the scopes; [1]: after the inner one closed; [2]: after the outer one.
    std::optional<bool> firstOnSocket[3];
    std::optional<bool> secondOnSocket[3];
    std::optional<bool> postedAtOnce;
    ReadyPipes pipes(loop, 2, [&](std::size_t i) {
        if (i == 0) {
            {
                const net::DirectReplies outer(loop);
                held.at("/first").send(net::HttpReply::whole(200, "text/plain", "first"));
                {
                    const net::DirectReplies inner(loop);
                    held.at("/second").send(net::HttpReply::whole(200, "text/plain", "second"));
                    firstOnSocket[0] = readable(first.get());
                    secondOnSocket[0] = readable(second.get());
                }
                firstOnSocket[1] = readable(first.get());
                secondOnSocket[1] = readable(second.get());
            }
            firstOnSocket[2] = readable(first.get());
            secondOnSocket[2] = readable(second.get());
        } else {
            held.at("/posted").send(net::HttpReply::whole(200, "text/plain", "posted"));
            postedAtOnce = readable(posted.get());
        }
    });
    QVERIFY(pipes.ready(0, 2));
    QVERIFY(driveUntil(loop, [&] { return firstOnSocket[2] && postedAtOnce; }));
    for (int at = 0; at < 2; ++at) {
        QCOMPARE(*firstOnSocket[at], false);
        QCOMPARE(*secondOnSocket[at], false);
    }
    QCOMPARE(*firstOnSocket[2], true);
    QCOMPARE(*secondOnSocket[2], true);
    QCOMPARE(*postedAtOnce, false);
    QVERIFY(receivedUntil(loop, first.get(), "\r\n\r\nfirst").starts_with("HTTP/1.1 200"));
    QVERIFY(receivedUntil(loop, second.get(), "\r\n\r\nsecond").starts_with("HTTP/1.1 200"));
    QVERIFY(receivedUntil(loop, posted.get(), "\r\n\r\nposted").starts_with("HTTP/1.1 200"));
}

// A stream opened outside a DirectReplies scope starts on the loop's next
// turn; what is written to it under a scope before then waits behind it
// instead of overtaking it (and being dropped by a session not yet
// streaming).
void TestSharedLoop::directRepliesKeepTheOrderOfWorkHandedOverBefore()
{
    net::EventLoop loop;
    std::optional<net::HttpResponder> held;
    net::HttpServerOptions opt;
    opt.loop = &loop;
    net::HttpServer server(opt, [&](net::InboundRequest&&, net::HttpResponder responder) { held = std::move(responder); });
    const UniqueFd client = sentRequest(server.start(), "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    QVERIFY(client.valid());
    QVERIFY(driveUntil(loop, [&] { return held.has_value(); }));
    ReadyPipes pipes(loop, 1, [&](std::size_t) {
        net::HttpReply head;
        head.headers.emplace_back("content-type", "text/event-stream");
        const std::shared_ptr<net::HttpStream> stream = held->stream(std::move(head));
        const net::DirectReplies scope(loop);
        stream->write("data: first\n\n");
        stream->end();
    });
    QVERIFY(pipes.ready(0, 1));
    const std::string got = receivedUntil(loop, client.get(), "0\r\n\r\n");
    QVERIFY2(got.find("data: first") != std::string::npos, got.c_str());
    QVERIFY(got.find("HTTP/1.1 200") < got.find("data: first"));
}

// A request whose body arrived with its head is parsed from what was
// already read: it reaches the handler in as many turns of the loop as a
// request without a body, not one more (a read that finishes at once
// posts its completion to the next turn).
void TestSharedLoop::aBodyThatCameWithItsHeadCostsNoTurn()
{
    net::EventLoop loop(1);  // one handler per turn: turns count handlers
    int delivered = 0;
    std::string body;
    net::HttpServerOptions opt;
    opt.loop = &loop;
    net::HttpServer server(opt, [&](net::InboundRequest&& r, net::HttpResponder responder) {
        ++delivered;
        if (r.method == "POST") {
            body = r.body;
        }
        responder.send(net::HttpReply::whole(200, "text/plain", "ok"));
    });
    const std::uint16_t port = server.start();
    std::vector<UniqueFd> clients;  // open to the end: a close would take turns of its own
    const auto turnsToDeliver = [&](std::string_view request) {
        const int before = delivered;
        clients.push_back(sentRequest(port, request));
        int turns = 0;
        while (clients.back().valid() && delivered == before && turns < 100) {
            loop.runFor(1s);
            ++turns;
        }
        receivedUntil(loop, clients.back().get(), "ok");
        return turns;
    };
    turnsToDeliver("GET /first HTTP/1.1\r\nHost: t\r\n\r\n");  // the first accept differs from the rest
    const int withoutBody = turnsToDeliver("GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    const int withBody = turnsToDeliver("POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}");
    const int withoutBodyAgain = turnsToDeliver("GET /c HTTP/1.1\r\nHost: t\r\n\r\n");
    qInfo("turns: %d without a body, %d with, %d without", withoutBody, withBody, withoutBodyAgain);
    QCOMPARE(delivered, 4);
    QCOMPARE(body, std::string(R"({"a":"bcd"})"));
    QVERIFY(withoutBody < 100);
    QCOMPARE(withoutBodyAgain, withoutBody);
    QCOMPARE(withBody, withoutBody);
}

QTEST_GUILESS_MAIN(TestSharedLoop)
#include "tst_shared_loop.moc"
