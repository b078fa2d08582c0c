// One connection of the HTTP server: reading requests with Beast, carrying
// out reply plans and streams, noticing a peer that leaves.
#include "net/http_session.h"

#include "net/event_loop.h"

#include <array>

namespace sluice::net {

namespace http = beasthttp;

// The session whose handler is running on this thread, so an answer given
// from inside the handler is carried out at once instead of posted.
static thread_local Session* t_delivering = nullptr;

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, const SessionExecutor& executor, std::shared_ptr<ServerState> state)
        : m_io(std::in_place, std::move(socket), executor), m_state(std::move(state))
    {
        ++m_state->connections;
        std::lock_guard guard(m_state->mutex);
        m_id = m_state->nextSession++;
        m_state->sessions.emplace(m_id, this);
    }

    ~Session()
    {
        finishExchange(false);
        --m_state->connections;
        std::lock_guard guard(m_state->mutex);
        m_state->sessions.erase(m_id);
    }

    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void start()
    {
        epoll_event ev{};
        ev.events = EPOLLRDHUP | EPOLLET;
        ev.data.u64 = m_id;
        // Without it a held request's peer leaving is noticed when its
        // answer is written, not before: serving goes on either way.
        (void)::epoll_ctl(m_state->peerEpoll.get(), EPOLL_CTL_ADD, m_io->socket.native_handle(), &ev);
        // writeBatch() writes at once what fits and must never block.
        error_code ec;
        m_io->socket.non_blocking(true, ec);
        if (ec) {
            close(false);
            return;
        }
        readHeader();
    }

    // On the session's executor: the peer shut its side (or the connection
    // broke). Ends a pending exchange as if the peer left; otherwise the
    // read of the next request meets the end of the stream itself.
    void peerHungUp()
    {
        m_peerHungUp = true;
        if (m_watching && !m_closed) {
            close(false);
        }
    }

    // On the session's executor: carries out a reply plan.
    void run(HttpReply reply)
    {
        if (m_replying || m_closed) {
            return;  // a second answer to one request is ignored
        }
        m_replying = true;
        // A whole reply is on its way: nothing left to cancel if the peer goes.
        m_watching = false;
        m_onGone = nullptr;
        m_reply = std::move(reply);
        m_nextPart = 0;
        m_headSent = false;
        step();
    }

    // On the session's executor: the head of a streamed reply, then chunks as
    // streamWrite() brings them.
    void startStream(HttpReply head)
    {
        if (m_replying || m_closed) {
            return;
        }
        m_replying = true;
        m_streaming = true;
        m_streamLast = false;
        m_reply = std::move(head);
        m_reply.chunked = true;
        m_headSent = false;
        m_out.clear();
        appendHead();
        for (const auto& part : m_reply.parts) {
            appendPart(part.data);
        }
        m_pendingOut.append(m_out);
        m_out.clear();
        startWatch();
        flushStream();
    }

    void streamWrite(std::string data)
    {
        if (!m_streaming || m_streamLast || m_closed || data.empty()) {
            return;
        }
        appendChunk(m_pendingOut, data);
        flushStream();
    }

    void streamEnd()
    {
        if (!m_streaming || m_streamLast || m_closed) {
            return;
        }
        m_pendingOut.append("0\r\n\r\n");
        m_streamLast = true;
        m_watching = false;
        m_onGone = nullptr;
        finishExchange(true);
        flushStream();
    }

    void streamAbort()
    {
        if (m_streaming && !m_streamLast && !m_closed) {
            close(false);
        }
    }

    void setOnGone(std::function<void()> callback)
    {
        if (m_closed) {
            callback();
            return;
        }
        m_onGone = std::move(callback);
    }

    const SessionExecutor& executor() const noexcept { return m_io->executor; }

    // Called by stop() with the io threads joined: the socket, timer and
    // executor must go before the io_context they belong to.
    void releaseIo() { m_io.reset(); }

    // The server stops while the loop it ran on goes on: the connection
    // closes now, as if the peer had left.
    void shutDown()
    {
        if (m_io) {
            close(false);
        }
    }

    // Work for a session's executor from outside its handler. On the driver
    // thread of the loop the server shares, inside a DirectReplies scope and
    // with nothing handed over before still queued: when the outermost
    // scope closes, with no turn of the loop between. Otherwise on
    // that thread straight onto its executor: it runs as soon as the current
    // handler returns, with no wake-up. From any other thread through the io
    // threads' inbox, while the io_context exists.
    template <typename F>
    static void handTo(std::shared_ptr<Session> session, F work)
    {
        const std::shared_ptr<ServerState>& state = session->m_state;
        if (state->loop != nullptr && state->loop->inDriverThread()) {
            if (state->loop->inDirectReplies() && t_delivering == nullptr && session->m_handedOver == 0) {
                // Counted as handed over, so work handed to this session
                // after it, until the scope closes, waits behind it.
                ++session->m_handedOver;
                state->loop->holdUntilScopeCloses([s = std::move(session), w = std::move(work)]() mutable {
                    --s->m_handedOver;
                    w(*s);
                });
                return;
            }
            ++session->m_handedOver;
            const SessionExecutor executor = session->executor();
            asio::post(executor, [s = std::move(session), w = std::move(work)]() mutable {
                --s->m_handedOver;
                w(*s);
            });
            return;
        }
        ++session->m_handedOver;
        std::shared_ptr<ServerState> keep = state;
        keep->postForeign([s = std::move(session), w = std::move(work)]() mutable {
            Session& target = *s;
            asio::dispatch(target.executor(), [s = std::move(s), w = std::move(w)]() mutable {
                --s->m_handedOver;
                w(*s);
            });
        });
    }

