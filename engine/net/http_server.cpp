// The server's listener and its io threads (or the shared loop it runs on);
// the connections are http_session.cpp's.
#include "net/http_server.h"

#include "net/asio_loop.h"
#include "net/http_session.h"

#include <cstdio>
#include <stdexcept>
#include <thread>

#include <unistd.h>

namespace sluice::net {

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
    std::shared_ptr<ServerState> state;
    // With io threads of its own, its own io_context; on a shared loop, the
    // loop's. `io` is the one in use while started.
    std::unique_ptr<asio::io_context> ownIo;
    EventLoop* loop = nullptr;
    asio::io_context* io = nullptr;
    int ioThreads = 1;  // threads running `io`: 1 on a shared loop
    std::optional<tcp::acceptor> acceptor;
    std::optional<asio::steady_timer> acceptRetry;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;
    std::uint16_t port = 0;
    // Reads the inbox's eventfd (a copy of it: the state owns the original).
    std::optional<asio::posix::stream_descriptor> inboxReader;
    std::uint64_t inboxCount = 0;
    // Watches ServerState::peerEpoll (a copy of it) for peers that hang up.
    std::optional<asio::posix::stream_descriptor> peerReader;

    // Runs what other threads handed in, then waits for more. The counter
    // is read before the queue is taken, so work queued after the take
    // always finds the counter at zero and announces itself. Handlers hold
    // the Impl: on a shared loop they may run after stop().
    void readInbox()
    {
        inboxReader->async_read_some(asio::buffer(&inboxCount, sizeof inboxCount),
                                     [self = shared_from_this()](error_code ec, std::size_t) {
                                         if (ec == asio::error::operation_aborted || !self->inboxReader ||
                                             !self->inboxReader->is_open()) {
                                             return;
                                         }
                                         self->runInbox();
                                     });
    }

    void readPeers()
    {
        peerReader->async_wait(asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](error_code ec) {
            if (ec == asio::error::operation_aborted || !self->peerReader || !self->peerReader->is_open()) {
                return;
            }
            peersHungUp(*self->state);
            self->readPeers();
        });
    }

    void runInbox()
    {
        std::vector<std::function<void()>> handedIn;
        {
            std::lock_guard guard(state->mutex);
            handedIn.swap(state->inbox);
        }
        readInbox();
        for (auto& w : handedIn) {
            // One failing piece of work must not lose the others, nor the
            // reading of the inbox (a handler's exception would leave
            // io_context::run as well).
            try {
                w();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "http server: %s\n", e.what());
            }
        }
    }

    void accept()
    {
        const SessionExecutor executor = ioThreads > 1 ? SessionExecutor(asio::make_strand(*io)) : SessionExecutor(io->get_executor());
        acceptor->async_accept(executor, [self = shared_from_this(), executor](error_code ec, tcp::socket socket) mutable {
            if (ec == asio::error::operation_aborted || !self->acceptor || !self->acceptor->is_open()) {
                return;
            }
            if (ec) {
                // Out of file descriptors, most likely: back off instead of
                // spinning until connections close.
                self->acceptRetry->expires_after(std::chrono::milliseconds(50));
                self->acceptRetry->async_wait([self](error_code wec) {
                    if (!wec && self->acceptor) {
                        self->accept();
                    }
                });
                return;
            }
            error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            startSession(std::move(socket), executor, self->state);
            self->accept();
        });
    }

    tcp::acceptor listen(const asio::ip::address& address, const std::string& where)
    {
        tcp::acceptor a(*io);
        const tcp::endpoint endpoint(address, state->options.port);
        error_code ec;
        a.open(endpoint.protocol(), ec);
        if (!ec) {
            a.set_option(asio::socket_base::reuse_address(true), ec);
        }
        if (!ec) {
            a.bind(endpoint, ec);
        }
        if (!ec) {
            a.listen(asio::socket_base::max_listen_connections, ec);
        }
        if (ec) {
            throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
        }
        return a;
    }

    void runThreads(int count)
    {
        work.emplace(asio::make_work_guard(*io));
        for (int i = 0; i < count; ++i) {
            threads.emplace_back([io = io] {
                for (;;) {
                    try {
                        io->run();
                        return;
                    } catch (const std::exception& e) {
                        std::fprintf(stderr, "http server: %s\n", e.what());
                    }
                }
            });
        }
    }

    // Own threads: stops them, then drops what belongs to the io_context.
    void stopThreads()
    {
        work.reset();
        ownIo->stop();
        for (auto& t : threads) {
            t.join();
        }
        threads.clear();
        dropLateWork();
        releaseSessions(*state);
        closeListener();
        // Destroying the io_context destroys every pending handler, and
        // with them the sessions they hold: each connection closes here.
        ownIo.reset();
    }

    // A shared loop goes on running: everything of the server on it is
    // closed on its driver thread, and late handlers find it closed.
    void stopOnLoop()
    {
        loop->call([this] {
            closeListener();
            closeSessions(*state);
        });
        dropLateWork();
    }

    void closeListener()
    {
        error_code ignored;
        if (acceptor) {
            acceptor->close(ignored);
        }
        if (inboxReader) {
            inboxReader->close(ignored);
        }
        if (peerReader) {
            peerReader->close(ignored);
        }
        acceptor.reset();
        acceptRetry.reset();
        inboxReader.reset();
        peerReader.reset();
    }

    // Work handed in too late holds sessions: dropped outside the lock,
    // since a session's destructor takes it.
    void dropLateWork()
    {
        std::vector<std::function<void()>> late;
        {
            std::lock_guard guard(state->mutex);
            late.swap(state->inbox);
        }
        late.clear();
    }
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler) : m_impl(std::make_shared<Impl>())
{
    m_impl->state = std::make_shared<ServerState>();
    m_impl->state->options = std::move(options);
    m_impl->state->handler = std::move(handler);
}

