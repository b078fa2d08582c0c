#include "gateway/tenant_gate.h"

#include <algorithm>
#include <cstdio>
#include <set>

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
TenantGate::TenantGate(Clock& clock, const std::vector<GatewayToken>& tokens)
    : m_clock(clock), m_admission(clock, nullptr, Duration::zero())
{
    // Every token has a scope, limits or not, so limits can be given to
    // one later while it serves.
    for (const GatewayToken& t : tokens) {
        m_scopes[&t] = m_admission.addScope(Admission::root(), t.name, t.limits);
        m_byName[t.name] = &t;
        if (t.paused) {
            m_paused.insert(t.name);
        }
    }
    m_clockSubscription = m_clock.subscribe([this] {
        std::lock_guard guard(m_mutex);
        m_dirty = true;
        m_cv.notify_all();
    });
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

ScopeId TenantGate::scopeOf(const GatewayToken& token) const
{
    const auto it = m_scopes.find(&token);
    return it == m_scopes.end() ? kNoScope : it->second;
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
    Decision d = m_admission.tryAcquireAt(m_admission.pathTo(scopeOf(*w.token)), w.cost, now);
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
    if (scopeOf(token) == kNoScope) {
        GateResult r;
        r.admitted = true;
        done(std::move(r));
        return 0;
    }
    GateResult result;
    std::uint64_t id = 0;
    {
        std::lock_guard guard(m_mutex);
        id = m_nextId++;
        Waiter w{id, &token, cost, deadline, id, std::move(done)};
        // Behind anyone of this token already held, so a small request does
        // not overtake a large one of the same tenant forever.
        const bool queuedBehind = std::any_of(m_waiters.begin(), m_waiters.end(),
                                              [&](const Waiter& o) { return o.token == &token; });
        std::optional<TimePoint> next;
        if (queuedBehind || !decide(w, m_clock.now(), result, next)) {
            auto pos = std::find_if(m_waiters.begin(), m_waiters.end(),
                                    [&](const Waiter& o) { return o.token->priority < token.priority; });
            m_waiters.insert(pos, std::move(w));
            m_dirty = true;
            m_cv.notify_all();
            return id;
        }
        done = std::move(w.done);
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
            if (waiting.count(it->token) > 0) {
                ++it;
                continue;
            }
            GateResult r;
            if (decide(*it, now, r, next)) {
                decided.emplace_back(std::move(it->done), std::move(r));
                it = m_waiters.erase(it);
            } else {
                waiting.insert(it->token);
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
    const auto it = m_byName.find(token);
    if (it == m_byName.end()) {
        return false;
    }
    // Admission keeps each dimension's usage across the change.
    m_admission.setLimits(scopeOf(*it->second), limits);
    std::lock_guard guard(m_mutex);
    m_dirty = true;
    m_cv.notify_all();
    return true;
}

bool TenantGate::setPaused(const std::string& token, bool paused)
{
    if (m_byName.find(token) == m_byName.end()) {
        return false;
    }
    std::lock_guard guard(m_mutex);
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
    const auto it = m_byName.find(token);
    if (it == m_byName.end()) {
        return std::nullopt;
    }
    TenantBudget b;
    b.state = m_admission.snapshot(scopeOf(*it->second));
    for (const DimensionState& d : b.state.dimensions) {
        b.limits.push_back(d.spec);
    }
    std::lock_guard guard(m_mutex);
    b.paused = m_paused.count(token) > 0;
    b.held = static_cast<std::size_t>(
        std::count_if(m_waiters.begin(), m_waiters.end(), [&](const Waiter& w) { return w.token == it->second; }));
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

net::HttpHeaders TenantGate::rateLimitHeaders(const GatewayToken& token) const
{
    net::HttpHeaders out;
    const ScopeId scope = scopeOf(token);
    if (scope == kNoScope) {
        return out;
    }
    const ScopeState state = m_admission.snapshot(scope);
    const auto add = [&](const DimensionState& d, const char* what) {
        out.emplace_back(std::string("x-ratelimit-limit-") + what, std::to_string(d.spec.limit));
        out.emplace_back(std::string("x-ratelimit-remaining-") + what, std::to_string(std::max<std::int64_t>(0, d.available)));
        out.emplace_back(std::string("x-ratelimit-reset-") + what, resetText(d.timeToFull));
    };
    for (const DimensionState& d : state.dimensions) {
        if (d.spec.window != Window::Rolling || d.spec.measure == Measure::Concurrency) {
            continue;
        }
        if (d.spec.measure == Measure::Requests) {
            add(d, "requests");
        } else if (d.spec.measure == Measure::TotalTokens) {
            add(d, "tokens");
        }
    }
    return out;
}

}  // namespace sluice::gateway
