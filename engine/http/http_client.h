// HttpClient: many HTTP transfers at once on libcurl's multi interface,
// driven by one thread that calls poll(). No thread per request: thousands of
// transfers share one event loop, connections are kept alive and reused, and
// HTTP/2 is used where a TLS server offers it.
//
// Driven either by poll() (on its own EpollDriver) or, with a SocketDriver,
// by the driver's event loop, so other sockets can share it; both through
// libcurl's multi_socket interface.
//
// Thread-safety: everything except wakeup() must be called from the one
// thread that drives poll() (or the driver); callbacks run on that thread
// inside poll(), socketReady() or timerFired().
// wakeup() may be called from any thread.
#pragma once

#include "core/clock.h"
#include "core/secret.h"
#include "http/curl_handles.h"
#include "http/header_map.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::http {

struct HttpRequest {
    std::string method = "POST";
    std::string url;
    std::vector<std::string> headers;  // "Name: value", nothing secret
    // Sent after `headers`: lines many requests share (a provider's content
    // type, user agent, version), built once instead of per request.
    std::shared_ptr<const HeaderList> sharedHeaders;
    // A header carrying a credential ("Authorization: Bearer …"): sent, and
    // wiped from memory afterwards, never logged.
    std::optional<Secret> secretHeader;
    std::string body;
    Duration connectTimeout = std::chrono::seconds(10);
    Duration totalTimeout = std::chrono::minutes(10);
    bool allowHttp2 = true;
    std::size_t maxBodyBytes = 64u << 20;  // a larger response is cut off as an error
};

enum class TransportError : std::uint8_t {
    None,
    Timeout,        // connect or total timeout
    ConnectFailed,  // refused, unreachable, DNS
    Reset,          // connection broken while sending or receiving
    TooLarge,       // response over maxBodyBytes
    Aborted,        // abort() or a handler asked to stop
    Other
};

std::string_view transportErrorName(TransportError e) noexcept;

struct HttpResult {
    long status = 0;  // 0 when no response arrived
    HeaderMap headers;
    std::string body;  // empty when the onData handler consumed the body
    TransportError error = TransportError::None;
    std::string errorText;  // libcurl's message, for logs and dead letters
    Duration timeToFirstByte{};
    Duration total{};
};

struct TransferHandlers {
    // Once per response, when the status and headers are complete.
    std::function<void(long status, const HeaderMap& headers)> onHeaders;
    // Body bytes as they arrive. When set, the body is not accumulated.
    // Returning false aborts the transfer (TransportError::Aborted).
    std::function<bool(std::string_view chunk)> onData;
    // Exactly once per started transfer, including aborted ones.
    std::function<void(HttpResult&& result)> onComplete;
    // When the connection (new or reused) is ready and the request is about
    // to be written: the moment it really leaves, later than start() by
    // any connection set-up (a TCP and TLS handshake for a new one).
    // newConnection: this transfer opened the connection it goes out on,
    // so the server still has to accept (and route) it, which a request
    // on a warm connection skips. Last, so {onHeaders, onData, onComplete}
    // initialisers keep their meaning.
    std::function<void(bool newConnection)> onSending;
};

// What drives a client's sockets when no thread calls poll() (libcurl's
// multi_socket interface): the client says which descriptors to watch and
// when it wants its timer, and the driver calls socketReady() and
// timerFired() on the client's thread when they are due.
class SocketDriver {
public:
    static constexpr unsigned kReadable = 1;
    static constexpr unsigned kWritable = 2;

    virtual ~SocketDriver() = default;
    // `interest`: kReadable and/or kWritable; 0 stops watching `fd` (which
    // libcurl may close right after).
    virtual void watch(int fd, unsigned interest) = 0;
    // When timerFired() is due; empty: no timer.
    virtual void timer(std::optional<Duration> after) = 0;
};

class EpollDriver;

