// TenantGate: each gateway token's own budget (requests, tokens and spend
// per minute or day, concurrency), kept in an Admission of its own so a
// tenant's limits bind before its requests reach the providers' queue. A
// request that does not fit yet is held, not refused: higher priority
// first, first come first served among equals, until it fits or its hold
// time would pass. One that cannot fit within its hold (a wait longer than
// the hold, or more than the whole budget) is refused at once with the wait
// it would have needed, so the client can be told when to come back.
//
// Thread-safety: every public member from any thread. Decisions for held
// requests are made on the gate's own thread (start()), or by whoever calls
// poll(), which is how tests drive it on a ManualClock. Callbacks run
// without the gate's lock held and must not block.
//
// A token's limits can be changed and the token paused while traffic
// flows (the console's Clients view): a change keeps what was already
// counted, as provider limits do, and wakes the held requests at once. A
// paused token's requests are held, and answered 429 at their hold
// deadline if it is not resumed by then.
//
// Tokens can be added and removed while it serves (the console creating
// and revoking gateway tokens): each token's scope is created or removed on
// its own, so every other token's usage and held requests are untouched. A
// removed token's held requests, and any it brings later, are refused as
// revoked; its reservations still settle.
#pragma once

#include "admission/admission.h"
#include "gateway/gateway_config.h"
#include "net/http_server.h"

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace sluice::gateway {

// A token's budget as the gate enforces it now.
struct TenantBudget {
    std::vector<LimitSpec> limits;
    bool paused = false;
    std::size_t held = 0;      // requests of the token held now
    ScopeState state;          // usage against the limits
};

struct GateResult {
    // Valid when admitted; settle it when the request ends (dropping it
    // refunds the whole estimate).
    Reservation reservation;
    bool admitted = false;
    // Refused: how long until it could fit (at most the budget's period),
    // for retry-after. Empty when it never can (larger than the budget).
    std::optional<Duration> retryAfter;
    // Refused because the token is no longer known (revoked).
    bool revoked = false;
};

class TenantGate {
public:
    using Done = std::function<void(GateResult)>;

    TenantGate(Clock& clock, const std::vector<GatewayToken>& tokens);
    TenantGate(Clock& clock, const std::vector<TokenPtr>& tokens);
    ~TenantGate();
    TenantGate(const TenantGate&) = delete;
    TenantGate& operator=(const TenantGate&) = delete;

    void start();
    void stop();  // held requests are refused (retryAfter empty)

    // A new token with a scope of its own (throws std::invalid_argument
    // when its name is taken); the others are untouched.
    void addToken(TokenPtr token);
    // Forgets the token: its held requests are refused (revoked) now, its
    // scope removed. False when no token has that name.
    bool removeToken(const std::string& name);

    // Decides at once when it can (done runs before this returns);
    // otherwise holds the request until `deadline` at the latest. Returns
    // an id for withdraw(). A token the gate does not know (by name and
    // digest) is refused as revoked.
    std::uint64_t request(const GatewayToken& token, const Cost& cost, TimePoint deadline, Done done);
    // The client left while held: forget the request (done never runs).
    void withdraw(std::uint64_t id);
    // The request ended: settle its reservation to what it really used.
    void settle(Reservation&& reservation, const Cost& actual);

    // One pass over the held requests at `now`: admits what fits, refuses
    // what cannot fit in time. Returns when the next pass is due.
    std::optional<TimePoint> poll(TimePoint now);
    std::size_t held() const;

    // Live edits by token name; false when no token has that name.
    bool setLimits(const std::string& token, const std::vector<LimitSpec>& limits);
    bool setPaused(const std::string& token, bool paused);
    std::optional<TenantBudget> budget(const std::string& token) const;

    // Headers describing the token's own budget now, as the dialect's
    // provider names them: OpenAI's x-ratelimit-limit-/remaining-/reset-
    // requests and -tokens (reset as "1.25s"); Anthropic's
    // anthropic-ratelimit-requests-, -tokens-, -input-tokens- and
    // -output-tokens- limit/remaining/reset (reset as an RFC 3339 time).
    net::HttpHeaders rateLimitHeaders(const GatewayToken& token, ApiFlavor dialect) const;

private:
    struct Waiter {
        std::uint64_t id = 0;
        TokenPtr token;  // the gate's own
        Cost cost;
        TimePoint deadline{};
        std::uint64_t seq = 0;
        Done done;
    };
    struct Entry {
        TokenPtr token;
        ScopeId scope = kNoScope;
    };
    // Under m_mutex: the token's entry by name, or null.
    const Entry* entryOf(std::string_view name) const;
    // Under m_mutex: the scope of this very token (name and digest), or kNoScope.
    ScopeId scopeOf(const GatewayToken& token) const;
    void addLocked(TokenPtr token);
    // Under m_mutex: tries one request; Admit fills `out`, false to keep it held.
    bool decide(Waiter& w, TimePoint now, GateResult& out, std::optional<TimePoint>& next);
    void run(std::stop_token stop);

    Clock& m_clock;
    Admission m_admission;
    mutable std::mutex m_mutex;
    std::map<std::string, Entry, std::less<>> m_tokens;  // under m_mutex
    std::set<std::string, std::less<>> m_paused;  // under m_mutex
    std::condition_variable m_cv;
    std::list<Waiter> m_waiters;  // in service order: priority, then arrival
    std::uint64_t m_nextId = 1;
    bool m_dirty = false;  // something changed since the last pass
    ClockSubscription m_clockSubscription;
    std::jthread m_thread;
};

}  // namespace sluice::gateway
