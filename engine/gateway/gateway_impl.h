// Gateway::Impl, the gateway's shared state, and what its two files share:
// gateway.cpp (routing a request, the public face) and exchange.cpp (one
// request on its way through the engine). Private to engine/gateway.
//
// Thread-safety: as Gateway's (gateway.h); `counters` are atomics, the
// token table and the lanes have their own mutexes.
#pragma once

#include "gateway/gateway.h"

#include "gateway/api_shapes.h"
#include "gateway/response_owners.h"
#include "gateway/tenant_gate.h"
#include "gateway/timers.h"
#include "gateway/token_auth.h"
#include "net/http_server.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>

namespace sluice {
struct ScannedChat;
}

namespace sluice::gateway {

inline constexpr std::string_view kJson = "application/json";

struct Counters {
    std::atomic<std::uint64_t> requests{0}, submitted{0}, completed{0}, refusedHold{0}, clientErrors{0},
        upstreamErrors{0}, clientsGone{0};
};

net::HttpReply jsonReply(int status, std::string body);
net::HttpReply errorReply(ApiFlavor dialect, ErrorKind kind, std::string_view message);
// retry-after, retry-after-ms (at most 60 s: the official SDKs ignore a
// larger value and fall back to their own backoff) and x-should-retry.
void addRetryHeaders(net::HttpHeaders& headers, Duration wait, bool shouldRetry);

struct Gateway::Impl : std::enable_shared_from_this<Gateway::Impl> {
    Impl(GatewayConfig c, Dispatcher& d, Clock& clk, int threads, std::shared_ptr<TenantStats> stats,
         net::EventLoop* sharedLoop)
        : config(std::move(c)), dispatcher(d), clock(clk), auth(std::make_shared<const TokenAuth>(config.tokens)),
          gate(clk, auth->tokens()), timers(clk), ioThreads(threads),
          tenantStats(stats ? std::move(stats) : std::make_shared<TenantStats>(clk)), loop(sharedLoop)
    {
    }

    GatewayConfig config;
    Dispatcher& dispatcher;
    Clock& clock;
    // The token table, replaced whole by setTokens(): a request matches
    // against one table from start to end.
    mutable std::mutex authMutex;
    std::shared_ptr<const TokenAuth> auth;
    TenantGate gate;
    Timers timers;
    int ioThreads = 1;
    std::shared_ptr<TenantStats> tenantStats;
    net::EventLoop* loop = nullptr;  // the dispatcher's, when shared
    std::unique_ptr<net::HttpServer> server;
    std::atomic<std::uint64_t> sequence{0};
    Counters counters;
    std::atomic<bool> intakeClosed{false};  // drained: no new requests
    // The dispatcher's lanes, refreshed at most every 100 ms: whether a
    // lane is blocked past a request's hold deadline.
    std::mutex lanesMutex;
    TimePoint lanesAt{};
    std::vector<LaneStatus> lanes;
    // Which key made each response passed on (Responses API): where a
    // request that names one must go.
    ResponseOwners responseOwners;

    std::shared_ptr<const TokenAuth> currentAuth() const
    {
        std::lock_guard guard(authMutex);
        return auth;
    }
    // Answers a client's request with an error in its dialect, counted
    // among the client errors.
    struct Refuser {
        Impl& gateway;
        net::HttpResponder& responder;
        ApiFlavor dialect;
        void operator()(ErrorKind kind, std::string_view message) const;
    };
    void handle(net::InboundRequest&& request, net::HttpResponder responder);
    // ownerFetched: the owner of the response the body continues was asked
    // of the shared store already (fetchOwnerThen).
    void completion(net::InboundRequest&& request, net::HttpResponder responder, ApiFlavor flavor, TokenPtr token,
                    bool ownerFetched = false);
    // Takes a priced completion request through the tenant gate, the
    // dispatcher and back to the client (exchange.cpp).
    void openExchange(net::HttpResponder responder, ApiFlavor dialect, bool stream, TokenPtr token, std::string model,
                      Dispatcher::Prepared prepared);
    // The job for a completion request whose body was checked: routed and
    // analysed once (Dispatcher::prepare). Takes request.body as the text
    // to send, as the client wrote it.
    Dispatcher::Prepared prepareJob(net::InboundRequest& request, nlohmann::json body, ApiFlavor flavor,
                                    const GatewayToken* token, bool& stream);
    // A Chat Completions request of the common shape, read without a
    // document (providers/chat_scan.h): checked, priced and opened as
    // completion() does the rest.
    void scannedChat(net::InboundRequest&& request, net::HttpResponder responder, TokenPtr token, ScannedChat&& chat);
    // What every completion job of a request carries: its id, path, tenant,
    // priority, the client's passed headers, and request.body as the text.
    JobSpec jobFor(net::InboundRequest& request, ApiFlavor flavor, const GatewayToken* token);
    // Why a client of `flavor` with `token` may not ask for `model` here
    // (answered with errorReply), or nothing.
    std::optional<std::pair<ErrorKind, std::string>> modelRefusal(const std::string& model, ApiFlavor flavor,
                                                                  const GatewayToken* token) const;
    // The lane of `provider` and `model`, and of `key` when the request is
    // pinned to one (JobSpec::key).
    std::optional<TimePoint> laneBlockedUntil(const std::string& provider, const std::string& model,
                                              const std::string& key);
    // GET or DELETE /v1/responses/{id}, POST …/{id}/cancel, GET
    // …/{id}/input_items: sent on the key that made the response.
    void storedResponse(net::InboundRequest&& request, net::HttpResponder responder, TokenPtr token,
                        bool ownerFetched = false);
    // A request waiting for the shared store to say who made a response.
    struct Deferred {
        net::InboundRequest request;
        net::HttpResponder responder;
        TokenPtr token;
    };
    // Asks the shared store who made response `id` and then calls resume
    // (on the store's thread, or at once when it can tell at once): this
    // thread, which may be the dispatcher's event loop, never waits for
    // Redis. A gateway gone meanwhile drops the request (its responder
    // answers 500).
    void fetchOwnerThen(const std::string& id, Deferred deferred, std::function<void(Impl&, Deferred&)> resume);
    // The key a response nobody here remembers can only be on: the one key
    // of the one OpenAI provider, when the configuration has no other.
    std::optional<ResponseOwner> soleResponsesKey() const;
    // Who made the response a body's previous_response_id continues, when
    // it is this tenant's (or the configuration has a single OpenAI key).
    std::optional<ResponseOwner> continuedOwner(const nlohmann::json& body, const GatewayToken* token);
    void refreshLanes(TimePoint now);
    // The models a client of `dialect` may ask for: those its token allows,
    // of the providers that speak that dialect.
    std::vector<std::string> servedModels(const GatewayToken* token, ApiFlavor dialect) const;
    // Why `model` is refused to a client of `dialect`: not served at all, or
    // served only to clients of the other dialect (and where).
    std::string notServed(const std::string& model, ApiFlavor dialect) const;
};

}  // namespace sluice::gateway