private:
    void readHeader()
    {
        m_busy.clear();  // the last answer is all written
        m_replying = false;
        m_streaming = false;
        m_streamLast = false;
        m_watching = false;
        m_onGone = nullptr;
        if (const auto& limit = m_state->options.requestTimeout) {
            m_reading = true;
            m_readDeadline = std::chrono::steady_clock::now() + *limit;
            if (!m_readTimerArmed) {
                watchReadDeadline();
            }
        }
        m_parser.emplace();
        m_parser->header_limit(32 * 1024);
        m_parser->body_limit(static_cast<std::uint64_t>(m_state->options.maxBodyBytes));
        http::async_read_header(m_io->socket, m_buffer, *m_parser,
                                [self = shared_from_this()](error_code ec, std::size_t) { self->onHeader(ec); });
    }

    // One wait outlives many requests: each request only moves
    // m_readDeadline, and the wait, when it comes due, closes a connection
    // still reading past it or waits again for the deadline now in force
    // (a timer cancelled and armed per request cost a handler of its own).
    void watchReadDeadline()
    {
        m_readTimerArmed = true;
        m_io->readTimer.expires_at(m_readDeadline);
        m_io->readTimer.async_wait([self = shared_from_this()](error_code ec) {
            self->m_readTimerArmed = false;
            if (ec || self->m_closed || !self->m_reading) {
                return;  // cancelled, or no request being read: readHeader() watches again
            }
            if (std::chrono::steady_clock::now() >= self->m_readDeadline) {
                self->close(false);
                return;
            }
            self->watchReadDeadline();
        });
    }

    void onHeader(error_code ec)
    {
        // The limit can trip on the declared length before the header counts
        // as done; the start line and fields are parsed by then.
        if (ec == http::error::body_limit) {
            deliver(true);
            return;
        }
        if (ec) {
            failRead(ec);
            return;
        }
        const auto& head = m_parser->get();
        const auto expect = head[http::field::expect];
        if (expect.size() == 12 && headerNameEquals(std::string_view(expect.data(), expect.size()), "100-continue")) {
            // Clients that wait for this before sending a body would
            // otherwise stall for their own timeout (curl: 1 s).
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            asio::async_write(m_io->socket, asio::buffer(kContinue.data(), kContinue.size()),
                              [self = shared_from_this()](error_code wec, std::size_t) {
                                  if (wec) {
                                      self->close(false);
                                      return;
                                  }
                                  self->readBody();
                              });
            return;
        }
        readBody();
    }

    void readBody()
    {
        if (!m_parser->is_done() && m_buffer.size() != 0 && !parseBuffered()) {
            return;
        }
        if (m_parser->is_done()) {
            deliver(false);
            return;
        }
        http::async_read(m_io->socket, m_buffer, *m_parser, [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec == http::error::body_limit) {
                self->deliver(true);
            } else if (ec) {
                self->failRead(ec);
            } else {
                self->deliver(false);
            }
        });
    }

    // The body bytes that came with the head, parsed here: async_read would
    // parse them too, but finishing at once it must post its completion, and
    // the request would wait a turn of the loop (behind an epoll_wait) to be
    // delivered. False when the request was answered or closed meanwhile.
    bool parseBuffered()
    {
        error_code ec;
        while (!m_parser->is_done() && m_buffer.size() != 0) {
            const std::size_t used = m_parser->put(m_buffer.data(), ec);
            m_buffer.consume(used);
            if (ec == http::error::need_more) {
                ec = {};
                break;
            }
            if (ec || used == 0) {
                break;
            }
        }
        if (ec == http::error::body_limit) {
            deliver(true);
            return false;
        }
        if (ec) {
            failRead(ec);
            return false;
        }
        return true;
    }

    void failRead(error_code ec)
    {
        if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
            ec != http::error::end_of_stream && ec != http::error::partial_message) {
            m_keepAlive = false;
            // Before any handler: no dialect to answer in, so plain text
            // that names what the parser refused ("bad Content-Length").
            const bool headers = ec == http::error::header_limit;
            run(HttpReply::whole(headers ? 431 : 400, "text/plain",
                                 std::string(headers ? "Request Header Fields Too Large: " : "Bad Request: ") +
                                     ec.message() + "\n"));
            return;
        }
        close(false);
    }

    void deliver(bool bodyTooLarge)
    {
        auto& msg = m_parser->get();
        InboundRequest request;
        request.method = std::string(msg.method_string());
        request.target = std::string(msg.target());
        request.headers.reserve(8);
        for (const auto& field : msg) {  // made in place: moving the strings cost more than making them
            request.headers.emplace_back(std::string_view(field.name_string().data(), field.name_string().size()),
                                         std::string_view(field.value().data(), field.value().size()));
        }
        request.keepAlive = msg.keep_alive() && !bodyTooLarge && !m_state->draining.load(std::memory_order_relaxed);
        request.bodyTooLarge = bodyTooLarge;
        if (!bodyTooLarge) {
            request.body = std::move(msg.body());
        }
        m_keepAlive = request.keepAlive;
        m_parser.reset();
        m_reading = false;
        m_busy.set();

        auto exchange = std::make_shared<Exchange>(shared_from_this(), m_state);
        t_delivering = this;
        try {
            m_state->handler(std::move(request), HttpResponder(std::move(exchange)));
        } catch (const std::exception& e) {
            // The responder, destroyed unsent while unwinding, answers 500.
            std::fprintf(stderr, "http server: request handler failed: %s\n", e.what());
        }
        t_delivering = nullptr;
        if (!m_replying) {
            startWatch();  // a held request: notice a peer that gives up
        }
    }

    // From here until the answer is on its way a peer hanging up ends the
    // exchange (peerHungUp). One that hung up already (its goodbye came
    // while the request was read) is told so on the next turn of the loop.
    void startWatch()
    {
        if (m_watching || m_closed) {
            return;
        }
        m_watching = true;
        if (m_peerHungUp) {
            asio::post(m_io->executor, [self = shared_from_this()] {
                if (self->m_watching && !self->m_closed) {
                    self->close(false);
                }
            });
        }
    }

    void flushStream()
    {
        if (m_writing || m_closed) {
            return;
        }
        if (m_pendingOut.empty()) {
            if (m_streamLast) {
                m_streaming = false;
                if (m_keepAlive) {
                    readHeader();
                } else {
                    close(false);
                }
            }
            return;
        }
        m_out.clear();
        m_out.swap(m_pendingOut);
        m_writing = true;
        asio::async_write(m_io->socket, asio::buffer(m_out), [self = shared_from_this()](error_code ec, std::size_t) {
            self->m_writing = false;
            if (ec) {
                self->close(false);
                return;
            }
            self->flushStream();
        });
    }

    // Waits for the next part's delay, then writes it with every part that
    // follows it without a delay.
    void step()
    {
        if (m_nextPart < m_reply.parts.size() && m_reply.parts[m_nextPart].delay > Duration::zero()) {
            m_io->timer.expires_after(m_reply.parts[m_nextPart].delay);
            m_io->timer.async_wait([self = shared_from_this()](error_code ec) {
                if (ec) {
                    self->close(false);
                    return;
                }
                self->writeBatch();
            });
            return;
        }
        writeBatch();
    }

    void appendHead()
    {
        // Draining: a request read before it began is answered as the ones after.
        if (m_state->draining.load(std::memory_order_relaxed)) {
            m_keepAlive = false;
        }
        appendReplyHead(m_out, m_reply, m_keepAlive);
        m_headSent = true;
    }

    void appendPart(const std::string& data)
    {
        if (!m_reply.chunked) {
            m_out.append(data);
        } else if (!data.empty()) {
            appendChunk(m_out, data);
        }
    }

    void writeBatch()
    {
        m_out.clear();
        const auto& parts = m_reply.parts;
        if (parts.empty() && m_reply.ending == HttpEnding::Hang) {
            onWritten({});
            return;
        }
        if (!m_headSent) {
            appendHead();
        }
        if (m_nextPart < parts.size()) {
            do {
                appendPart(parts[m_nextPart].data);
                ++m_nextPart;
            } while (m_nextPart < parts.size() && parts[m_nextPart].delay <= Duration::zero());
        }
        if (m_nextPart == parts.size()) {
            if (m_reply.chunked && m_reply.ending == HttpEnding::Complete) {
                m_out.append("0\r\n\r\n");
            }
            finishExchange(true);
        }
        if (m_out.empty()) {
            onWritten({});
            return;
        }
        // Most answers fit the socket's send buffer at once: written here,
        // they need no write operation, whose completion Asio would run as a
        // handler of its own. What does not fit goes the asynchronous way.
        error_code ec;
        const std::size_t sent = m_io->socket.write_some(asio::buffer(m_out), ec);
        if (!ec && sent == m_out.size()) {
            onWritten({});
            return;
        }
        if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
            close(false);
            return;
        }
        asio::async_write(m_io->socket, asio::buffer(m_out) + sent,
                          [self = shared_from_this()](error_code wec, std::size_t) { self->onWritten(wec); });
    }

    void onWritten(error_code ec)
    {
        if (ec) {
            close(false);
            return;
        }
        if (m_nextPart < m_reply.parts.size()) {
            step();
            return;
        }
        switch (m_reply.ending) {
        case HttpEnding::Complete:
            if (m_keepAlive) {
                readHeader();
            } else {
                close(false);
            }
            return;
        case HttpEnding::Close:
            close(false);
            return;
        case HttpEnding::Reset:
            close(true);
            return;
        case HttpEnding::Hang:
            // A read that completes when the peer gives up (or sends
            // anything) ends the silence.
            m_io->socket.async_read_some(asio::buffer(m_drain), [self = shared_from_this()](error_code, std::size_t) {
                self->close(false);
            });
            return;
        }
    }

    void finishExchange(bool delivered)
    {
        if (auto done = std::exchange(m_reply.onFinished, nullptr)) {
            done(delivered);
        }
    }

    void close(bool reset)
    {
        if (m_closed) {
            return;
        }
        m_closed = true;
        m_reading = false;
        m_watching = false;
        finishExchange(false);
        m_busy.clear();
        if (auto gone = std::exchange(m_onGone, nullptr)) {
            gone();
        }
        error_code ignored;
        if (reset) {
            // SO_LINGER with a zero timeout makes close() send RST.
            m_io->socket.set_option(asio::socket_base::linger(true, 0), ignored);
        } else {
            m_io->socket.shutdown(tcp::socket::shutdown_both, ignored);
        }
        m_io->socket.close(ignored);
        m_io->timer.cancel();
        m_io->readTimer.cancel();
    }

    // The Sink a handler answers through. It keeps the session alive until
    // the answer comes, however long the handler takes.
    class Exchange final : public HttpResponder::Sink {
    public:
        Exchange(std::shared_ptr<Session> session, std::shared_ptr<ServerState> state)
            : m_session(std::move(session)), m_state(std::move(state))
        {
        }

        void send(HttpReply reply) override
        {
            std::shared_ptr<Session> session = std::move(m_session);
            if (session == nullptr) {
                return;
            }
            if (t_delivering == session.get()) {
                // Answered from inside the handler, on the session's executor.
                session->run(std::move(reply));
                return;
            }
            handTo(std::move(session), [r = std::move(reply)](Session& target) mutable { target.run(std::move(r)); });
        }

        std::shared_ptr<HttpStream> stream(HttpReply head) override;

        void onPeerGone(std::function<void()> callback) override
        {
            if (m_session == nullptr) {
                return;
            }
            if (t_delivering == m_session.get()) {
                m_session->setOnGone(std::move(callback));
                return;
            }
            handTo(m_session, [c = std::move(callback)](Session& target) mutable { target.setOnGone(std::move(c)); });
        }

    private:
        std::shared_ptr<Session> m_session;
        std::shared_ptr<ServerState> m_state;
    };

    // The writer half of a streamed reply: every call is posted to the
    // session's executor, so writes keep their order from any thread.
    class StreamHandle final : public HttpStream {
    public:
        explicit StreamHandle(std::shared_ptr<Session> session) : m_session(std::move(session)) {}

        void write(std::string data) override
        {
            post([data = std::move(data)](Session& s) mutable { s.streamWrite(std::move(data)); });
        }
        void end() override
        {
            post([](Session& s) { s.streamEnd(); });
        }
        void abort() override
        {
            post([](Session& s) { s.streamAbort(); });
        }

    private:
        template <typename F>
        void post(F f)
        {
            handTo(m_session, std::move(f));
        }

        std::shared_ptr<Session> m_session;
    };

    struct Io {
        Io(tcp::socket s, const SessionExecutor& ex) : socket(std::move(s)), executor(ex), timer(ex), readTimer(ex) {}
        tcp::socket socket;
        SessionExecutor executor;
        asio::steady_timer timer;      // a reply part's delay
        asio::steady_timer readTimer;  // the request being read: HttpServerOptions::requestTimeout
    };
    std::optional<Io> m_io;
    std::shared_ptr<ServerState> m_state;
    std::uint64_t m_id = 0;  // its key in ServerState::sessions and its peerEpoll events
    BusyMark m_busy{m_state->busy};
    boost::beast::flat_buffer m_buffer;
    std::optional<http::request_parser<http::string_body>> m_parser;
    HttpReply m_reply;
    std::size_t m_nextPart = 0;
    bool m_headSent = false;
    bool m_keepAlive = true;
    bool m_replying = false;
    bool m_streaming = false;
    bool m_streamLast = false;
    bool m_writing = false;
    bool m_watching = false;
    bool m_reading = false;
    bool m_readTimerArmed = false;
    std::chrono::steady_clock::time_point m_readDeadline{};
    bool m_closed = false;
    bool m_peerHungUp = false;
    // Work handTo() posted that has not run yet: while there is some, later
    // work is posted too, to keep the order. Counted from any thread.
    std::atomic<int> m_handedOver = 0;
    std::function<void()> m_onGone;
    std::string m_pendingOut;
    std::string m_out;
    std::array<char, 512> m_drain{};
};

