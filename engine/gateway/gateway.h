// Gateway: an OpenAI- and Anthropic-compatible HTTP endpoint in front of the
// Dispatcher, so applications send their own traffic through Sluice with
// the official SDKs and only a different base URL. It authenticates the
// client's gateway token (TokenAuth), holds the request until the token's
// own budget admits it (TenantGate), submits it as a job for the token's
// tenant and priority, and passes the provider's response through as it
// arrives (a ResponseSink per job). A request not under way within the
// hold time is answered 429 in the client's dialect with a retry-after the
// SDKs honour; errors the engine retried never reach the client.
//
// Routes: POST /v1/chat/completions, POST /v1/responses, POST
// /v1/embeddings, POST /v1/messages, POST /v1/messages/count_tokens
// (Sluice's own estimate), GET /v1/models and /v1/models/{id}, a stored
// response's GET and DELETE /v1/responses/{id}, POST …/{id}/cancel and GET
// …/{id}/input_items (on the key that made it: ResponseOwners), POST
// /v1/responses/input_tokens (the provider's count; a connection, no
// budget) and POST /v1/responses/compact (priced as a Responses request),
// pinned the same way when they continue a response; GET
// /healthz, without a token, for load balancers and probes: 200 "serving"
// (or "degraded": some provider has no usable key), 503 "no_usable_key"
// when no provider has one, or 503 "draining" once drain() was called
// (gateway/health.h).
//
// Thread-safety: start(), stop() and setTokens() from one controlling thread. Requests
// are handled on the server's io thread (or, with a shared loop, on the
// dispatcher thread); job callbacks arrive on the dispatcher thread; hold
// deadlines on the gateway's timer thread. The
// dispatcher must outlive the gateway (stop() the gateway first).
#pragma once

#include "dispatch/dispatcher.h"
#include "gateway/gateway_config.h"
#include "gateway/response_owners.h"
#include "gateway/tenant_stats.h"

#include <cstdint>
#include <memory>

namespace sluice::net {
class EventLoop;
}

namespace sluice::gateway {

struct GatewayStats {
    std::uint64_t requests = 0;      // every HTTP request received
    std::uint64_t submitted = 0;     // jobs handed to the dispatcher
    std::uint64_t completed = 0;     // answered with the provider's response
    std::uint64_t refusedHold = 0;   // 429: not under way within the hold time
    std::uint64_t clientErrors = 0;  // 4xx the gateway answered itself (auth, input)
    std::uint64_t upstreamErrors = 0;
    std::uint64_t clientsGone = 0;   // the client left before the end
};

class Exchange;

class Gateway {
public:
    // `config` is the gateway section; tenants' defaults come from the
    // dispatcher's configuration. `tenantStats`, when given, keeps the
    // per-token figures across a restart of the gateway; otherwise it has
    // its own.
    // `loop`, when given, is the event loop the dispatcher's transport
    // drives (LoopTransport): the gateway's connections run on it, on the
    // dispatcher thread, instead of on `ioThreads` threads of their own, so
    // a request and its upstream transfer never change threads. It must
    // outlive the gateway.
    Gateway(GatewayConfig config, Dispatcher& dispatcher, Clock& clock, int ioThreads = 1,
            std::shared_ptr<TenantStats> tenantStats = nullptr, net::EventLoop* loop = nullptr);
    ~Gateway();
    Gateway(const Gateway&) = delete;
    Gateway& operator=(const Gateway&) = delete;

    // Refuses (InputError) a non-loopback address without tokens; throws
    // std::runtime_error when it cannot listen. Returns the bound port.
    std::uint16_t start();
    // Stops listening and answering; jobs in flight are cancelled.
    void stop();

    std::uint16_t port() const noexcept;
    GatewayStats stats() const;

    // Which key made each stored response, shared with the other instances
    // of a namespace (a "shared" configuration): a continuation or a read
    // that reaches this gateway finds a response another one passed on.
    // Before start(), from the controlling thread.
    void shareResponseOwners(SharedOwnerStore store);

    // Every configured token with its figures and its budget now.
    std::vector<TenantRow> tenants() const;
    // Live edits of one token's own budget, kept usage and all (see
    // TenantGate); false when no token has that name.
    bool setTenantLimits(const std::string& token, const std::vector<LimitSpec>& limits);
    bool setTenantPaused(const std::string& token, bool paused);
    // Replaces the token table while serving: a new token is accepted from
    // its next request, a removed one answered 401 from its next request
    // (held ones too); tokens unchanged (and every request under way) are
    // untouched. Throws InputError, changing nothing, when the tokens
    // would leave a non-loopback gateway open to anyone. From the
    // controlling thread.
    void setTokens(const std::vector<GatewayToken>& tokens);
    // Drains: every new completion request is answered 503 from now on
    // (there is no reopening; restart the instance), GET /healthz answers
    // 503 "draining" so a load balancer sends no more, every reply begun
    // from then on closes its connection, and requests already taken in
    // (held ones too) run to their end. Any thread, but not while start()
    // or stop() runs.
    void drain();
    // Requests taken in whose answer is not yet all written: 0 once a
    // drained gateway can stop without cutting anyone off. Any thread, but
    // not while start() or stop() runs.
    std::size_t requestsUnderWay() const noexcept;

private:
    friend class Exchange;  // one request in flight, in gateway.cpp
    struct Impl;
    std::shared_ptr<Impl> m_impl;
};

}  // namespace sluice::gateway
