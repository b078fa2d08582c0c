// EpollDriver: the SocketDriver an HttpClient uses when a thread drives it
// with poll() and no event loop of someone else's is given. libcurl's
// multi_socket interface tells it which sockets to watch and when its timer
// is due; wait() sleeps in epoll_wait until one of them (or wakeup()) needs
// the client, and moves only the transfers on sockets that are ready.
//
// Why not curl_multi_poll() and curl_multi_perform(): perform visits every
// transfer in the multi handle on every wake (libcurl 7.88), so with N
// transfers in flight each response costs N transfers' worth of work. With
// 2,000 in flight the gateway spent a quarter less CPU per request on this
// driver (docs/benchmarks.md, bench/gateway_in_flight.sh).
//
// Thread-safety: wakeup() may be called from any thread; everything else on
// the thread that drives the client.
#pragma once

#include "core/clock.h"
#include "core/unique_fd.h"
#include "http/http_client.h"

#include <optional>
#include <unordered_map>

struct epoll_event;  // <sys/epoll.h>, kept out of the header

namespace sluice::http {

class EpollDriver final : public SocketDriver {
public:
    // Throws std::system_error when the kernel gives no epoll or eventfd.
    EpollDriver();
    ~EpollDriver() override;
    EpollDriver(const EpollDriver&) = delete;
    EpollDriver& operator=(const EpollDriver&) = delete;

    void watch(int fd, unsigned interest) override;
    void timer(std::optional<Duration> after) override;

    // Waits up to `timeout` (at most 60 s; less when the client's timer is
    // due sooner) for a watched socket, the timer or wakeup(), and hands
    // what is ready to `client` (socketReady, timerFired).
    void wait(Duration timeout, DrivenClient& client);
    void wakeup() noexcept;
    // The epoll set itself: readable while a watched socket (or the
    // wake-up) is ready, so another event loop can watch every socket of
    // this driver through this one descriptor.
    int fd() const noexcept { return m_epoll.get(); }

private:
    int waitEvents(epoll_event* events, int max, Duration timeout);

    UniqueFd m_epoll;
    UniqueFd m_wake;  // an eventfd, readable after wakeup()
    bool m_precise = true;  // epoll_pwait2 is there (Linux 5.11 on)
    std::unordered_map<int, unsigned> m_watched;  // fd -> interest
    std::optional<std::chrono::steady_clock::time_point> m_due;
};

}  // namespace sluice::http
