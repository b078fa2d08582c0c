// One client request on its way through the engine (Exchange): held by the
// tenant gate, queued in the dispatcher, then answered or streamed.
#include "dispatch/response_sink.h"
#include "gateway/gateway_impl.h"
#include "gateway/usage_chunk_filter.h"

#include <algorithm>

namespace sluice::gateway {

namespace {

// The official SDKs ignore a retry-after above 60 s and fall back to their
// own backoff; anything we say stays under that.
constexpr Duration kMaxRetryAfter = std::chrono::seconds(60);

}  // namespace

net::HttpReply jsonReply(int status, std::string body)
{
    return net::HttpReply::whole(status, std::string(kJson), std::move(body));
}

net::HttpReply errorReply(ApiFlavor dialect, ErrorKind kind, std::string_view message)
{
    net::HttpReply reply = jsonReply(statusOf(dialect, kind), errorBody(dialect, kind, message));
    if (kind == ErrorKind::Draining) {
        // The SDKs retry a 503 on their own; said outright, any client does
        // (through a load balancer, on another instance).
        reply.headers.emplace_back("x-should-retry", "true");
    }
    return reply;
}

void addRetryHeaders(net::HttpHeaders& headers, Duration wait, bool shouldRetry)
{
    const Duration w = std::clamp(wait, Duration(std::chrono::milliseconds(1)), kMaxRetryAfter);
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(w).count();
    headers.emplace_back("retry-after", std::to_string((ms + 999) / 1000));
    headers.emplace_back("retry-after-ms", std::to_string(ms));
    headers.emplace_back("x-should-retry", shouldRetry ? "true" : "false");
}

// One client request on its way through the engine: held by the tenant
// gate, queued in the dispatcher, then answered or streamed. Every callback
// (gate, hold timer, peer gone, the job's sink) takes `mutex`; none calls
// the dispatcher while holding it, since the dispatcher calls the sink.
class Exchange final : public ResponseSink, public std::enable_shared_from_this<Exchange> {
public:
    enum class Stage : std::uint8_t { Gate, Queued, Head, Done };

    // What the exchange reads of its job once the dispatcher has it: a
    // few fields, not a copy of the whole JobSpec (its header lines too).
    struct JobFacts {
        explicit JobFacts(const JobSpec& s)
            : customId(s.customId), tenant(s.tenant), provider(s.provider), key(s.key), method(s.method),
              objectPath(s.objectPath), flavor(s.flavor), endpoint(s.endpoint)
        {
        }
        std::string customId;
        std::string tenant;
        std::string provider;  // pinned by the request, else empty
        std::string key;
        std::string method;
        std::string objectPath;
        ApiFlavor flavor;
        Endpoint endpoint;
    };

    Exchange(std::shared_ptr<Gateway::Impl> gw, ApiFlavor dialect, bool stream, TokenPtr token,
             Dispatcher::Prepared prepared)
        : m_gw(std::move(gw)), m_dialect(dialect), m_stream(stream), m_token(std::move(token)),
          m_job(prepared.job->job), m_prepared(std::move(prepared))
    {
    }

    void begin(const Cost& cost)
    {
        const TimePoint deadline = m_gw->clock.now() + m_gw->config.hold;
        if (m_token != nullptr) {
            m_ticket = m_gw->tenantStats->arrive(m_token->name);
        }
        std::weak_ptr<Exchange> weak = weak_from_this();
        m_timer = m_gw->timers.at(deadline, [weak] {
            if (auto self = weak.lock()) {
                self->holdExpired();
            }
        });
        if (m_token == nullptr) {
            GateResult open;
            open.admitted = true;
            admitted(std::move(open), deadline);
            return;
        }
        auto self = shared_from_this();
        const std::uint64_t id = m_gw->gate.request(*m_token, cost, deadline,
                                                    [self, deadline](GateResult r) { self->admitted(std::move(r), deadline); });
        std::lock_guard guard(m_mutex);
        m_gateId = id;
    }

