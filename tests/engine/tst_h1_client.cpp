// Sluice's own HTTP/1.1 client and its parts. ResponseParser as a table:
// every framing (length, chunks with extensions and trailers, the end of
// the connection, none for HEAD/204), interim 1xx heads, keep-alive rules
// and malformed input, each fed whole, split at every byte, and a byte at
// a time; the headers it keeps (HeaderMap: lower-case names, last values,
// arrival order). H1Client over real loopback sockets against a scripted raw
// server: a kept-alive connection is reused; a reused connection the
// server closes is sent on once more and a fresh one is not; an answer cut
// short is an error; a body over the limit; an 8 MB request body sent as
// the server makes room for it; an abort; a name looked up off
// the thread. TLS against a Python server with a certificate made for the
// test: accepted with its CA (a 3 MB body each way too), refused without it
// and for the wrong name.
#include "http/h1_client.h"
#include "http/header_text.h"
#include "http/resolver.h"
#include "http/response_parser.h"
#include "http/url.h"
#include "support/scripted_upstream.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct Collect final : http::ResponseParser::Sink {
    int heads = 0;
    long status = 0;
    std::string body;
    std::size_t stopAfter = std::string::npos;
    http::HeaderMap headers;
    void onHead(long s, http::HeaderMap& h) override
    {
        ++heads;
        status = s;
        headers = h;
    }
    bool onBody(std::string_view b) override
    {
        body.append(b);
        return body.size() < stopAfter;
    }
};

// Feeds `text` in pieces of `step` bytes (0: whole); returns the bytes used.
std::size_t feedIn(http::ResponseParser& p, Collect& sink, std::string_view text, std::size_t step)
{
    std::size_t used = 0;
    if (step == 0) {
        return p.feed(text, sink);
    }
    for (std::size_t i = 0; i < text.size() && (p.state() == http::ResponseParser::State::Head || p.state() == http::ResponseParser::State::Body); i += step) {
        used += p.feed(text.substr(i, step), sink);
    }
    return used;
}

// A TCP server on 127.0.0.1 whose connections, one at a time in the order
// they come, are handed to `serve` (the connection's index, its fd).
class RawServer {
public:
    explicit RawServer(std::function<void(int index, int fd)> serve) : m_serve(std::move(serve))
    {
        m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        ::bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(m_fd, 16);
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &len);
        m_port = ntohs(a.sin_port);
        m_thread = std::thread([this] {
            for (int index = 0; !m_stop; ++index) {
                pollfd p{m_fd, POLLIN, 0};
                if (::poll(&p, 1, 50) <= 0) {
                    --index;
                    continue;
                }
                const int c = ::accept(m_fd, nullptr, nullptr);
                if (c < 0) {
                    continue;
                }
                ++accepted;
                m_serve(index, c);
                ::close(c);
            }
        });
    }
    ~RawServer()
    {
        m_stop = true;
        m_thread.join();
        ::close(m_fd);
    }
    std::string url(const std::string& path = "/x") const { return "http://127.0.0.1:" + std::to_string(m_port) + path; }
    std::atomic<int> accepted{0};

private:
    std::function<void(int, int)> m_serve;
    int m_fd = -1;
    std::uint16_t m_port = 0;
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
};

// Reads one request's head (and a Content-Length body); false at the end.
bool readRequest(int fd)
{
    std::string got;
    char buf[4096];
    while (got.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return false;
        }
        got.append(buf, static_cast<std::size_t>(n));
    }
    return true;
}

