#include "gateway/loop_transport.h"

#include "net/http_server.h"

namespace sluice::gateway {

namespace {

// Set for a scope, cleared however it ends.
struct InBetween {
    explicit InBetween(bool& f) : flag(f) { flag = true; }
    ~InBetween() { flag = false; }
    InBetween(const InBetween&) = delete;
    InBetween& operator=(const InBetween&) = delete;
    bool& flag;
};

}  // namespace

LoopTransport::LoopTransport(net::EventLoop& loop)
    : m_loop(loop),
      // The client's callbacks answer the gateway's clients when the
      // handler ends, all its answers together and with no turn of the loop
      // between (net::DirectReplies): no session's handler runs under these.
      m_watch(loop, m_sockets.fd(),
              [this](bool, bool) {
                  const net::DirectReplies direct(m_loop);
                  m_sockets.wait(Duration::zero(), *m_client);
              }),
      m_timer(loop,
              [this] {
                  const net::DirectReplies direct(m_loop);
                  m_armed.reset();
                  m_client->timerFired();
              }),
      m_client(http::makeUpstreamClient(http::upstreamKindFromEnvironment(), static_cast<http::SocketDriver*>(this)))
{
    m_watch.set(net::FdWatch::kReadable);
}

LoopTransport::~LoopTransport()
{
    // Aborts what is still open; the client stops watching its sockets here.
    m_client.reset();
    m_timer.cancel();
    m_watch.set(0);
}

Transport::TransferId LoopTransport::start(http::HttpRequest request, http::TransferHandlers handlers)
{
    return m_client->start(std::move(request), std::move(handlers));
}

void LoopTransport::abort(TransferId id)
{
    m_client->abort(id);
}

void LoopTransport::poll(Duration timeout)
{
    runDue();
    m_loop.runFor(timeout);
    runDue();
}

void LoopTransport::pollWithHandoffs(Duration timeout, const std::function<void()>& between)
{
    runDue();
    // Two pointers: small enough for std::function to hold without an
    // allocation per poll.
    m_loop.runFor(timeout, [this, &between] {
        {
            const InBetween scope(m_inBetween);
            between();
        }
        runDue();
    });
    runDue();
}

void LoopTransport::runDue()
{
    if (m_dueNow) {
        m_dueNow = false;
        const net::DirectReplies direct(m_loop);
        m_client->timerFired();
    }
}

void LoopTransport::wakeup()
{
    m_loop.wakeup();
}

void LoopTransport::watch(int fd, unsigned interest)
{
    m_sockets.watch(fd, interest);
}

void LoopTransport::timer(std::optional<Duration> after)
{
    if (!after) {
        m_timer.cancel();
        m_armed.reset();
        m_dueNow = false;
        return;
    }
    if (*after <= Duration::zero()) {
        // Every request starts this way: a timer on the loop would cost a
        // timer-queue entry, a handler and at times a timerfd_settime, and
        // the request would wait for the loop's next turn to be sent.
        m_dueNow = true;
        if (!m_inBetween) {
            m_loop.wakeup();
        }
        return;
    }
    // A timer armed to fire no later than asked is left alone: the client
    // takes an early firing as nothing due and tells its next deadline
    // then. Re-arming would cancel a wait (one more handler) and set a new
    // one for each request.
    const auto at = std::chrono::steady_clock::now() + *after;
    if (m_armed && *m_armed <= at) {
        return;
    }
    m_armed = at;
    m_timer.arm(*after);
}

}  // namespace sluice::gateway
