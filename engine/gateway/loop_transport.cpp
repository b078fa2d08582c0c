#include "gateway/loop_transport.h"

namespace sluice::gateway {

LoopTransport::LoopTransport(net::EventLoop& loop)
    : m_loop(loop), m_timer(loop, [this] { m_client->timerFired(); }),
      m_client(http::makeUpstreamClient(http::upstreamKindFromEnvironment(), static_cast<http::SocketDriver*>(this)))
{
}

LoopTransport::~LoopTransport()
{
    // Aborts what is still open; the client stops watching its sockets here.
    m_client.reset();
    m_timer.cancel();
    m_watches.clear();
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
    if (interest == 0) {
        m_watches.erase(fd);
        return;
    }
    auto it = m_watches.find(fd);
    if (it == m_watches.end()) {
        auto w = std::make_unique<net::FdWatch>(m_loop, fd, [this, fd](bool readable, bool writable) {
            m_client->socketReady(fd, readable, writable);
        });
        it = m_watches.emplace(fd, std::move(w)).first;
    }
    unsigned want = 0;
    if ((interest & kReadable) != 0) {
        want |= net::FdWatch::kReadable;
    }
    if ((interest & kWritable) != 0) {
        want |= net::FdWatch::kWritable;
    }
    it->second->set(want);
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