void sendText(int fd, std::string_view text)
{
    while (!text.empty()) {
        const ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            return;
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string okReply(std::string_view body)
{
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

struct Outcome {
    bool done = false;
    http::HttpResult result;
};

http::TransferHandlers into(Outcome& o)
{
    return {nullptr, nullptr, [&o](http::HttpResult&& r) {
                o.result = std::move(r);
                o.done = true;
            },
            nullptr};
}

http::HttpRequest get(const std::string& url)
{
    http::HttpRequest r;
    r.method = "GET";
    r.url = url;
    return r;
}

}  // namespace

class TestH1Client : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void parserFraming_data();
    void parserFraming();
    void parserRefusesMalformed_data();
    void parserRefusesMalformed();
    void parserStopsWhenTheSinkSaysSo();
    void parserHeaders();
    void headerMapIsAMapOfLastValues();
    void urls();
    void keptAliveConnectionIsReused();
    void reusedConnectionClosedUnderARequestIsSentOnceMore();
    void freshConnectionClosedIsAnErrorNotARetry();
    void answerCutShortIsAReset();
    void bodyOverTheLimit();
    void largeBodyGoesOutInPieces();
    void requestHeadBytesAreExact();
    void abortInFlightAndOnDestruction();
    void nameLookedUpOffTheThread();
    void tlsVerified();

private:
    std::unique_ptr<RawServer> m_raw;
};

void TestH1Client::parserFraming_data()
{
    QTest::addColumn<QByteArray>("wire");
    QTest::addColumn<bool>("head");
    QTest::addColumn<bool>("closeAfter");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("keepAlive");
    QTest::addColumn<int>("extra");  // bytes after the response, not used
    QTest::newRow("length") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhelloNEXT") << false << false << 200
                            << QByteArray("hello") << true << 4;
    QTest::newRow("chunked, extension, trailer")
        << QByteArray("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\nWiki\r\n5\r\npedia\r\n0\r\nT: v\r\n\r\n") << false
        << false << 201 << QByteArray("Wikipedia") << true << 0;
    QTest::newRow("interim 100 first") << QByteArray("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") << false
                                       << false << 200 << QByteArray("ok") << true << 0;
    QTest::newRow("HEAD has no body") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n") << true << false << 200 << QByteArray()
                                      << true << 0;
    QTest::newRow("204 has no body") << QByteArray("HTTP/1.1 204 No Content\r\n\r\n") << false << false << 204 << QByteArray() << true << 0;
    QTest::newRow("until close") << QByteArray("HTTP/1.1 200 OK\r\n\r\nall of it") << false << true << 200 << QByteArray("all of it") << false
                                 << 0;
    QTest::newRow("connection: close") << QByteArray("HTTP/1.1 429 Too Many\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n") << false
                                       << false << 429 << QByteArray() << false << 0;
    QTest::newRow("HTTP/1.0") << QByteArray("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx") << false << false << 200 << QByteArray("x")
                              << false << 0;
    QTest::newRow("HTTP/1.0 keep-alive") << QByteArray("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx") << false
                                         << false << 200 << QByteArray("x") << true << 0;
    QTest::newRow("bare LF") << QByteArray("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi") << false << false << 200 << QByteArray("hi") << true << 0;
}

void TestH1Client::parserFraming()
{
    QFETCH(QByteArray, wire);
    QFETCH(bool, head);
    QFETCH(bool, closeAfter);
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(bool, keepAlive);
    QFETCH(int, extra);
    const std::string_view text(wire.constData(), static_cast<std::size_t>(wire.size()));
    // Whole, a byte at a time, and split once at every point.
    std::vector<std::vector<std::size_t>> splits = {{}, {1}};
    for (std::size_t at = 1; at < text.size(); ++at) {
        splits.push_back({at, text.size()});
    }
    for (const auto& split : splits) {
        http::ResponseParser p(head);
        Collect sink;
        std::size_t used = 0;
        if (split.empty()) {
            used = feedIn(p, sink, text, 0);
        } else if (split.size() == 1) {
            used = feedIn(p, sink, text, 1);
        } else {
            used = p.feed(text.substr(0, split[0]), sink);
            if (p.state() == http::ResponseParser::State::Head || p.state() == http::ResponseParser::State::Body) {
                used += p.feed(text.substr(split[0]), sink);
            }
        }
        if (closeAfter) {
            QCOMPARE(p.state(), http::ResponseParser::State::Body);
            p.endOfInput();
        }
        QCOMPARE(p.state(), http::ResponseParser::State::Done);
        QCOMPARE(sink.heads, 1);
        QCOMPARE(sink.status, long(status));
        QCOMPARE(QByteArray::fromStdString(sink.body), body);
        QCOMPARE(p.keepAlive(), keepAlive);
        QCOMPARE(used, text.size() - static_cast<std::size_t>(extra));
    }
}

void TestH1Client::parserRefusesMalformed_data()
{
    QTest::addColumn<QByteArray>("wire");
    QTest::addColumn<bool>("closeAfter");
    QTest::newRow("status not a number") << QByteArray("HTTP/1.1 2x0 OK\r\n\r\n") << false;
    QTest::newRow("not HTTP") << QByteArray("SSH-2.0-OpenSSH\r\n\r\n") << false;
    QTest::newRow("bad length") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: ab\r\n\r\n") << false;
    QTest::newRow("bad chunk size") << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") << false;
    QTest::newRow("chunk without CRLF") << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab") << false;
    QTest::newRow("switching protocols") << QByteArray("HTTP/1.1 101 Switching\r\n\r\n") << false;
    QTest::newRow("head without end") << QByteArray("HTTP/1.1 200 OK\r\nX: ") + QByteArray(70 * 1024, 'a') << false;
    QTest::newRow("more than 1,000 headers") << QByteArray("HTTP/1.1 200 OK\r\n") + QByteArray("x: y\r\n").repeated(1001) + QByteArray("\r\n")
                                             << false;
    QTest::newRow("cut short") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") << true;
    QTest::newRow("nothing at all") << QByteArray() << true;
}

void TestH1Client::parserRefusesMalformed()
{
    QFETCH(QByteArray, wire);
    QFETCH(bool, closeAfter);
    http::ResponseParser p;
    Collect sink;
    feedIn(p, sink, std::string_view(wire.constData(), static_cast<std::size_t>(wire.size())), 0);
    if (closeAfter) {
        p.endOfInput();
    }
    QCOMPARE(p.state(), http::ResponseParser::State::Error);
    QVERIFY(!p.error().empty());
    QVERIFY(!p.keepAlive());
}

void TestH1Client::parserHeaders()
{
    // Names lower-cased, values trimmed, a repeated header's last value in
    // its first place, lines that name nothing skipped, in arrival order.
    const std::string wire = "HTTP/1.1 200 OK\r\nX-Request-ID:  req_1 \r\nContent-Length: 2\r\nno colon here\r\n: nameless\r\n"
                             "x-ratelimit-remaining-requests:\t41\r\nX-REQUEST-id: req_2\r\nEmpty:\r\n\r\nok";
    for (const std::size_t step : {std::size_t{0}, std::size_t{1}}) {
        http::ResponseParser p;
        Collect sink;
        feedIn(p, sink, wire, step);
        QCOMPARE(p.state(), http::ResponseParser::State::Done);
        QCOMPARE(sink.headers.size(), std::size_t{4});
        std::vector<std::pair<std::string, std::string>> seen(sink.headers.begin(), sink.headers.end());
        const std::vector<std::pair<std::string, std::string>> expected = {
            {"x-request-id", "req_2"}, {"content-length", "2"}, {"x-ratelimit-remaining-requests", "41"}, {"empty", ""}};
        QCOMPARE(seen, expected);
        QCOMPARE(sink.headers.at("x-request-id"), std::string("req_2"));
        QVERIFY(!sink.headers.contains("X-Request-ID"));  // names are looked up as stored: lower case
        QCOMPARE(QByteArray::fromStdString(sink.body), QByteArray("ok"));
    }
}

void TestH1Client::headerMapIsAMapOfLastValues()
{
    http::HeaderMap h{{"a", "1"}, {"b", "2"}, {"a", "3"}};
    QCOMPARE(h.size(), std::size_t{2});
    QCOMPARE(h.at("a"), std::string("3"));
    QCOMPARE(h.begin()->first, std::string("a"));
    QVERIFY(!h.emplace("b", "9").second);  // emplace keeps what is there
    QCOMPARE(h.at("b"), std::string("2"));
    const auto [it, added] = h.insert_or_assign("b", "4");
    QVERIFY(!added);
    QCOMPARE(it->second, std::string("4"));
    h["c"] += "5";
    QCOMPARE(h.count("c"), std::size_t{1});
    QCOMPARE(h.at("c"), std::string("5"));
    QVERIFY_THROWS_EXCEPTION(std::out_of_range, h.at("missing"));
    QCOMPARE(h.find("missing"), h.end());
    // Equal whatever the order; not with a value changed or a header more.
    QVERIFY((h == http::HeaderMap{{"c", "5"}, {"a", "3"}, {"b", "4"}}));
    QVERIFY(!(h == http::HeaderMap{{"c", "5"}, {"a", "3"}, {"b", "2"}}));
    QVERIFY(!(h == http::HeaderMap{{"c", "5"}, {"a", "3"}}));
    // Lines as a response head brings them: more than the room made at
    // first, a repeated name (its last value kept, in its first place),
    // blanks around names and values, and lines that name nothing.
    http::HeaderMap many;
    for (int i = 0; i < 40; ++i) {
        QVERIFY(many.addLine("X-Line-" + std::to_string(i) + " :\t value " + std::to_string(i) + " \r\n"));
    }
    QVERIFY(many.addLine("x-LINE-3: again"));
    QVERIFY(many.addLine("no colon here"));
    QVERIFY(many.addLine(": no name"));
    QCOMPARE(many.size(), std::size_t{40});
    QCOMPARE(many.at("x-line-39"), std::string("value 39"));
    QCOMPARE(many.at("x-line-3"), std::string("again"));
    QCOMPARE(std::next(many.begin(), 3)->first, std::string("x-line-3"));
    // Names are lower-cased eight bytes at a time: every byte value, at
    // every place in a word, comes out as one at a time would make it.
    std::string all;
    for (int c = 0; c < 256; ++c) {
        all.push_back(static_cast<char>(c));
    }
    for (std::size_t shift = 0; shift < 8; ++shift) {
        const std::string in = std::string(shift, 'Q') + all;
        const std::string out = http::lowerAscii(in);
        QCOMPARE(out.size(), in.size());
        for (std::size_t i = 0; i < in.size(); ++i) {
            QCOMPARE(out[i], http::lowerAsciiChar(in[i]));
        }
    }
    // addLine() takes kMaxHeaders lines that name a header, repeated names
    // included, and skips the rest without counting them; clear() starts over.
    http::HeaderMap lines;
    for (std::size_t i = 0; i < http::HeaderMap::kMaxHeaders; ++i) {
        QVERIFY(lines.addLine("X-Same: " + std::to_string(i) + "\r\n"));
        QVERIFY(lines.addLine("no colon"));
    }
    QCOMPARE(lines.size(), std::size_t{1});
    QCOMPARE(lines.at("x-same"), std::to_string(http::HeaderMap::kMaxHeaders - 1));
    QVERIFY(!lines.addLine("other: 1"));
    QVERIFY(!lines.contains("other"));
    lines.clear();
    QVERIFY(lines.addLine("other: 1"));
    QCOMPARE(lines.at("other"), std::string("1"));
    QCOMPARE(h.erase("a"), std::size_t{1});
    QCOMPARE(h.erase("a"), std::size_t{0});
    QCOMPARE(h.size(), std::size_t{2});
}

void TestH1Client::parserStopsWhenTheSinkSaysSo()
{
    http::ResponseParser p;
    Collect sink;
    sink.stopAfter = 3;
    const std::string text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n2\r\nef\r\n0\r\n\r\n";
    feedIn(p, sink, text, 1);
    QCOMPARE(p.state(), http::ResponseParser::State::Stopped);
    QCOMPARE(sink.body, std::string("abc"));
}

void TestH1Client::urls()
{
    auto u = http::parseUrl("https://api.example.com/v1/chat?x=1#frag");
    QVERIFY(u);
    QVERIFY(u->tls);
    QCOMPARE(u->port, std::uint16_t(443));
    QCOMPARE(u->target, std::string("/v1/chat?x=1"));
    QCOMPARE(u->hostHeader, std::string("api.example.com"));
    u = http::parseUrl("http://[::1]:8080");
    QVERIFY(u);
    QCOMPARE(u->host, std::string("::1"));
    QCOMPARE(u->target, std::string("/"));
    QCOMPARE(u->hostHeader, std::string("[::1]:8080"));
    QCOMPARE(u->origin, std::string("http://[::1]:8080"));
    std::string why;
    QVERIFY(!http::parseUrl("ftp://x/", &why));
    QVERIFY(!why.empty());
    QVERIFY(!http::parseUrl("http://h:99999/"));
    QVERIFY(!http::parseUrl("http://user:pw@h/"));
    QVERIFY(!http::parseUrl("http:///path"));

    // A bad URL ends its transfer with an error, after start() returned.
    http::H1Client client;
    Outcome o;
    client.start(get("gopher://nowhere"), into(o));
    QVERIFY(!o.done);
    QVERIFY(test::pollUntil(client, [&] { return o.done; }));
    QCOMPARE(o.result.error, http::TransportError::Other);
}

void TestH1Client::keptAliveConnectionIsReused()
{
    std::atomic<int> requests{0};
    RawServer server([&](int, int fd) {
        while (readRequest(fd)) {
            ++requests;
            sendText(fd, okReply("answer"));
        }
    });
    http::H1Client client;
    for (int i = 0; i < 5; ++i) {
        Outcome o;
        client.start(get(server.url()), into(o));
        QVERIFY(test::pollUntil(client, [&] { return o.done; }));
        QCOMPARE(o.result.error, http::TransportError::None);
        QCOMPARE(o.result.body, std::string("answer"));
    }
    QCOMPARE(requests.load(), 5);
    QCOMPARE(server.accepted.load(), 1);
    QCOMPARE(client.connections(), std::size_t(1));
}

void TestH1Client::reusedConnectionClosedUnderARequestIsSentOnceMore()
{
    // The first connection answers one request and closes on the second
    // without a word; the second connection answers.
    std::atomic<int> requests{0};
    RawServer server([&](int index, int fd) {
        while (readRequest(fd)) {
            ++requests;
            if (index == 0 && requests == 2) {
                return;
            }
            sendText(fd, okReply("fine"));
        }
    });
    http::H1Client client;
    Outcome first;
    client.start(get(server.url()), into(first));
    QVERIFY(test::pollUntil(client, [&] { return first.done; }));
    Outcome second;
    client.start(get(server.url()), into(second));
    QVERIFY(test::pollUntil(client, [&] { return second.done; }));
    QCOMPARE(second.result.error, http::TransportError::None);
    QCOMPARE(second.result.body, std::string("fine"));
    QCOMPARE(requests.load(), 3);
    QCOMPARE(server.accepted.load(), 2);
}

void TestH1Client::freshConnectionClosedIsAnErrorNotARetry()
{
    std::atomic<int> requests{0};
    RawServer server([&](int, int fd) {
        if (readRequest(fd)) {
            ++requests;
        }
    });
    http::H1Client client;
    Outcome o;
    client.start(get(server.url()), into(o));
    QVERIFY(test::pollUntil(client, [&] { return o.done; }));
    QCOMPARE(o.result.error, http::TransportError::Reset);
    QCOMPARE(o.result.errorText, std::string("Empty reply from server"));
    QCOMPARE(requests.load(), 1);
}

void TestH1Client::answerCutShortIsAReset()
{
    std::atomic<int> requests{0};
    RawServer server([&](int, int fd) {
        while (readRequest(fd)) {
            ++requests;
            sendText(fd, requests == 1 ? okReply("one") : std::string("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\npart"));
            if (requests == 2) {
                return;
            }
        }
    });
    http::H1Client client;
    Outcome first;
    client.start(get(server.url()), into(first));
    QVERIFY(test::pollUntil(client, [&] { return first.done; }));
    // On the reused connection, but the answer had begun: not sent again.
    Outcome o;
    client.start(get(server.url()), into(o));
    QVERIFY(test::pollUntil(client, [&] { return o.done; }));
    QCOMPARE(o.result.error, http::TransportError::Reset);
    QCOMPARE(o.result.status, 200L);
    QCOMPARE(requests.load(), 2);
}

void TestH1Client::bodyOverTheLimit()
{
    RawServer server([&](int, int fd) {
        while (readRequest(fd)) {
            sendText(fd, okReply(std::string(10000, 'z')));
        }
    });
    http::H1Client client;
    Outcome o;
    http::HttpRequest r = get(server.url());
    r.maxBodyBytes = 4096;
    client.start(std::move(r), into(o));
    QVERIFY(test::pollUntil(client, [&] { return o.done; }));
    QCOMPARE(o.result.error, http::TransportError::TooLarge);
    QCOMPARE(client.connections(), std::size_t(0));
}

void TestH1Client::largeBodyGoesOutInPieces()
{
    // 8 MB, far over a socket's buffers, read slowly: the client must wait
    // for room and send the rest, with the answer arriving only after.
    const std::string body(8u << 20, 'b');
    std::atomic<std::size_t> received{0};
    RawServer server([&](int, int fd) {
        std::string got;
        char buf[65536];
        std::size_t need = std::string::npos;
        while (need == std::string::npos || got.size() < need) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                return;
            }
            got.append(buf, static_cast<std::size_t>(n));
            const std::size_t end = got.find("\r\n\r\n");
            if (need == std::string::npos && end != std::string::npos) {
                const std::size_t at = got.find("Content-Length: ");
                need = end + 4 + std::stoul(got.substr(at + 16));
            }
            if (got.size() % (1u << 20) < sizeof buf) {
                std::this_thread::sleep_for(2ms);
            }
        }
        received = got.size() - got.find("\r\n\r\n") - 4;
        sendText(fd, okReply(std::to_string(received.load())));
    });
    http::H1Client client;
    Outcome o;
    http::HttpRequest r;
    r.url = server.url("/big");
    r.body = body;
    client.start(std::move(r), into(o));
    QVERIFY(test::pollUntil(client, [&] { return o.done; }));
    QCOMPARE(o.result.error, http::TransportError::None);
    QCOMPARE(o.result.body, std::to_string(body.size()));
    QCOMPARE(received.load(), body.size());
}