std::shared_ptr<HttpStream> Session::Exchange::stream(HttpReply head)
{
    std::shared_ptr<Session> session = std::move(m_session);
    if (session == nullptr) {
        return nullptr;
    }
    auto handle = std::make_shared<StreamHandle>(session);
    if (t_delivering == session.get()) {
        session->startStream(std::move(head));
        return handle;
    }
    handTo(std::move(session), [h = std::move(head)](Session& target) mutable { target.startStream(std::move(h)); });
    return handle;
}

void startSession(tcp::socket socket, const SessionExecutor& executor, const std::shared_ptr<ServerState>& state)
{
    std::make_shared<Session>(std::move(socket), executor, state)->start();
}

void peersHungUp(ServerState& state)
{
    std::array<epoll_event, 64> events{};
    int n = 0;
    do {
        n = ::epoll_wait(state.peerEpoll.get(), events.data(), static_cast<int>(events.size()), 0);
        for (int i = 0; i < n; ++i) {
            std::shared_ptr<Session> session;
            {
                // Under the lock a listed session is not yet destroyed (one being destroyed gives no
                // owner). epoll_event is packed: its id is copied out, never referred to unaligned.
                std::lock_guard guard(state.mutex);
                const auto it = state.sessions.find(std::uint64_t{events[static_cast<std::size_t>(i)].data.u64});
                if (it != state.sessions.end()) {
                    session = it->second->weak_from_this().lock();
                }
            }
            if (session != nullptr) {
                const SessionExecutor executor = session->executor();
                asio::post(executor, [s = std::move(session)] { s->peerHungUp(); });
            }
        }
    } while (n == static_cast<int>(events.size()));
}

void releaseSessions(ServerState& state)
{
    std::lock_guard guard(state.mutex);
    for (const auto& [id, session] : state.sessions) {
        session->releaseIo();
    }
}

void closeSessions(ServerState& state)
{
    // Collected first: closing runs callbacks that may drop a session,
    // whose destructor takes the lock.
    std::vector<std::shared_ptr<Session>> open;
    {
        std::lock_guard guard(state.mutex);
        for (const auto& [id, session] : state.sessions) {
            if (auto s = session->weak_from_this().lock()) {
                open.push_back(std::move(s));
            }
        }
    }
    for (const auto& s : open) {
        s->shutDown();
    }
}

}  // namespace sluice::net
