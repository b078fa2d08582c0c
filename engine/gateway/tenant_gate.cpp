#include "gateway/tenant_gate.h"

#include "core/timefmt.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <stdexcept>

namespace sluice::gateway {

namespace {

// "1.25s", as OpenAI states its reset times.
std::string resetText(Duration d)
{
    const auto ms = std::max<std::int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(d).count());
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld.%03llds", static_cast<long long>(ms / 1000), static_cast<long long>(ms % 1000));
    return buf;
}

}  // namespace

// A tenant's budget is Sluice's own: nothing travels between the gate and
// whoever enforces it, so no arrival margin.
TenantGate::TenantGate(Clock& clock, const std::vector<TokenPtr>& tokens)
    : m_clock(clock), m_admission(clock, nullptr, Duration::zero())
{
    for (const TokenPtr& t : tokens) {
        addLocked(t);
    }
    m_clockSubscription = m_clock.subscribe([this] {
        std::lock_guard guard(m_mutex);
        m_dirty = true;
        m_cv.notify_all();
    });
}

namespace {

std::vector<TokenPtr> shared(const std::vector<GatewayToken>& tokens)
{
    std::vector<TokenPtr> out;
    for (const GatewayToken& t : tokens) {
        out.push_back(std::make_shared<const GatewayToken>(t));
    }
    return out;
}

}  // namespace

TenantGate::TenantGate(Clock& clock, const std::vector<GatewayToken>& tokens) : TenantGate(clock, shared(tokens)) {}

void TenantGate::addLocked(TokenPtr token)
{
    if (m_tokens.count(token->name) > 0) {
        throw std::invalid_argument("gateway token " + token->name + " exists already");
    }
    // Every token has a scope, limits or not, so limits can be given to
    // one later while it serves.
    const ScopeId scope = m_admission.addScope(Admission::root(), token->name, token->limits);
    if (token->paused) {
        m_paused.insert(token->name);
    }
    const std::string name = token->name;
    m_tokens[name] = Entry{std::move(token), scope};
}

void TenantGate::addToken(TokenPtr token)
{
    std::lock_guard guard(m_mutex);
    addLocked(std::move(token));
}

bool TenantGate::removeToken(const std::string& name)
{
    std::list<Waiter> gone;
    ScopeId scope = kNoScope;
    {
        std::lock_guard guard(m_mutex);
        const auto it = m_tokens.find(name);
        if (it == m_tokens.end()) {
            return false;
        }
        scope = it->second.scope;
        m_tokens.erase(it);
        m_paused.erase(name);
        for (auto w = m_waiters.begin(); w != m_waiters.end();) {
            const auto next = std::next(w);
            if (w->token->name == name) {
                gone.splice(gone.end(), m_waiters, w);
            }
            w = next;
        }
    }
    // Reservations of requests under way settle into the removed scope,
    // which the ledger keeps for them.
    m_admission.removeScope(scope);
    for (Waiter& w : gone) {
        GateResult r;
        r.revoked = true;
        w.done(std::move(r));
    }
    return true;
}

TenantGate::~TenantGate()
{
    stop();
}

void TenantGate::start()
{
    if (!m_thread.joinable()) {
        m_thread = std::jthread([this](std::stop_token st) { run(st); });
    }
}

void TenantGate::stop()
{
    if (m_thread.joinable()) {
        m_thread.request_stop();
        {
            std::lock_guard guard(m_mutex);
            m_cv.notify_all();
        }
        m_thread.join();
    }
    std::list<Waiter> left;
    {
        std::lock_guard guard(m_mutex);
        left.swap(m_waiters);
    }
    for (Waiter& w : left) {
        w.done(GateResult{});
    }
}

const TenantGate::Entry* TenantGate::entryOf(std::string_view name) const
{
    const auto it = m_tokens.find(name);
    return it == m_tokens.end() ? nullptr : &it->second;
}

ScopeId TenantGate::scopeOf(const GatewayToken& token) const
{
    const Entry* e = entryOf(token.name);
    return e != nullptr && e->token->digest == token.digest ? e->scope : kNoScope;
}