    void peerGone()
    {
        Stage stage;
        {
            std::lock_guard guard(m_mutex);
            if (m_gone || m_stage == Stage::Done) {
                return;
            }
            m_gone = true;
            stage = m_stage;
        }
        m_gw->counters.clientsGone.fetch_add(1, std::memory_order_relaxed);
        if (stage == Stage::Gate) {
            m_gw->gate.withdraw(m_gateId);
            finishEarly();
            return;
        }
        m_gw->dispatcher.cancel(m_job.customId);
    }

    // ResponseSink, on the dispatcher thread.
    void onHead(long status, const http::HeaderMap& headers) override
    {
        std::lock_guard guard(m_mutex);
        m_stage = Stage::Head;
        m_status = status;
        m_gw->timers.cancel(m_timer);
        if (!m_stream) {
            // A plain answer that broke before its end is retried: what
            // came of it is not the answer.
            m_headers.clear();
            m_body.clear();
        }
        for (const std::string_view name : {"request-id", "x-request-id"}) {
            if (const auto it = headers.find(name); it != headers.end()) {
                m_headers.emplace_back(it->first, it->second);
            }
        }
        if (!m_stream || m_gone) {
            return;
        }
        net::HttpReply head;
        head.status = static_cast<int>(status);
        head.headers = replyHeaders("text/event-stream");
        head.headers.emplace_back("cache-control", "no-cache");
        m_out = m_responder.stream(std::move(head));
    }

    void onBody(std::string_view bytes) override
    {
        std::lock_guard guard(m_mutex);
        if (m_out) {
            if (m_usageFilter) {
                if (std::string pass = m_usageFilter->feed(bytes); !pass.empty()) {
                    m_out->write(std::move(pass));
                }
            } else {
                m_out->write(std::string(bytes));
            }
        } else if (!m_stream) {
            m_body.append(bytes);
        }
    }

    void onEnd(const JobOutcome& outcome) override
    {
        Reservation tenant;
        {
            std::lock_guard guard(m_mutex);
            tenant = std::move(m_reservation);
        }
        settleTenant(std::move(tenant), outcome);
        std::lock_guard guard(m_mutex);
        if (outcome.result == JobResult::Cancelled && m_expired && !m_gone) {
            m_ticket.refused();
        } else {
            m_ticket.finished(outcome);
        }
        m_stage = Stage::Done;
        m_gw->timers.cancel(m_timer);
        if (m_gone) {
            return;
        }
        Counters& c = m_gw->counters;
        if (outcome.result == JobResult::Completed) {
            c.completed.fetch_add(1, std::memory_order_relaxed);
            if (m_job.endpoint == Endpoint::Responses) {
                noteResponseOwner(outcome);
            }
            if (m_out) {
                flushUsageFilter();
                m_out->end();
                return;
            }
            net::HttpReply reply;
            reply.status = m_status >= 200 && m_status < 300 ? static_cast<int>(m_status) : 200;
            reply.headers = replyHeaders(kJson);
            reply.parts.push_back({Duration::zero(), m_body.empty() ? outcome.body : std::move(m_body)});
            m_responder.send(std::move(reply));
            return;
        }
        if (m_out) {
            // After the first byte the status is sent: the error becomes the
            // stream's own error event.
            c.upstreamErrors.fetch_add(1, std::memory_order_relaxed);
            const std::string why = "the provider's stream failed: " + outcome.reason;
            flushUsageFilter();
            m_out->write(m_job.endpoint == Endpoint::Responses ? responsesStreamErrorEvent(ErrorKind::BadGateway, why)
                                                                : streamErrorEvent(m_dialect, ErrorKind::BadGateway, why));
            m_out->end();
            return;
        }
        failBeforeHead(outcome);
    }

private:
    friend struct Gateway::Impl;

    // A response made is remembered with the key that made it; one deleted
    // is forgotten; one read back finished tells the size of the
    // conversation it ends, which a response run in the background did not
    // say when it was made (under m_mutex, on a completed job).
    void noteResponseOwner(const JobOutcome& outcome)
    {
        if (m_job.objectPath.empty()) {
            const std::int64_t context = outcome.usage ? outcome.usage->inputTokens + outcome.usage->outputTokens : 0;
            m_gw->responseOwners.remember(outcome.responseId, ResponseOwner{outcome.provider, outcome.key, outcome.model,
                                                                            m_job.tenant, context});
            return;
        }
        const std::string_view path = m_job.objectPath;
        const std::size_t idEnd = path.find_first_of("/?", 1);
        const std::string_view id = path.substr(1, idEnd - 1);
        if (m_job.method == "DELETE") {
            m_gw->responseOwners.forget(id);
        } else if (m_job.method == "GET" && outcome.storedUsage && (idEnd == std::string_view::npos || path[idEnd] == '?')) {
            m_gw->responseOwners.learnContext(id, outcome.storedUsage->inputTokens + outcome.storedUsage->outputTokens);
        }
    }

