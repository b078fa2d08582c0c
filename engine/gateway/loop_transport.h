// LoopTransport: the dispatcher's Transport on a shared net::EventLoop. The
// dispatcher thread drives the loop in its poll(), and the upstream client's
// sockets and timer are watched on it (its SocketDriver), so the gateway's
// HttpServer, given the same loop, reads a request, sends it upstream and
// writes the answer back on that one thread: two wake-ups per request (the
// client's request, the provider's answer) instead of four across an io
// thread and the dispatcher thread. The sockets sit in an epoll set of
// their own (an EpollDriver) that the loop watches as one descriptor: a
// socket's interest is set once, not re-armed with epoll_ctl after each
// event as a wait per socket on the loop would be. The client's callbacks
// run under net::DirectReplies: the answers read from one look at the
// provider's sockets are on the gateway clients' sockets before the handler
// that read them returns, written together at its end. Under
// pollWithHandoffs a request a handler submitted is begun (on the
// provider's socket) before the loop's next handler runs.
//
// Thread-safety: as Transport's: start, abort and poll on the dispatcher
// thread (the loop's driver), wakeup() from any. Constructed and destroyed
// while no thread drives the loop.
#pragma once

#include "dispatch/transport.h"
#include "http/epoll_driver.h"
#include "http/http_client.h"
#include "http/upstream_client.h"
#include "net/event_loop.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace sluice::gateway {

class LoopTransport final : public Transport, private http::SocketDriver {
public:
    explicit LoopTransport(net::EventLoop& loop);
    ~LoopTransport() override;
    LoopTransport(const LoopTransport&) = delete;
    LoopTransport& operator=(const LoopTransport&) = delete;

    TransferId start(http::HttpRequest request, http::TransferHandlers handlers) override;
    void abort(TransferId id) override;
    void poll(Duration timeout) override;
    void pollWithHandoffs(Duration timeout, const std::function<void()>& between) override;
    void wakeup() override;

    net::EventLoop& loop() noexcept { return m_loop; }

private:
    void watch(int fd, unsigned interest) override;
    void timer(std::optional<Duration> after) override;
    // A timer the client wants at once (a transfer just started) runs here,
    // in poll(), not through the loop's timer queue.
    void runDue();

    net::EventLoop& m_loop;
    http::EpollDriver m_sockets;  // the client's sockets; its own timer unused
    net::FdWatch m_watch;  // m_sockets' epoll set, on the loop
    net::LoopTimer m_timer;
    std::optional<std::chrono::steady_clock::time_point> m_armed;  // when m_timer fires; empty: not armed
    bool m_dueNow = false;
    // Inside poll's `between`: a transfer started there is begun right
    // after it (runDue), with no wake-up of the loop.
    bool m_inBetween = false;
    // Last: destroyed first, while the watches it stops still exist.
    std::unique_ptr<http::UpstreamClient> m_client;
};

}  // namespace sluice::gateway
