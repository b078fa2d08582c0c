// H1Client: Sluice's own HTTP/1.1 client for upstream transfers, in place
// of libcurl where the engine's requests are simple and many: one request
// per connection at a time, connections kept alive and reused per origin
// (scheme, host, port), plain TCP or TLS (OpenSSL, always verified), names
// resolved off the driving thread, bodies framed by length, chunks or the
// end of the connection and handed on as they arrive.
//
// Why: a gateway request through libcurl cost ~72 k instructions and four
// system calls of libcurl's own (two poll()s, epoll re-arming) on top of
// the send and the receive (docs/benchmarks.md, the gateway section). Here
// a request on a kept-alive connection is one sendmsg and, usually, one
// recv, and the socket stays registered for reading while it is idle (so
// a server's close is seen at once and the connection dropped).
//
// Not here (libcurl is used instead, see upstream_client.h): proxies,
// HTTP/2, compressed responses, redirects (none are followed by either).
// A request that finds its reused connection closed before any byte of
// the answer is sent once more on a new connection, as libcurl does.
//
// Driven by poll() on its own EpollDriver, or by a SocketDriver's loop
// (socketReady, timerFired). start() only queues: the transfer begins on
// the next poll() or timer firing, so no callback runs inside start().
//
// Thread-safety: everything but wakeup() on the one driving thread, where
// the callbacks run; wakeup() from any thread.
#pragma once

#include "http/http_client.h"
#include "http/resolver.h"
#include "http/url.h"

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::http {

class EpollDriver;
class TlsContext;

class H1Client final : public UpstreamClient {
public:
    struct Options {
        std::size_t maxIdleConnections = 4096;
        // Trusted certificates for TLS; empty: the system's.
        std::string caFile;
    };

    H1Client();
    explicit H1Client(Options options);
    // Driven by `driver` (which must outlive the client) instead of poll().
    H1Client(Options options, SocketDriver& driver);
    ~H1Client() override;
    H1Client(const H1Client&) = delete;
    H1Client& operator=(const H1Client&) = delete;

    TransferId start(HttpRequest request, TransferHandlers handlers) override;
    void abort(TransferId id) override;
    int poll(Duration timeout) override;
    void wakeup() override;
    void socketReady(int fd, bool readable, bool writable) override;
    void timerFired() override;
    std::optional<Duration> timeout() const override;
    std::size_t active() const noexcept override { return m_transfers.size(); }
    std::string_view name() const noexcept override { return "sluice-h1"; }

    // Connections open now (idle ones included), for tests and benchmarks.
    std::size_t connections() const noexcept { return m_connections.size(); }

private:
    using TimePoint = std::chrono::steady_clock::time_point;
    struct Connection;
    struct Transfer;
    struct ReadOutcome;
    class Entry;

    void runPending();
    void begin(Transfer& t);
    bool takeIdle(Transfer& t);
    void resolved(const std::string& key, const Resolution& answer);
    void connectNext(Transfer& t);
    void connected(Connection& c);
    void handshake(Connection& c);
    void send(Connection& c);
    void writeSome(Connection& c);
    void readable(Connection& c);
    void readIdle(Connection& c);
    ReadOutcome readOnce(Connection& c, char* buffer, std::size_t size);
    bool fed(Connection& c, std::string_view bytes);
    void ended(Connection& c, const std::string& why);
    void complete(Connection& c, bool reusable);
    void finish(Transfer& t, TransportError error, std::string text);
    void close(Connection& c);
    void setInterest(Connection& c, unsigned interest);
    void setDeadline(Transfer& t, TimePoint when);
    void expire();
    void updateTimer(bool force = false);
    std::optional<TimePoint> due(TimePoint now) const;
    TlsContext& tls();
    // The parsed URL, shared by every transfer to it (a client sends to a
    // handful of URLs): null with `why` for a URL that is not one.
    std::shared_ptr<const Url> urlOf(const std::string& text, std::string& why);

    Options m_options;
    std::unique_ptr<EpollDriver> m_ownDriver;  // set when poll() drives the client
    SocketDriver* m_driver = nullptr;
    Resolver m_resolver;
    std::unique_ptr<TlsContext> m_tls;  // made on the first https transfer
    bool m_closing = false;
    int m_depth = 0;       // nesting of entry points; the dead go at 0
    int m_completed = 0;   // finished since poll() started
    TransferId m_nextId = 1;
    std::unordered_map<TransferId, std::unique_ptr<Transfer>> m_transfers;
    std::unordered_map<int, std::unique_ptr<Connection>> m_connections;  // by descriptor
    std::unordered_map<std::string, std::vector<Connection*>> m_idle;    // by origin, newest last
    std::size_t m_idleCount = 0;
    std::unordered_map<std::string, std::vector<TransferId>> m_resolving;  // by "host:port"
    std::deque<TransferId> m_pending;
    std::unordered_map<std::string, std::shared_ptr<const Url>> m_urls;  // bounded: cleared past kMaxUrls
    std::set<std::pair<TimePoint, TransferId>> m_deadlines;
    std::optional<TimePoint> m_toldDue;
    bool m_toldValid = false;
    // Finished transfers and closed connections, kept until the outermost
    // entry point returns, so a callback that aborts or closes leaves no
    // caller holding a dangling pointer.
    std::vector<std::unique_ptr<Transfer>> m_deadTransfers;
    std::vector<std::unique_ptr<Connection>> m_deadConnections;
    std::vector<char> m_readBuffer;
};

}  // namespace sluice::http
