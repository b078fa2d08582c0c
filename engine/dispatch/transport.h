// Transport: what the dispatcher needs from HTTP, and no more: start a
// transfer with callbacks for its head, its body and its end, abort one,
// and a poll that moves transfers on (waking early on wakeup()).
// ClientTransport is the real one (an http::UpstreamClient: Sluice's own
// HTTP/1.1 client, or libcurl where the environment asks for it); tests
// pass a scripted fake (tests/support/fake_transport.h) so that ordering,
// pause and retry timing run on a ManualClock with no network.
//
// Thread-safety: start, abort and poll are called on the dispatcher thread
// only, and callbacks run there, inside poll or abort; wakeup() may be
// called from any thread.
#pragma once

#include "core/clock.h"
#include "http/http_client.h"
#include "http/upstream_client.h"

#include <cstdint>
#include <functional>

namespace sluice {

class Transport {
public:
    using TransferId = std::uint64_t;

    virtual ~Transport() = default;
    // handlers.onComplete runs exactly once per started transfer.
    virtual TransferId start(http::HttpRequest request, http::TransferHandlers handlers) = 0;
    // Stops a transfer; its onComplete runs (with Aborted) before this returns.
    virtual void abort(TransferId id) = 0;
    // Waits up to `timeout` for activity or wakeup() and runs the callbacks
    // that became due.
    virtual void poll(Duration timeout) = 0;
    // poll, where it runs other parts' handlers too (a shared event
    // loop whose request handlers submit jobs): after a handler that called
    // wakeup(), `between` runs before the next one, so the dispatcher takes
    // up what was handed to it there and then. A transport that runs no one
    // else's handlers has nothing to run it between: a plain poll.
    virtual void pollWithHandoffs(Duration timeout, const std::function<void()>& /*between*/) { poll(timeout); }
    virtual void wakeup() = 0;
};

// The real transport: an upstream client polled on the dispatcher thread.
class ClientTransport final : public Transport {
public:
    // The kind upstreamKindFromEnvironment() names.
    ClientTransport() : ClientTransport(http::upstreamKindFromEnvironment()) {}
    explicit ClientTransport(http::UpstreamKind kind) : m_client(http::makeUpstreamClient(kind)) {}

    TransferId start(http::HttpRequest request, http::TransferHandlers handlers) override
    {
        return m_client->start(std::move(request), std::move(handlers));
    }
    void abort(TransferId id) override { m_client->abort(id); }
    void poll(Duration timeout) override { m_client->poll(timeout); }
    void wakeup() override { m_client->wakeup(); }

private:
    std::unique_ptr<http::UpstreamClient> m_client;
};

}  // namespace sluice
