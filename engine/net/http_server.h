// A small HTTP/1.1 server for the mock provider, and later the local gateway
// and the metrics endpoint: Boost.Beast parses requests on Asio, a handler
// answers each one with a reply *plan* (parts, each after a delay, then an
// ending), and the server carries the plan out with timers, never a sleeping
// thread. Boost stays inside http_server.cpp.
//
// Thread-safety: start(), stop() and port() from any one controlling thread.
// The handler runs on an io thread (several at once when threads > 1);
// an HttpResponder may be completed from any thread.
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

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Header names compare without regard to case (RFC 9110).
bool headerNameEquals(std::string_view a, std::string_view b) noexcept;
std::optional<std::string_view> findHeader(const HttpHeaders& headers, std::string_view name) noexcept;

struct HttpRequest {
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

// The server's side of one exchange. Move-only; send() exactly once, from
// any thread. Destroyed unsent, it answers 500 so no client waits forever.
class HttpResponder {
public:
    class Sink {
    public:
        virtual ~Sink() = default;
        virtual void send(HttpReply reply) = 0;
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

private:
    std::shared_ptr<Sink> m_sink;
};

using HttpHandler = std::function<void(HttpRequest&& request, HttpResponder responder)>;

struct HttpServerOptions {
    std::string host = "127.0.0.1";  // an IP literal, or "localhost"
    std::uint16_t port = 0;          // 0: the system picks a free port
    int threads = 1;                 // io threads
    std::size_t maxBodyBytes = 4u << 20;
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

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace sluice::net