// The head is written piece by piece into room made once (appendText): the
// bytes the server reads must be exactly the request line, Host, the lines
// given (a caller's Content-Length and Host dropped, an empty header's
// "Name;" form written "Name:", a line ending trimmed), the secret line, the
// length where there is a body or the method sends one, and the body.
void TestH1Client::requestHeadBytesAreExact()
{
    std::mutex mutex;
    std::vector<std::string> seen;
    RawServer server([&](int, int fd) {
        std::string got;
        char buf[4096];
        while (true) {
            const std::size_t end = got.find("\r\n\r\n");
            if (end != std::string::npos) {
                const std::size_t at = got.find("Content-Length: ");
                const std::size_t body = at == std::string::npos || at > end ? 0 : std::stoul(got.substr(at + 16));
                if (got.size() >= end + 4 + body) {
                    const std::size_t whole = end + 4 + body;
                    {
                        std::lock_guard guard(mutex);
                        seen.push_back(got.substr(0, whole));
                    }
                    got.erase(0, whole);
                    sendText(fd, okReply("ok"));
                    continue;
                }
            }
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                return;
            }
            got.append(buf, static_cast<std::size_t>(n));
        }
    });
    const std::string host = server.url("").substr(std::string("http://").size());
    const auto send = [&](http::HttpRequest r) {
        http::H1Client client;
        Outcome o;
        client.start(std::move(r), into(o));
        QVERIFY(test::pollUntil(client, [&] { return o.done; }));
        QCOMPARE(o.result.error, http::TransportError::None);
    };
    http::HttpRequest plain = get(server.url("/x?q=1"));
    plain.headers = {"X-A: 1", "X-Empty;", "Content-Length: 99", "Host: elsewhere", "X-Trail: v\r\n"};
    send(std::move(plain));
    http::HttpRequest post;
    post.url = server.url("/p");
    post.headers = {"X-B: 2"};
    post.secretHeader = Secret("Authorization: Bearer s3cret");
    post.body = "abc";
    send(std::move(post));
    http::HttpRequest empty;
    empty.url = server.url("/e");
    send(std::move(empty));
    std::lock_guard guard(mutex);
    QCOMPARE(seen.size(), std::size_t{3});
    QCOMPARE(seen[0], "GET /x?q=1 HTTP/1.1\r\nHost: " + host + "\r\nX-A: 1\r\nX-Empty:\r\nX-Trail: v\r\n\r\n");
    QCOMPARE(seen[1], "POST /p HTTP/1.1\r\nHost: " + host +
                          "\r\nX-B: 2\r\nAuthorization: Bearer s3cret\r\nContent-Length: 3\r\n\r\nabc");
    QCOMPARE(seen[2], "POST /e HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 0\r\n\r\n");
}