    // What the usage filter still holds goes out as it is (under m_mutex).
    void flushUsageFilter()
    {
        if (m_usageFilter) {
            if (std::string rest = m_usageFilter->finish(); !rest.empty()) {
                m_out->write(std::move(rest));
            }
        }
    }

    net::HttpHeaders replyHeaders(std::string_view contentType) const
    {
        net::HttpHeaders limits = m_token != nullptr ? m_gw->gate.rateLimitHeaders(*m_token, m_dialect) : net::HttpHeaders{};
        net::HttpHeaders h;
        h.reserve(1 + m_headers.size() + limits.size() + 1);  // + a stream's cache-control
        h.emplace_back("content-type", contentType);
        h.insert(h.end(), m_headers.begin(), m_headers.end());
        h.insert(h.end(), std::make_move_iterator(limits.begin()), std::make_move_iterator(limits.end()));
        return h;
    }

    void admitted(GateResult r, TimePoint deadline)
    {
        if (r.revoked) {
            std::lock_guard guard(m_mutex);
            m_gw->timers.cancel(m_timer);
            m_stage = Stage::Done;
            m_ticket.refused();
            if (!m_gone) {
                m_gw->counters.clientErrors.fetch_add(1, std::memory_order_relaxed);
                m_responder.send(errorReply(m_dialect, ErrorKind::Authentication,
                                            "gateway token " + m_token->name + " has been revoked"));
            }
            return;
        }
        if (!r.admitted) {
            std::lock_guard guard(m_mutex);
            m_gw->timers.cancel(m_timer);
            m_stage = Stage::Done;
            if (m_gone) {
                return;
            }
            m_gw->counters.refusedHold.fetch_add(1, std::memory_order_relaxed);
            m_ticket.refused();
            const std::string who = m_token ? m_token->name : std::string("-");
            net::HttpReply reply = errorReply(
                m_dialect, ErrorKind::RateLimited,
                r.retryAfter ? "gateway token " + who + " is over its own limits for longer than the hold time"
                             : "this request is larger than gateway token " + who + "'s whole budget");
            net::HttpHeaders limits = m_token ? m_gw->gate.rateLimitHeaders(*m_token, m_dialect) : net::HttpHeaders{};
            reply.headers.insert(reply.headers.end(), limits.begin(), limits.end());
            addRetryHeaders(reply.headers, r.retryAfter.value_or(kMaxRetryAfter), r.retryAfter.has_value());
            m_responder.send(std::move(reply));
            return;
        }
        {
            std::lock_guard guard(m_mutex);
            m_reservation = std::move(r.reservation);
            m_ticket.admitted();
            if (m_gone) {
                m_stage = Stage::Done;
                return;  // the reservation is refunded with the exchange
            }
            m_stage = Stage::Queued;
        }
        // The engine already knows this lane will not move before the
        // deadline (a key cooling down after a 429, a daily budget spent):
        // say so now rather than hold the client for nothing.
        const ProviderConfig* pc = m_gw->dispatcher.config()->route(m_job.flavor, m_model, m_job.provider);
        if (pc != nullptr) {
            if (auto until = m_gw->laneBlockedUntil(pc->name, m_model, m_job.key); until && *until > deadline) {
                refuseHold(*until - m_gw->clock.now());
                return;
            }
        }
        try {
            // The dispatcher holds the sink until the job ends; this exchange
            // does not hold itself. The job was routed, analysed and
            // serialised once, when it was priced for the tenant gate.
            Dispatcher::Prepared job = std::move(*m_prepared);
            m_prepared.reset();
            job.job->job.sink = shared_from_this();
            m_gw->dispatcher.submitPrepared(std::move(job));
            m_gw->counters.submitted.fetch_add(1, std::memory_order_relaxed);
        } catch (const std::exception& e) {
            std::lock_guard guard(m_mutex);
            m_stage = Stage::Done;
            m_gw->timers.cancel(m_timer);
            m_gw->counters.clientErrors.fetch_add(1, std::memory_order_relaxed);
            m_responder.send(errorReply(m_dialect, ErrorKind::InvalidRequest, e.what()));
        }
    }

