#include "http/epoll_driver.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace sluice::http {

namespace {

std::uint32_t eventsFor(unsigned interest)
{
    std::uint32_t ev = 0;
    if ((interest & SocketDriver::kReadable) != 0) {
        ev |= EPOLLIN;
    }
    if ((interest & SocketDriver::kWritable) != 0) {
        ev |= EPOLLOUT;
    }
    return ev;
}

}  // namespace

EpollDriver::EpollDriver()
    : m_epoll(::epoll_create1(EPOLL_CLOEXEC)), m_wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!m_epoll.valid() || !m_wake.valid()) {
        throw std::system_error(errno, std::generic_category(), "epoll_create1/eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = m_wake.get();
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, m_wake.get(), &ev) != 0) {
        throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    }
}

EpollDriver::~EpollDriver() = default;

void EpollDriver::watch(int fd, unsigned interest)
{
    const auto it = m_watched.find(fd);
    if (interest == 0) {
        if (it != m_watched.end()) {
            // libcurl may already have closed it, which removed it from the
            // epoll set by itself (EBADF then is no error).
            ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
            m_watched.erase(it);
        }
        return;
    }
    epoll_event ev{};
    ev.events = eventsFor(interest);
    ev.data.fd = fd;
    if (it != m_watched.end()) {
        if (it->second == interest) {
            return;
        }
        it->second = interest;
        if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev) == 0 || errno != ENOENT) {
            return;
        }
        // Closed and reopened under the same number since it was added.
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev);
        return;
    }
    m_watched.emplace(fd, interest);
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST) {
        ::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev);
    }
}

void EpollDriver::timer(std::optional<Duration> after)
{
    if (after) {
        m_due = std::chrono::steady_clock::now() + *after;
    } else {
        m_due.reset();
    }
}

int EpollDriver::waitEvents(epoll_event* events, int max, Duration timeout)
{
    // The dispatcher paces requests to the microsecond; epoll_wait counts
    // whole milliseconds, epoll_pwait2 (Linux 5.11) nanoseconds.
    if (m_precise) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
        const timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
        const int n = ::epoll_pwait2(m_epoll.get(), events, max, &ts, nullptr);
        if (n >= 0 || errno != ENOSYS) {
            return n;
        }
        m_precise = false;
    }
    // Whole milliseconds, rounded up: a timer is never looked at before it
    // is due, and the loop never spins on a zero.
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout + std::chrono::microseconds(999)).count();
    return ::epoll_wait(m_epoll.get(), events, max, static_cast<int>(ms));
}

void EpollDriver::wait(Duration timeout, DrivenClient& client)
{
    using namespace std::chrono;
    auto waitFor = std::max(timeout, Duration::zero());
    if (m_due) {
        waitFor = std::min<Duration>(waitFor, std::max<Duration>(*m_due - steady_clock::now(), Duration::zero()));
    }
    std::array<epoll_event, 64> events{};
    const int n = waitEvents(events.data(), static_cast<int>(events.size()), std::min<Duration>(waitFor, seconds(60)));
    for (int i = 0; i < n; ++i) {
        const int fd = events[static_cast<std::size_t>(i)].data.fd;
        const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
        if (fd == m_wake.get()) {
            std::uint64_t count = 0;
            [[maybe_unused]] const auto r = ::read(m_wake.get(), &count, sizeof count);
            continue;
        }
        // An event for a socket the client let go of earlier in this batch.
        if (!m_watched.contains(fd)) {
            continue;
        }
        // A hang-up or an error is for libcurl to read as such.
        const bool readable = (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
        const bool writable = (ev & (EPOLLOUT | EPOLLERR)) != 0;
        client.socketReady(fd, readable, writable);
    }
    if (m_due && steady_clock::now() >= *m_due) {
        const auto fired = *m_due;
        client.timerFired();
        // libcurl calls the timer function only when its deadline changes,
        // so after a firing that did not change it (a transfer finished
        // within it; a deadline a fraction of a millisecond later than the
        // whole milliseconds it told) ask it what it holds now.
        if (m_due == fired) {
            const std::optional<Duration> left = client.timeout();
            m_due.reset();
            if (left) {
                // Zero after a firing: due within the millisecond libcurl
                // rounds to; looking again at once could spin on it.
                m_due = steady_clock::now() + (*left > Duration::zero() ? *left : Duration(milliseconds(1)));
            }
        }
    }
}

void EpollDriver::wakeup() noexcept
{
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto r = ::write(m_wake.get(), &one, sizeof one);
}

}  // namespace sluice::http