void TestH1Client::abortInFlightAndOnDestruction()
{
    std::atomic<bool> release{false};
    RawServer server([&](int, int fd) {
        readRequest(fd);
        while (!release) {
            std::this_thread::sleep_for(5ms);
        }
    });
    Outcome aborted;
    Outcome dropped;
    bool sent = false;
    {
        http::H1Client client;
        http::TransferHandlers h = into(aborted);
        h.onSending = [&](bool fresh) { sent = fresh; };
        const auto id = client.start(get(server.url()), std::move(h));
        QVERIFY(test::pollUntil(client, [&] { return sent; }));
        client.abort(id);
        QVERIFY(aborted.done);
        QCOMPARE(aborted.result.error, http::TransportError::Aborted);
        client.start(get(server.url()), into(dropped));
        client.poll(10ms);
    }
    release = true;
    QVERIFY(dropped.done);
    QCOMPARE(dropped.result.error, http::TransportError::Aborted);
}

void TestH1Client::nameLookedUpOffTheThread()
{
    http::Resolver resolver;
    // An IP literal and "localhost" are answered at once.
    QVERIFY(resolver.lookup("127.0.0.1", 80).has_value());
    QVERIFY(resolver.lookup("localhost", 80).has_value());
    // Any other name on a thread of its own: the answer (addresses or an
    // error) comes through take() after the eventfd turns readable.
    QVERIFY(!resolver.lookup("ip6-localhost", 80).has_value());
    pollfd p{resolver.readyFd(), POLLIN, 0};
    QCOMPARE(::poll(&p, 1, 20000), 1);
    resolver.drain();
    const auto answers = resolver.take();
    QCOMPARE(answers.size(), std::size_t(1));
    QCOMPARE(answers[0].first, std::string("ip6-localhost:80"));
    QVERIFY(!answers[0].second.addresses.empty() || !answers[0].second.error.empty());
    if (!answers[0].second.addresses.empty()) {
        QVERIFY(resolver.lookup("ip6-localhost", 80).has_value());  // kept
    }
}