    void refuseHold(Duration wait)
    {
        Reservation tenant;
        {
            std::lock_guard guard(m_mutex);
            m_stage = Stage::Done;
            m_gw->timers.cancel(m_timer);
            tenant = std::move(m_reservation);
            if (!m_gone) {
                m_gw->counters.refusedHold.fetch_add(1, std::memory_order_relaxed);
                m_ticket.refused();
                net::HttpReply reply = errorReply(m_dialect, ErrorKind::RateLimited,
                                                  "the provider's limits for " + m_model +
                                                      " leave no room within the gateway's hold time");
                net::HttpHeaders limits = m_token ? m_gw->gate.rateLimitHeaders(*m_token, m_dialect) : net::HttpHeaders{};
                reply.headers.insert(reply.headers.end(), limits.begin(), limits.end());
                addRetryHeaders(reply.headers, wait, true);
                m_responder.send(std::move(reply));
            }
        }
        // Dropping the reservation refunds it: nothing was sent.
    }

    void holdExpired()
    {
        {
            std::lock_guard guard(m_mutex);
            // In the gate, the gate refuses it at the same deadline itself.
            if (m_stage != Stage::Queued || m_gone) {
                return;
            }
            m_expired = true;
        }
        // Only while it waits: a job already with the provider (a long
        // non-streamed answer has no head until it is done) was counted
        // there when it arrived, and runs to its end, bounded by the
        // provider's timeouts from here, not the hold.
        m_gw->dispatcher.cancelQueued(m_job.customId);
    }

    void finishEarly()
    {
        std::lock_guard guard(m_mutex);
        m_stage = Stage::Done;
        m_gw->timers.cancel(m_timer);
    }

    void settleTenant(Reservation&& tenant, const JobOutcome& outcome)
    {
        if (!tenant.valid()) {
            return;
        }
        Cost actual = tenant.cost();
        if (outcome.usage) {
            actual.inputTokens = outcome.usage->inputTokens;
            actual.outputTokens = outcome.usage->outputTokens;
            actual.spendMicroUsd = outcome.spendMicroUsd.value_or(actual.spendMicroUsd);
        } else if (outcome.attempts.empty()) {
            // Never sent (cancelled in the queue): nothing was used.
            m_gw->gate.settle(std::move(tenant), Cost{0, 0, 0, 0, 1});
            return;
        }
        m_gw->gate.settle(std::move(tenant), actual);
    }

    // The provider's request id of the last attempt (the SDKs show it with
    // the error) and the tenant's own limits, as on any answer.
    net::HttpReply withErrorHeaders(net::HttpReply reply, const JobOutcome& outcome) const
    {
        if (!outcome.requestId.empty()) {
            reply.headers.emplace_back(m_dialect == ApiFlavor::Anthropic ? "request-id" : "x-request-id",
                                       outcome.requestId);
        }
        if (m_token != nullptr) {
            net::HttpHeaders limits = m_gw->gate.rateLimitHeaders(*m_token, m_dialect);
            reply.headers.insert(reply.headers.end(), std::make_move_iterator(limits.begin()),
                                 std::make_move_iterator(limits.end()));
        }
        return reply;
    }

