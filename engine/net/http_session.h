// The HTTP server's connections: what they share with the server
// (ServerState) and how one starts and ends. Private to engine/net: the
// only files that include Asio and Beast are the server's own, which keeps
// every other file quick to compile.
//
// Thread-safety: as HttpServer's (http_server.h); ServerState's members
// under `mutex` from any thread, the rest set before the io threads start.
#pragma once

#include "core/unique_fd.h"
#include "net/http_server.h"

// not ours, so the warning is silenced for these headers only. Clang has no
// such warning (and would reject the unknown name under -Werror).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace sluice::net {

class EventLoop;

namespace asio = boost::asio;
namespace beasthttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
// What a connection's handlers run on: a strand of the io_context when
// several io threads run it (so one connection's handlers never overlap),
// the io_context's own executor when one thread does (a strand there only
// adds a queue and a lock to every handler; docs/benchmarks.md has the
// gateway's CPU per request before and after).
using SessionExecutor = asio::any_io_executor;

class Session;

// What every connection shares with the server. `mutex` and `stopped` let a
// responder completed on a foreign thread know whether the io_context still
// exists.
struct ServerState {
    ServerState() : inboxFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), peerEpoll(::epoll_create1(EPOLL_CLOEXEC))
    {
        if (!inboxFd.valid() || !peerEpoll.valid()) {
            throw std::runtime_error("http server: cannot create an eventfd or an epoll set");
        }
    }
    ServerState(const ServerState&) = delete;
    ServerState& operator=(const ServerState&) = delete;

    // Work from another thread (a reply, a stream write, a peer-gone
    // callback) for the io threads: queued under `mutex` and announced on
    // the eventfd once the lock is released. asio::post would signal the
    // reactor while holding the scheduler's lock, so the woken io thread
    // blocked on that lock and was woken again: two more context switches
    // per reply. False once stopped (the work is dropped).
    bool postForeign(std::function<void()> work)
    {
        bool wake = false;
        {
            std::lock_guard guard(mutex);
            if (stopped) {
                return false;
            }
            wake = inbox.empty();
            inbox.push_back(std::move(work));
        }
        if (wake) {
            const std::uint64_t one = 1;
            // Fails only with the counter near its maximum: readable already.
            [[maybe_unused]] const ssize_t written = ::write(inboxFd.get(), &one, sizeof one);
        }
        return true;
    }

    HttpServerOptions options;
    HttpHandler handler;
    std::atomic<std::size_t> connections{0};
    // Connections with a request handed to the handler and its answer not
    // yet all written (HttpServer::busyConnections).
    std::atomic<std::size_t> busy{0};
    // Set by HttpServer::drain(): every reply from then on closes its
    // connection after it.
    std::atomic<bool> draining{false};
    std::mutex mutex;
    bool stopped = false;
    // Every live session by its id (under mutex), so stop() can close the
    // sockets of those a pending responder keeps alive before the
    // io_context goes away, and a peer's hang-up (peerEpoll, whose events
    // carry the id) finds its session if it still exists.
    std::unordered_map<std::uint64_t, Session*> sessions;
    std::uint64_t nextSession = 1;  // under mutex
    std::vector<std::function<void()>> inbox;  // under mutex
    const UniqueFd inboxFd;  // lives as long as any responder can post
    // Peers that hang up while an answer is pending. Every connection's
    // socket joins this epoll set once, for EPOLLRDHUP alone and
    // edge-triggered: a request arriving does not report, and waiting for a
    // goodbye costs no system call per request (an Asio async_wait re-arms
    // with epoll_ctl each time). The io threads watch the set itself
    // (peersHungUp). A socket leaves the set when it is closed.
    const UniqueFd peerEpoll;
    // The loop the server runs on when it has no io threads of its own.
    EventLoop* loop = nullptr;
};

// A connection counted in ServerState::busy from the hand-over of a request
// until its answer is all written (or the connection closes).
class BusyMark {
public:
    explicit BusyMark(std::atomic<std::size_t>& count) noexcept : m_count(count) {}
    ~BusyMark() { clear(); }
    BusyMark(const BusyMark&) = delete;
    BusyMark& operator=(const BusyMark&) = delete;
    void set() noexcept
    {
        if (!std::exchange(m_set, true)) {
            m_count.fetch_add(1, std::memory_order_relaxed);
        }
    }
    void clear() noexcept
    {
        if (std::exchange(m_set, false)) {
            m_count.fetch_sub(1, std::memory_order_relaxed);
        }
    }

private:
    std::atomic<std::size_t>& m_count;
    bool m_set = false;
};

// The bytes of a reply on the wire (reply_wire.cpp): the status line and
// headers, with the framing the server adds (Content-Length from the parts
// unless declared, or chunked; Connection: close when not kept alive), and
// one chunk of chunked coding.
void appendReplyHead(std::string& out, const HttpReply& reply, bool keepAlive);
void appendChunk(std::string& out, std::string_view data);

// Starts serving one accepted connection.
void startSession(tcp::socket socket, const SessionExecutor& executor, const std::shared_ptr<ServerState>& state);
// On an io thread, when peerEpoll is readable: tells each connection whose
// peer hung up, on that connection's executor.
void peersHungUp(ServerState& state);
// Own io threads joined: drops every connection's socket, timer and strand,
// which must go before the io_context they belong to.
void releaseSessions(ServerState& state);
// On the loop's driver thread: closes every connection now (a held
// request's peer-gone callback runs), so nothing of the server is left on
// a loop that goes on running.
void closeSessions(ServerState& state);

}  // namespace sluice::net
