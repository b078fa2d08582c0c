// A small HTTP/1.1 server for the mock provider, and later the local gateway
// and the metrics endpoint: Boost.Beast parses requests on Asio, a handler
// answers each one with a reply *plan* (parts, each after a delay, then an
// ending), and the server carries the plan out with timers, never a sleeping
// thread. Boost stays inside engine/net's .cpp files.
//
// Thread-safety: start(), stop() and port() from any one controlling thread.
// The handler runs on an io thread (several at once when threads > 1), or
// on the driver thread of the shared EventLoop; an HttpResponder may be
// completed from any thread.
#pragma once

#include "core/clock.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::net {

class EventLoop;

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Header names compare without regard to case (RFC 9110).
bool headerNameEquals(std::string_view a, std::string_view b) noexcept;
// A header value (or one element of a list value) without the spaces and
// tabs around it.
std::string_view trimHeaderValue(std::string_view value) noexcept;
std::optional<std::string_view> findHeader(const HttpHeaders& headers, std::string_view name) noexcept;

struct InboundRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // "/v1/models?limit=2"
    HttpHeaders headers;
    std::string body;
    bool keepAlive = true;
    // The declared or received body passed HttpServerOptions::maxBodyBytes:
    // `body` is empty and the connection closes after the reply.
    bool bodyTooLarge = false;

    std::string_view path() const noexcept;  // target without its query
    std::optional<std::string_view> header(std::string_view name) const noexcept
    {
        return findHeader(headers, name);
    }
};

// A piece of the response written `delay` after the previous one (the first
// after the handler answered). The status line and headers go with the
// first part.
struct HttpPart {
    Duration delay{};
    std::string data;
};

enum class HttpEnding : std::uint8_t {
    Complete,  // the response ends as framed; the connection may be reused
    Close,     // after the parts, the connection closes unfinished (no last chunk)
    Reset,     // after the parts, the connection is reset (TCP RST)
    Hang       // after the parts, silence until the peer closes or the server stops
};

struct HttpReply {
    int status = 200;
    // Content-Length, Transfer-Encoding and Connection are the server's.
    HttpHeaders headers;
    // Chunked transfer coding, one chunk per part (server-sent events).
    // Otherwise Content-Length framing.
    bool chunked = false;
    // Content-Length to announce; defaults to the parts' total. A larger
    // value with HttpEnding::Reset is a body cut off mid-way.
    std::optional<std::size_t> declaredLength;
    std::vector<HttpPart> parts;
    HttpEnding ending = HttpEnding::Complete;
    // Called once on an io thread: with true just before the last part is
    // written (so a client that has read the whole reply sees its effects),
    // with false when the peer went away or the server stopped first.
    std::function<void(bool delivered)> onFinished;

    // A whole response in one part, sent after `delay`.
    static HttpReply whole(int status, std::string contentType, std::string body, Duration delay = {});
};

// A reply whose body is written as it becomes available (a proxied stream):
// chunked transfer coding, one chunk per write(). Every member from any
// thread; calls after the exchange ended (end(), abort(), the peer gone,
// the server stopped) do nothing.
class HttpStream {
public:
    virtual ~HttpStream() = default;
    virtual void write(std::string data) = 0;
    // The last chunk; the connection may be reused.
    virtual void end() = 0;
    // Closes the connection without the last chunk: the client sees the
    // body cut off.
    virtual void abort() = 0;
};

// The server's side of one exchange. Move-only; send() or stream() exactly
// once, from any thread. Destroyed unanswered, it answers 500 so no client
// waits forever.
class HttpResponder {
public:
    class Sink {
    public:
        virtual ~Sink() = default;
        virtual void send(HttpReply reply) = 0;
        virtual std::shared_ptr<HttpStream> stream(HttpReply head) = 0;
        virtual void onPeerGone(std::function<void()> callback) = 0;
    };