    // Under m_mutex: the job ended without a response to pass on.
    void failBeforeHead(const JobOutcome& outcome)
    {
        Counters& c = m_gw->counters;
        if (outcome.result == JobResult::Cancelled && m_expired) {
            c.refusedHold.fetch_add(1, std::memory_order_relaxed);
            net::HttpReply reply = errorReply(m_dialect, ErrorKind::RateLimited,
                                              "not admitted within the gateway's hold time; the provider's limits "
                                              "for " + m_model + " are full");
            addRetryHeaders(reply.headers, std::chrono::seconds(1), true);
            m_responder.send(std::move(reply));
            return;
        }
        FailureClass cls = outcome.cls;
        if (cls == FailureClass::AttemptsExhausted && !outcome.attempts.empty()) {
            cls = outcome.attempts.back().cls;
        }
        c.upstreamErrors.fetch_add(1, std::memory_order_relaxed);
        const auto fail = [&](ErrorKind kind, const std::string& message) {
            net::HttpReply reply = withErrorHeaders(errorReply(m_dialect, kind, message), outcome);
            if (kind == ErrorKind::RateLimited) {
                addRetryHeaders(reply.headers, std::chrono::seconds(1), true);
            }
            m_responder.send(std::move(reply));
        };
        // The provider's own answer about the request: the client's to see.
        const auto passOn = [&] {
            if (outcome.status >= 400 && outcome.status < 500 && !outcome.body.empty()) {
                m_responder.send(withErrorHeaders(jsonReply(static_cast<int>(outcome.status), outcome.body), outcome));
                return true;
            }
            return false;
        };
        switch (cls) {
        case FailureClass::BadRequest:
        case FailureClass::NotFound:
        case FailureClass::RequestTooLarge:
            if (!passOn()) {
                fail(cls == FailureClass::RequestTooLarge ? ErrorKind::TooLarge : ErrorKind::InvalidRequest,
                     outcome.reason);
            }
            return;
        case FailureClass::PermissionDenied:
            // The provider refused every key that could take it this model
            // (403): its answer, or, while the refusal stands, the gateway's.
            if (!passOn()) {
                fail(ErrorKind::Permission, outcome.reason);
            }
            return;
        case FailureClass::RateLimited:
            fail(ErrorKind::RateLimited, "the provider kept refusing: " + outcome.reason);
            return;
        case FailureClass::Overloaded:
            fail(ErrorKind::Overloaded, "the provider is overloaded: " + outcome.reason);
            return;
        case FailureClass::Timeout:
        case FailureClass::DeadlineExceeded:
            fail(ErrorKind::Timeout, "the provider did not answer in time: " + outcome.reason);
            return;
        case FailureClass::QuotaExhausted:
        case FailureClass::AuthFailed:
        case FailureClass::NoUsableKey:
            // About Sluice's provider keys, not the client's token.
            fail(ErrorKind::Unavailable, "no usable provider key for " + m_model + ": " + outcome.reason);
            return;
        default:
            fail(ErrorKind::BadGateway, "the provider failed: " + outcome.reason);
            return;
        }
    }

    std::shared_ptr<Gateway::Impl> m_gw;
    std::mutex m_mutex;
    net::HttpResponder m_responder;
    std::shared_ptr<net::HttpStream> m_out;
    ApiFlavor m_dialect;
    bool m_stream = false;
    TokenPtr m_token;  // kept alive if revoked meanwhile
    const JobFacts m_job;
    std::optional<Dispatcher::Prepared> m_prepared;
    std::string m_model;
    Stage m_stage = Stage::Gate;
    bool m_gone = false;
    bool m_expired = false;
    long m_status = 0;
    std::uint64_t m_gateId = 0;
    std::uint64_t m_timer = 0;
    Reservation m_reservation;
    TenantStats::Ticket m_ticket;  // the token's figures; ends with the exchange at the latest
    net::HttpHeaders m_headers;  // the provider's request id
    std::string m_body;
    // Set when Sluice asked for the stream's usage and the client did not.
    std::optional<UsageChunkFilter> m_usageFilter;
};

void Gateway::Impl::openExchange(net::HttpResponder responder, ApiFlavor dialect, bool stream, TokenPtr token,
                                 std::string model, Dispatcher::Prepared prepared)
{
    const Cost cost = prepared.job->cost;
    const bool filterUsage = stream && prepared.job->usageAdded;
    auto ex = std::make_shared<Exchange>(shared_from_this(), dialect, stream, std::move(token), std::move(prepared));
    std::weak_ptr<Exchange> weak = ex;
    responder.onPeerGone([weak] {
        if (auto e = weak.lock()) {
            e->peerGone();
        }
    });
    ex->m_responder = std::move(responder);
    ex->m_model = std::move(model);
    if (filterUsage) {
        ex->m_usageFilter.emplace();
    }
    ex->begin(cost);
}

}  // namespace sluice::gateway