HttpServer::~HttpServer()
{
    stop();
}

std::uint16_t HttpServer::start()
{
    Impl& d = *m_impl;
    if (d.io != nullptr) {
        return d.port;
    }
    const HttpServerOptions& opt = d.state->options;
    const std::string where = opt.host + ":" + std::to_string(opt.port);
    error_code ec;
    const auto address = asio::ip::make_address(opt.host == "localhost" ? std::string("127.0.0.1") : opt.host, ec);
    if (ec) {
        throw std::runtime_error("cannot listen on " + where + ": '" + opt.host + "' is not an IP address");
    }
    const int threads = opt.threads < 1 ? 1 : opt.threads;
    std::unique_ptr<asio::io_context> own;
    if (opt.loop == nullptr) {
        own = std::make_unique<asio::io_context>(threads);
    }
    d.io = own ? own.get() : &opt.loop->impl().io;
    d.ioThreads = own ? threads : 1;
    try {
        d.acceptor.emplace(d.listen(address, where));
    } catch (...) {
        d.io = nullptr;
        throw;
    }
    UniqueFd inboxCopy(::dup(d.state->inboxFd.get()));
    UniqueFd peersCopy(::dup(d.state->peerEpoll.get()));
    if (!inboxCopy.valid() || !peersCopy.valid()) {
        d.acceptor.reset();
        d.io = nullptr;
        throw std::runtime_error("cannot listen on " + where + ": no file descriptor left for the reply queue");
    }
    d.port = d.acceptor->local_endpoint().port();
    d.ownIo = std::move(own);
    d.loop = opt.loop;
    d.state->loop = opt.loop;
    d.acceptRetry.emplace(*d.io);
    {
        std::lock_guard guard(d.state->mutex);
        d.state->stopped = false;
    }
    d.inboxReader.emplace(*d.io, inboxCopy.release());
    d.peerReader.emplace(*d.io, peersCopy.release());
    if (d.loop != nullptr) {
        // The first waits are started on the driver thread, where every
        // later one runs.
        d.loop->call([&d] {
            d.readInbox();
            d.readPeers();
            d.accept();
        });
        return d.port;
    }
    d.readInbox();
    d.readPeers();
    d.accept();
    d.runThreads(threads);
    return d.port;
}

void HttpServer::stop()
{
    Impl& d = *m_impl;
    if (d.io == nullptr) {
        return;
    }
    {
        std::lock_guard guard(d.state->mutex);
        d.state->stopped = true;
    }
    if (d.loop != nullptr) {
        d.stopOnLoop();
    } else {
        d.stopThreads();
    }
    d.io = nullptr;
}

std::uint16_t HttpServer::port() const noexcept
{
    return m_impl->port;
}

std::size_t HttpServer::openConnections() const noexcept
{
    return m_impl->state->connections.load();
}

std::size_t HttpServer::busyConnections() const noexcept
{
    return m_impl->state->busy.load();
}

void HttpServer::drain() noexcept
{
    m_impl->state->draining = true;
}

}  // namespace sluice::net