    HttpResponder() = default;
    explicit HttpResponder(std::shared_ptr<Sink> sink) : m_sink(std::move(sink)) {}
    HttpResponder(HttpResponder&&) noexcept = default;
    HttpResponder& operator=(HttpResponder&& other) noexcept;
    HttpResponder(const HttpResponder&) = delete;
    HttpResponder& operator=(const HttpResponder&) = delete;
    ~HttpResponder();

    bool valid() const noexcept { return m_sink != nullptr; }
    void send(HttpReply reply);
    // Sends `head`'s status and headers at once (its parts first, if any)
    // and keeps the response open for the returned stream's writes. The
    // head's onFinished is called as for send(): true when end() is
    // written, false when the peer went away or the server stopped first.
    std::shared_ptr<HttpStream> stream(HttpReply head);
    // `callback` runs once on an io thread if the peer closes its
    // connection before the answer (or stream) ends: a held request or a
    // stream whose reader is gone can stop its work. Call before answering.
    void onPeerGone(std::function<void()> callback);

private:
    std::shared_ptr<Sink> m_sink;
};

using HttpHandler = std::function<void(InboundRequest&& request, HttpResponder responder)>;

struct HttpServerOptions {
    std::string host = "127.0.0.1";  // an IP literal, or "localhost"
    std::uint16_t port = 0;          // 0: the system picks a free port
    int threads = 1;                 // io threads
    std::size_t maxBodyBytes = 4u << 20;
    // How long a request may take to arrive, from its first byte (or the
    // connection's idle start) to its last: a slowloris client holding a
    // connection with a trickle of bytes is closed then. Unset: no limit.
    std::optional<Duration> requestTimeout;
    // Runs on this loop, driven by someone else's thread (the dispatcher's,
    // for the gateway), instead of `threads` io threads of its own; the
    // handler and every callback then run on that thread. Must outlive the
    // server, and be driven while the server stops (stop() waits for it a
    // short while, then closes the connections itself).
    EventLoop* loop = nullptr;
};

// Opened on a loop's driver thread by code the loop runs for something
// other than a session (upstream sockets that became readable, a timer):
// a reply or streamed write handed to a session of a server on that loop
// while it is open is written when the outermost scope closes, in the
// order handed over, instead of posted to the session's executor, unless
// something handed to that session earlier still waits there (order is
// kept). A posted answer waits for the loop's next turn: behind a look at
// the sockets (an epoll_wait) and the re-arming of the watch that brought
// it. Written one by one as each provider's answer was read, every answer
// woke its client, which took the gateway's core from it for that one
// answer (0.5-0.8 times per request at saturation, docs/benchmarks.md);
// written together at the scope's end, a client wakes once for all the
// answers of a batch. Open it only where no session's handler is running
// on the thread.
class DirectReplies {
public:
    explicit DirectReplies(EventLoop& loop) noexcept;
    ~DirectReplies();
    DirectReplies(const DirectReplies&) = delete;
    DirectReplies& operator=(const DirectReplies&) = delete;

private:
    EventLoop& m_loop;
};

class HttpServer {
public:
    HttpServer(HttpServerOptions options, HttpHandler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds, listens and starts the io threads; returns the bound port.
    // Throws std::runtime_error naming the address and the reason.
    std::uint16_t start();
    // Closes the listener and every connection, then joins the io threads.
    // Idempotent; the destructor calls it.
    void stop();

    std::uint16_t port() const noexcept;
    std::size_t openConnections() const noexcept;
    // Connections with a request handed to the handler whose answer is not
    // yet all written (held, under way, or being written): what stop()
    // would cut short now.
    std::size_t busyConnections() const noexcept;
    // From now on every reply says "Connection: close" and closes its
    // connection after it, so clients reconnect (through a load balancer,
    // to another instance) rather than reuse this one. Idle keep-alive
    // connections stay open until their next request is answered or the
    // server stops. Any thread; there is no undoing it.
    void drain() noexcept;

private:
    struct Impl;
    std::shared_ptr<Impl> m_impl;
};

}  // namespace sluice::net
