// RedisBudget's background side: the heartbeat (overruns owed, idle slices
// and slots given back, leases renewed), reconnecting, and the local_share
// fallback while Redis is away. The admission path is redis_budget.cpp.
#include "shared/redis_budget.h"
#include "shared/redis_budget_detail.h"

#include <algorithm>

namespace sluice::shared {

using namespace budget_detail;

struct RedisBudget::Work {
    std::vector<ScriptDim> adjust;
    std::vector<ScriptDim> renew;
    std::vector<LogFix> logFixes;
};

Check RedisBudget::fallbackAdmit(const Path& path, const Cost& cost, TimePoint now, std::uint64_t& tag)
{
    Check c;
    if (m_options.whenUnavailable == WhenUnavailable::Stop || !m_fallback) {
        c.verdict = Verdict::Wait;
        c.notBefore = now + std::chrono::milliseconds(500);
        return c;
    }
    Hold h;
    c = m_fallback->admit(path, cost, now, h);
    if (c.verdict == Verdict::Admit) {
        tag = (++m_fallbackSeq << 2) | kFallbackTag;
        m_fallbackHolds.emplace(tag, h);
        return c;
    }
    if (c.verdict == Verdict::Never) {
        // The full limit admits it (Admission's own ledger said so); only the
        // share is too small. Ask again later: Redis may be back.
        c.verdict = Verdict::Wait;
        c.notBefore = now + std::chrono::seconds(1);
    } else if (c.waitsForRelease) {
        c.waitsForRelease = false;
        c.notBefore = std::max(c.notBefore, now + m_options.concurrencyPoll);
    }
    return c;
}

// A ledger holding this instance's share of every limit, with the same scope
// ids as Admission's (scopes are replayed in id order).
std::vector<LimitSpec> RedisBudget::shareOf(std::vector<LimitSpec> limits) const
{
    const std::int64_t n = std::max<std::int64_t>(m_status.instances, 1);
    for (LimitSpec& l : limits) {
        // At least one unit, so a small limit still moves.
        l.limit = std::max<std::int64_t>(l.limit / n, l.limit > 0 ? 1 : 0);
        if (l.burst > 0) {
            l.burst = std::max<std::int64_t>(l.burst / n, 1);
        }
    }
    return limits;
}

void RedisBudget::rebuildFallback(TimePoint now)
{
    const auto share = [this](const std::vector<LimitSpec>& limits) { return shareOf(limits); };
    auto ledger = std::make_unique<Ledger>(std::chrono::duration_cast<Duration>(m_clock.wallNow().time_since_epoch()) -
                                           now.time_since_epoch());
    ledger->setLimits(Ledger::root(), share(m_scopes[0].limits), now);
    for (std::size_t id = 1; id < m_scopes.size(); ++id) {
        const Scope& s = m_scopes[id];
        ledger->addScope(s.parent, s.name + "#" + std::to_string(id), share(s.limits), now);
    }
    for (std::size_t id = 1; id < m_scopes.size(); ++id) {
        if (m_scopes[id].removed) {
            ledger->removeScope(static_cast<ScopeId>(id));
        }
    }
    m_fallback = std::move(ledger);
    m_fallbackHolds.clear();
}

void RedisBudget::enterUnavailableLocked(const std::string& why, TimePoint now)
{
    const bool was = m_available || m_status.lastError.empty();
    m_available = false;
    m_conn.reset();
    m_status.connected = false;
    m_status.lastError = why;
    if (m_options.whenUnavailable == WhenUnavailable::LocalShare) {
        m_status.fallback = true;
        rebuildFallback(now);
        if (was) {
            sayLocked("UNAVAILABLE (" + why + "); admitting on local_share: each limit / " +
                      std::to_string(std::max<std::int64_t>(m_status.instances, 1)) +
                      " instances last seen, until Redis is back");
        }
    } else {
        m_status.stopped = true;
        if (was) {
            sayLocked("UNAVAILABLE (" + why + "); when_unavailable is stop: admitting nothing until Redis is back");
        }
    }
}

void RedisBudget::resetLeases()
{
    for (Scope& s : m_scopes) {
        for (Dim& d : s.dims) {
            d.credit = 0;
            d.leased = 0;
            d.inFlight = 0;
            d.pendingDebit = 0;
            d.lateUs = 0;
            d.windowed = false;
            d.creditEntry = 0;
        }
    }
    m_logFixes.clear();
}

void RedisBudget::returnUnused()
{
    std::lock_guard tickGuard(m_tickMutex);
    std::vector<ScriptDim> back;
    std::vector<LogFix> fixes;
    {
        std::lock_guard guard(m_mutex);
        if (!m_available) {
            return;
        }
        for (Scope& s : m_scopes) {
            for (Dim& d : s.dims) {
                if (d.spec.measure == Measure::Concurrency) {
                    if (d.leased > d.inFlight) {
                        back.push_back(scriptDim(d, d.inFlight - d.leased, -1));
                        d.leased = d.inFlight;
                    }
                } else if (d.credit != 0 || d.pendingDebit != 0) {
                    if (d.windowed && d.credit > 0) {
                        fixEntry(d, d.creditEntry, -d.credit, 0);  // a booked slot never taken
                    }
                    const std::int64_t change = d.pendingDebit - d.credit;
                    if (change != 0) {
                        back.push_back(scriptDim(d, change, d.spec.window == Window::Fixed ? d.window : -1));
                    }
                    d.credit = 0;
                    d.pendingDebit = 0;
                }
            }
        }
        fixes.swap(m_logFixes);
    }
    if (back.empty() && fixes.empty()) {
        return;
    }
    try {
        RedisConnection& c = backgroundConnection();
        m_script.fixLog(c, fixes, scriptNow());
        if (!back.empty()) {
            m_script.adjust(c, back, m_options.instanceId, toUs(m_options.leaseTime), scriptNow());
        }
    } catch (const RedisError&) {
        // Unsent returns only leave capacity unused; the next tick notices.
        m_bgConn.reset();
    }
}

void RedisBudget::tick()
{
    std::lock_guard tickGuard(m_tickMutex);
    const TimePoint now = m_clock.now();
    bool available = false;
    {
        std::lock_guard guard(m_mutex);
        available = m_available;
    }
    try {
        const std::int64_t seen = m_script.heartbeat(backgroundConnection(), m_instancesKey, m_options.instanceId,
                                                     toUs(m_options.leaseTime));
        if (!available) {
            rejoin(seen);
            return;
        }
        const Work work = collectWork(seen, now);
        m_script.fixLog(*m_bgConn, work.logFixes, scriptNow());
        if (!work.adjust.empty()) {
            m_script.adjust(*m_bgConn, work.adjust, m_options.instanceId, toUs(m_options.leaseTime), scriptNow());
        }
        if (!work.renew.empty()) {
            m_script.renew(*m_bgConn, work.renew, m_options.instanceId, toUs(m_options.leaseTime), scriptNow());
        }
    } catch (const RedisError& e) {
        m_bgConn.reset();
        std::lock_guard guard(m_mutex);
        if (m_available) {
            enterUnavailableLocked(e.what(), now);
        }
    }
}

// Back after Redis was away: slots and slices held before are no longer
// tracked here. Throws RedisError.
void RedisBudget::rejoin(std::int64_t seen)
{
    auto hot = std::make_unique<RedisConnection>(m_endpoint);
    std::vector<ScriptDim> all;
    {
        std::lock_guard guard(m_mutex);
        for (const Scope& s : m_scopes) {
            for (const Dim& d : s.dims) {
                if (d.spec.measure == Measure::Concurrency) {
                    all.push_back(scriptDim(d, 0, 0));
                }
            }
        }
    }
    if (!all.empty()) {
        m_script.forget(*m_bgConn, all, m_options.instanceId, scriptNow());
    }
    std::lock_guard guard(m_mutex);
    m_conn = std::move(hot);
    ++m_generation;
    resetLeases();
    m_available = true;
    m_fallback.reset();
    m_fallbackHolds.clear();
    m_status.connected = true;
    m_status.fallback = false;
    m_status.stopped = false;
    m_status.instances = seen;
    ++m_status.rejoins;
    sayLocked("back: rejoined, " + std::to_string(seen) + " instances share the budget");
}

// What the heartbeat sends: overruns owed, idle slices and slots given back,
// leases in use renewed.
RedisBudget::Work RedisBudget::collectWork(std::int64_t seen, TimePoint now)
{
    Work work;
    std::lock_guard guard(m_mutex);
    m_status.instances = seen;
    for (Scope& s : m_scopes) {
        for (Dim& d : s.dims) {
            const bool idle = now - d.touched >= m_options.idleReturn;
            if (d.spec.measure == Measure::Concurrency) {
                if (idle && d.leased > d.inFlight) {
                    work.adjust.push_back(scriptDim(d, d.inFlight - d.leased, -1));
                    d.leased = d.inFlight;
                }
                if (d.leased > 0) {
                    work.renew.push_back(scriptDim(d, 0, 0));
                }
                continue;
            }
            std::int64_t change = d.pendingDebit;
            d.pendingDebit = 0;
            if (idle && d.credit != 0) {
                if (d.windowed && d.credit > 0) {
                    fixEntry(d, d.creditEntry, -d.credit, 0);  // a booked slot never taken
                }
                change -= d.credit;
                d.credit = 0;
            }
            if (d.spec.window == Window::Rolling && (change != 0 || d.lateUs > 0)) {
                work.adjust.push_back(scriptDim(d, change, d.lateUs));
                d.lateUs = 0;
            } else if (change != 0) {
                work.adjust.push_back(scriptDim(d, change, d.spec.window == Window::Fixed ? d.window : -1));
            }
        }
    }
    work.logFixes.swap(m_logFixes);
    return work;
}

RedisConnection& RedisBudget::backgroundConnection()
{
    if (!m_bgConn) {
        m_bgConn = std::make_unique<RedisConnection>(m_endpoint);
    }
    return *m_bgConn;
}

void RedisBudget::flushLog()
{
    std::lock_guard tickGuard(m_tickMutex);
    m_flushWanted = false;
    std::vector<LogFix> fixes;
    {
        std::lock_guard guard(m_mutex);
        if (!m_available) {
            return;
        }
        fixes.swap(m_logFixes);
    }
    if (fixes.empty()) {
        return;
    }
    try {
        m_script.fixLog(backgroundConnection(), fixes, scriptNow());
    } catch (const RedisError&) {
        // Lost corrections leave entries early and large; the heartbeat
        // notices the connection.
        m_bgConn.reset();
    }
}

void RedisBudget::run(std::stop_token stop)
{
    const auto period = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(m_options.leaseTime) / 4,
                                 std::chrono::milliseconds(10));
    auto next = std::chrono::steady_clock::now();
    while (!stop.stop_requested()) {
        if (std::chrono::steady_clock::now() >= next) {
            tick();
            next = std::chrono::steady_clock::now() + period;
        }
        {
            std::unique_lock lock(m_wakeMutex);
            m_wake.wait_until(lock, stop, next, [this] { return m_flushWanted.load(); });
        }
        if (m_flushWanted) {
            flushLog();
        }
    }
}

}  // namespace sluice::shared