// What a driver moves forward: an HttpClient, or a test's stand-in.
class DrivenClient {
public:
    virtual ~DrivenClient() = default;
    virtual void socketReady(int fd, bool readable, bool writable) = 0;
    virtual void timerFired() = 0;
    // When timerFired() is next due as the client sees it now (empty: no
    // timer), for a driver whose timer fired without being told a new one.
    virtual std::optional<Duration> timeout() const = 0;
};

// UpstreamClient: what the engine needs of an HTTP client for its upstream
// transfers, so the libcurl one (HttpClient) and Sluice's own HTTP/1.1 one
// (H1Client) are interchangeable under a Transport.
class UpstreamClient : public DrivenClient {
public:
    using TransferId = std::uint64_t;

    // handlers.onComplete runs exactly once per started transfer, never
    // inside start(). Returns 0 (and starts nothing) while the client is
    // being destroyed.
    virtual TransferId start(HttpRequest request, TransferHandlers handlers) = 0;
    // Stops a transfer; its onComplete runs (with Aborted) before this returns.
    virtual void abort(TransferId id) = 0;
    // On a client without a SocketDriver: waits up to `timeout` and runs
    // the callbacks that became due; returns how many transfers completed.
    virtual int poll(Duration timeout) = 0;
    virtual void wakeup() = 0;
    virtual std::size_t active() const noexcept = 0;
    // "libcurl" or "sluice-h1", for logs and benchmarks.
    virtual std::string_view name() const noexcept = 0;
};

class HttpClient final : public UpstreamClient {
public:

    struct Options {
        long maxCachedConnections = 4096;
        long maxTotalConnections = 0;  // 0: unlimited
    };

    HttpClient();
    explicit HttpClient(const Options& options);
    // Driven by `driver` (which must outlive the client) instead of poll().
    HttpClient(const Options& options, SocketDriver& driver);
    ~HttpClient() override;
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Returns 0 (and starts nothing) once the client is being destroyed.
    TransferId start(HttpRequest request, TransferHandlers handlers) override;
    // Stops a transfer; its onComplete runs (with Aborted) before this returns.
    void abort(TransferId id) override;
    // Waits up to `timeout` for network activity or wakeup(), moves the
    // transfers whose sockets are ready (or whose timers are due) forward
    // and runs the callbacks that became due. Returns the number of
    // transfers that completed. Not on a client given a SocketDriver
    // (std::logic_error).
    int poll(Duration timeout) override;
    // Makes a poll() in progress (or the next one) return promptly.
    void wakeup() override;
    // With a SocketDriver: `fd` is ready; moves the transfers on it forward
    // and runs the callbacks that became due.
    void socketReady(int fd, bool readable, bool writable) override;
    // With a SocketDriver: the time it was told has come.
    void timerFired() override;
    // libcurl's own view of when timerFired() is due (curl_multi_timeout).
    std::optional<Duration> timeout() const override;

    std::size_t active() const noexcept override { return m_transfers.size(); }
    std::string_view name() const noexcept override { return "libcurl"; }

private:
    struct Transfer;
    void finish(Transfer& t, CURLcode code);
    // Finishes every transfer libcurl reports done (counted in m_completed).
    void finishDone();
    void configure(const Options& options);
    void useDriver(SocketDriver& driver);

    // Finished transfers' easy handles, reset and kept for the next start():
    // creating and freeing one per transfer cost ~17k instructions of a
    // request's ~146k (callgrind). Bounded, so a burst leaves no hoard.
    static constexpr std::size_t kMaxSpareHandles = 64;

    // Declared before m_multi, so it outlives it: libcurl tells the driver
    // to stop watching each socket as the multi handle closes them.
    std::unique_ptr<EpollDriver> m_ownDriver;  // set when poll() drives the client
    MultiHandle m_multi;
    std::vector<EasyHandle> m_spareHandles;
    bool m_closing = false;
    TransferId m_nextId = 1;
    int m_completed = 0;  // finished since poll() started
    std::map<TransferId, std::unique_ptr<Transfer>> m_transfers;
};

}  // namespace sluice::http