void TestH1Client::tlsVerified()
{
    QTemporaryDir dir;
    const QString cert = dir.filePath(QStringLiteral("cert.pem"));
    const QString key = dir.filePath(QStringLiteral("key.pem"));
    QProcess openssl;
    openssl.start(QStringLiteral("openssl"),
                  {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"), QStringLiteral("ec"),
                   QStringLiteral("-pkeyopt"), QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes"),
                   QStringLiteral("-subj"), QStringLiteral("/CN=localhost"), QStringLiteral("-addext"),
                   QStringLiteral("subjectAltName=DNS:localhost"), QStringLiteral("-days"), QStringLiteral("2"),
                   QStringLiteral("-keyout"), key, QStringLiteral("-out"), cert});
    QVERIFY(openssl.waitForFinished(30000));
    QCOMPARE(openssl.exitCode(), 0);
    const QString script = QStringLiteral(
        "import http.server, ssl, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def do_POST(self):\n"
        "        body = self.rfile.read(int(self.headers['content-length']))\n"
        "        out = b'over tls: ' + body\n"
        "        self.send_response(200)\n"
        "        self.send_header('content-length', str(len(out)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(out)\n"
        "    def log_message(self, *a):\n"
        "        pass\n"
        "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
        "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        "c.load_cert_chain(sys.argv[1], sys.argv[2])\n"
        "s.socket = c.wrap_socket(s.socket, server_side=True)\n"
        "print(s.server_address[1], flush=True)\n"
        "s.serve_forever()\n");
    QProcess server;
    server.start(QStringLiteral("python3"), {QStringLiteral("-c"), script, cert, key});
    QVERIFY(server.waitForReadyRead(20000));
    const int port = server.readLine().trimmed().toInt();
    QVERIFY(port > 0);

    auto post = [&](http::H1Client& client, const std::string& host, std::string body = "hello") {
        Outcome o;
        http::HttpRequest r;
        r.url = "https://" + host + ":" + std::to_string(port) + "/echo";
        r.body = std::move(body);
        client.start(std::move(r), into(o));
        test::pollUntil(client, [&] { return o.done; });
        return o;
    };
    {
        http::H1Client trusting(http::H1Client::Options{4096, cert.toStdString()});
        for (int i = 0; i < 2; ++i) {  // the second on the kept-alive connection
            const Outcome o = post(trusting, "localhost");
            QVERIFY2(o.result.error == http::TransportError::None, o.result.errorText.c_str());
            QCOMPARE(o.result.body, std::string("over tls: hello"));
        }
        QCOMPARE(trusting.connections(), std::size_t(1));
        // 3 MB each way: many TLS records, partial writes, reads that find
        // decrypted bytes the socket no longer signals.
        const std::string big(3u << 20, 'q');
        const Outcome large = post(trusting, "localhost", big);
        QVERIFY2(large.result.error == http::TransportError::None, large.result.errorText.c_str());
        QCOMPARE(large.result.body.size(), big.size() + 10);
        QVERIFY(large.result.body.compare(10, std::string::npos, big) == 0);
        // The certificate names "localhost", not the address.
        const Outcome wrongName = post(trusting, "127.0.0.1");
        QCOMPARE(wrongName.result.error, http::TransportError::Other);
        QVERIFY2(wrongName.result.errorText.find("certificate") != std::string::npos, wrongName.result.errorText.c_str());
    }
    {
        http::H1Client system;  // the system's trusted roots do not know the test's certificate
        const Outcome o = post(system, "localhost");
        QCOMPARE(o.result.error, http::TransportError::Other);
        QVERIFY2(o.result.errorText.find("certificate") != std::string::npos, o.result.errorText.c_str());
        QCOMPARE(o.result.status, 0L);
    }
    server.kill();
    server.waitForFinished();
}

QTEST_GUILESS_MAIN(TestH1Client)
#include "tst_h1_client.moc"