bool TenantGate::decide(Waiter& w, TimePoint now, GateResult& out, std::optional<TimePoint>& next)
{
    if (m_paused.count(w.token->name) > 0) {
        // Nobody knows when the operator resumes it: held to the deadline.
        if (now >= w.deadline) {
            out.retryAfter = Duration(std::chrono::seconds(1));
            return true;
        }
        next = next ? std::min(*next, w.deadline) : w.deadline;
        return false;
    }
    const ScopeId scope = scopeOf(*w.token);
    if (scope == kNoScope) {
        out.revoked = true;
        return true;
    }
    Decision d = m_admission.tryAcquireAt(m_admission.pathTo(scope), w.cost, now);
    switch (d.verdict) {
    case Verdict::Admit:
        out.admitted = true;
        out.reservation = std::move(d.reservation);
        return true;
    case Verdict::Never:
        return true;
    case Verdict::Wait:
        break;
    }
    const bool tooLate = !d.waitsForRelease && d.notBefore > w.deadline;
    if (tooLate || now >= w.deadline) {
        out.retryAfter = d.waitsForRelease ? Duration(std::chrono::seconds(1)) : d.notBefore - now;
        return true;
    }
    const TimePoint wake = d.waitsForRelease ? w.deadline : std::min(d.notBefore, w.deadline);
    next = next ? std::min(*next, wake) : wake;
    return false;
}

std::uint64_t TenantGate::request(const GatewayToken& token, const Cost& cost, TimePoint deadline, Done done)
{
    GateResult result;
    std::uint64_t id = 0;
    {
        std::lock_guard guard(m_mutex);
        const Entry* entry = entryOf(token.name);
        if (entry == nullptr || entry->token->digest != token.digest) {
            result.revoked = true;
        } else {
            id = m_nextId++;
            Waiter w{id, entry->token, cost, deadline, id, std::move(done)};
            // Behind anyone of this token already held, so a small request does
            // not overtake a large one of the same tenant forever.
            const bool queuedBehind = std::any_of(m_waiters.begin(), m_waiters.end(),
                                                  [&](const Waiter& o) { return o.token == w.token; });
            std::optional<TimePoint> next;
            if (!queuedBehind && decide(w, m_clock.now(), result, next)) {
                done = std::move(w.done);
            } else {
                auto pos = std::find_if(m_waiters.begin(), m_waiters.end(),
                                        [&](const Waiter& o) { return o.token->priority < token.priority; });
                m_waiters.insert(pos, std::move(w));
                m_dirty = true;
                m_cv.notify_all();
                return id;
            }
        }
    }
    done(std::move(result));
    return id;
}

void TenantGate::withdraw(std::uint64_t id)
{
    std::lock_guard guard(m_mutex);
    m_waiters.remove_if([id](const Waiter& w) { return w.id == id; });
}

void TenantGate::settle(Reservation&& reservation, const Cost& actual)
{
    if (!reservation.valid()) {
        return;
    }
    m_admission.settle(std::move(reservation), actual);
    std::lock_guard guard(m_mutex);
    if (!m_waiters.empty()) {
        m_dirty = true;
        m_cv.notify_all();
    }
}

std::optional<TimePoint> TenantGate::poll(TimePoint now)
{
    std::vector<std::pair<Done, GateResult>> decided;
    std::optional<TimePoint> next;
    {
        std::lock_guard guard(m_mutex);
        m_dirty = false;
        std::set<const GatewayToken*> waiting;  // tokens whose head request still waits
        for (auto it = m_waiters.begin(); it != m_waiters.end();) {
            if (waiting.count(it->token.get()) > 0) {
                ++it;
                continue;
            }
            GateResult r;
            if (decide(*it, now, r, next)) {
                decided.emplace_back(std::move(it->done), std::move(r));
                it = m_waiters.erase(it);
            } else {
                waiting.insert(it->token.get());
                ++it;
            }
        }
    }
    for (auto& [done, result] : decided) {
        done(std::move(result));
    }
    return next;
}

std::size_t TenantGate::held() const
{
    std::lock_guard guard(m_mutex);
    return m_waiters.size();
}

