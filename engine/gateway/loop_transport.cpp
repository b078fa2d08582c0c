#include "gateway/loop_transport.h"

namespace sluice::gateway {

LoopTransport::LoopTransport(net::EventLoop& loop)
    : m_loop(loop),
      m_watch(loop, m_sockets.fd(), [this](bool, bool) { m_sockets.wait(Duration::zero(), *m_client); }),
      m_timer(loop, [this] { m_client->timerFired(); }),
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
    m_loop.runFor(timeout);
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
    if (after) {
        m_timer.arm(*after);
    } else {
        m_timer.cancel();
    }
}

}  // namespace sluice::gateway