bool TenantGate::setLimits(const std::string& token, const std::vector<LimitSpec>& limits)
{
    ScopeId scope = kNoScope;
    {
        std::lock_guard guard(m_mutex);
        const Entry* e = entryOf(token);
        if (e == nullptr) {
            return false;
        }
        scope = e->scope;
    }
    // Admission keeps each dimension's usage across the change.
    m_admission.setLimits(scope, limits);
    std::lock_guard guard(m_mutex);
    m_dirty = true;
    m_cv.notify_all();
    return true;
}

bool TenantGate::setPaused(const std::string& token, bool paused)
{
    std::lock_guard guard(m_mutex);
    if (entryOf(token) == nullptr) {
        return false;
    }
    if (paused) {
        m_paused.insert(token);
    } else {
        m_paused.erase(token);
    }
    m_dirty = true;
    m_cv.notify_all();
    return true;
}

std::optional<TenantBudget> TenantGate::budget(const std::string& token) const
{
    ScopeId scope = kNoScope;
    {
        std::lock_guard guard(m_mutex);
        const Entry* e = entryOf(token);
        if (e == nullptr) {
            return std::nullopt;
        }
        scope = e->scope;
    }
    TenantBudget b;
    b.state = m_admission.snapshot(scope);
    for (const DimensionState& d : b.state.dimensions) {
        b.limits.push_back(d.spec);
    }
    std::lock_guard guard(m_mutex);
    b.paused = m_paused.count(token) > 0;
    b.held = static_cast<std::size_t>(
        std::count_if(m_waiters.begin(), m_waiters.end(), [&](const Waiter& w) { return w.token->name == token; }));
    return b;
}

void TenantGate::run(std::stop_token stop)
{
    while (!stop.stop_requested()) {
        const std::optional<TimePoint> next = poll(m_clock.now());
        std::unique_lock lock(m_mutex);
        while (!m_dirty && !stop.stop_requested() && (!next || m_clock.now() < *next)) {
            // Without a due time, a settle() or a new request wakes the pass.
            m_clock.waitUntil(m_cv, lock, next.value_or(m_clock.now() + std::chrono::seconds(1)));
        }
    }
}

net::HttpHeaders TenantGate::rateLimitHeaders(const GatewayToken& token, ApiFlavor dialect) const
{
    net::HttpHeaders out;
    ScopeId scope = kNoScope;
    {
        std::lock_guard guard(m_mutex);
        scope = scopeOf(token);
    }
    if (scope == kNoScope) {
        return out;
    }
    const ScopeState state = m_admission.snapshot(scope);
    const TimePoint now = m_clock.now();
    // In the limit's own terms, as the providers count it: the limit less
    // what has not yet refilled. A limit enforced in short buckets holds
    // only a bucket's worth as `available`; a client that paces itself by
    // remaining / limit would read that as a budget nearly spent.
    const auto remaining = [](const DimensionState& d) {
        return std::to_string(std::max<std::int64_t>(0, d.spec.limit - d.used));
    };
    for (const DimensionState& d : state.dimensions) {
        if (d.spec.window != Window::Rolling) {
            continue;
        }
        if (dialect == ApiFlavor::Anthropic) {
            const char* what = d.spec.measure == Measure::Requests       ? "requests"
                               : d.spec.measure == Measure::TotalTokens  ? "tokens"
                               : d.spec.measure == Measure::InputTokens  ? "input-tokens"
                               : d.spec.measure == Measure::OutputTokens ? "output-tokens"
                                                                         : nullptr;
            if (what != nullptr) {
                const std::string prefix = std::string("anthropic-ratelimit-") + what;
                out.emplace_back(prefix + "-limit", std::to_string(d.spec.limit));
                out.emplace_back(prefix + "-remaining", remaining(d));
                out.emplace_back(prefix + "-reset", formatRfc3339(m_clock.toWall(now + d.timeToFull)));
            }
            continue;
        }
        const char* what = d.spec.measure == Measure::Requests ? "requests"
                           : d.spec.measure == Measure::TotalTokens ? "tokens"
                                                                    : nullptr;
        if (what != nullptr) {
            out.emplace_back(std::string("x-ratelimit-limit-") + what, std::to_string(d.spec.limit));
            out.emplace_back(std::string("x-ratelimit-remaining-") + what, remaining(d));
            out.emplace_back(std::string("x-ratelimit-reset-") + what, resetText(d.timeToFull));
        }
    }
    return out;
}

}  // namespace sluice::gateway
