#include "shared/redis_budget.h"
#include "shared/redis_budget_detail.h"

#include <algorithm>
#include <optional>
#include <cstdio>
#include <random>

#include <unistd.h>

namespace sluice::shared {

using namespace budget_detail;

namespace {

std::string defaultInstanceId()
{
    char host[128] = {};
    if (::gethostname(host, sizeof host - 1) != 0) {
        std::snprintf(host, sizeof host, "host");
    }
    std::random_device rd;
    char tail[16];
    std::snprintf(tail, sizeof tail, "%08x", rd());
    return std::string(host) + "-" + std::to_string(::getpid()) + "-" + tail;
}

}  // namespace

RedisBudget::RedisBudget(Clock& clock, RedisEndpoint endpoint, RedisBudgetOptions options)
    : m_clock(clock), m_endpoint(std::move(endpoint)), m_options(std::move(options))
{
    if (m_options.instanceId.empty()) {
        m_options.instanceId = defaultInstanceId();
    }
    if (!m_options.say) {
        m_options.say = [](const std::string& text) { std::fprintf(stderr, "%s\n", text.c_str()); };
    }
    m_instancesKey = "{" + m_options.ns + "}:instances";
    Scope root;
    root.name = "global";
    root.path = "global";
    m_scopes.push_back(std::move(root));
    std::lock_guard guard(m_mutex);
    try {
        m_conn = std::make_unique<RedisConnection>(m_endpoint);
        m_available = true;
        m_status.connected = true;
    } catch (const RedisError& e) {
        enterUnavailableLocked(e.what(), m_clock.now());
    }
    if (m_options.backgroundThread) {
        m_thread = std::jthread([this](std::stop_token stop) { run(stop); });
    }
}

RedisBudget::~RedisBudget()
{
    if (m_thread.joinable()) {
        m_thread.request_stop();
        m_wake.notify_all();
        m_thread.join();
    }
    returnUnused();
}

std::int64_t RedisBudget::wallUs() const
{
    return std::chrono::duration_cast<std::chrono::microseconds>(m_clock.wallNow().time_since_epoch()).count();
}

void RedisBudget::sayLocked(const std::string& text)
{
    m_options.say("sluice: shared budget (redis " + m_endpoint.host + ":" + std::to_string(m_endpoint.port) +
                  ", namespace " + m_options.ns + "): " + text);
}

void RedisBudget::buildDims(Scope& s)
{
    const std::string prefix = "{" + m_options.ns + "}:";
    std::vector<Dim> old = std::move(s.dims);
    s.dims.clear();
    for (const LimitSpec& spec : s.limits) {
        Dim d;
        d.spec = spec;
        const std::string period = std::to_string(toUs(spec.period));
        if (spec.measure == Measure::Concurrency) {
            d.key = prefix + "c:" + s.path + "|" + period;
            d.weightKey = prefix + "cw:" + s.path + "|" + period;
        } else {
            d.key = prefix + "b:" + s.path + "|" + std::string(measureName(spec.measure)) + "|" +
                    std::string(windowName(spec.window)) + "|" + period;
        }
        // What this instance holds carries over to the same dimension.
        for (const Dim& o : old) {
            if (o.key == d.key) {
                d.credit = o.credit;
                d.window = o.window;
                d.leased = o.leased;
                d.inFlight = o.inFlight;
                d.pendingDebit = o.pendingDebit;
                d.touched = o.touched;
            }
        }
        s.dims.push_back(std::move(d));
    }
}

void RedisBudget::scopeAdded(ScopeId id, ScopeId parent, const std::string& name, const std::vector<LimitSpec>& limits)
{
    std::lock_guard guard(m_mutex);
    if (m_scopes.size() <= id) {
        m_scopes.resize(id + 1);
    }
    Scope& s = m_scopes[id];
    s.parent = parent;
    s.name = name;
    s.path = (parent < m_scopes.size() ? m_scopes[parent].path : std::string("?")) + "/" + name;
    s.limits = limits;
    s.removed = false;
    buildDims(s);
    if (m_fallback) {
        try {
            m_fallback->addScope(parent, name + "#" + std::to_string(id), shareOf(limits), m_clock.now());
        } catch (const std::invalid_argument&) {
            rebuildFallback(m_clock.now());  // ids out of step: replay them all
        }
    }
}

void RedisBudget::limitsChanged(ScopeId id, const std::vector<LimitSpec>& limits)
{
    std::lock_guard guard(m_mutex);
    if (id >= m_scopes.size()) {
        return;
    }
    m_scopes[id].limits = limits;
    buildDims(m_scopes[id]);
    if (m_fallback) {
        m_fallback->setLimits(id, shareOf(limits), m_clock.now());
    }
}

void RedisBudget::scopeRemoved(ScopeId id)
{
    std::lock_guard guard(m_mutex);
    if (id < m_scopes.size()) {
        m_scopes[id].removed = true;
        if (m_fallback) {
            m_fallback->removeScope(id);
        }
    }
}

std::int64_t RedisBudget::slice(const Dim& d) const
{
    if (m_options.sliceDivisor <= 0 || d.spec.measure == Measure::Concurrency) {
        return 0;
    }
    return d.spec.capacity() / (m_options.sliceDivisor * std::max<std::int64_t>(m_status.instances, 1));
}

ScriptDim RedisBudget::scriptDim(const Dim& d, std::int64_t a, std::int64_t b) const
{
    ScriptDim sd;
    sd.kind = d.spec.measure == Measure::Concurrency ? 'c' : d.spec.window == Window::Fixed ? 'f' : 'r';
    sd.limit = d.spec.limit;
    sd.periodUs = toUs(d.spec.period);
    sd.cap = d.spec.capacity();
    sd.a = a;
    sd.b = b;
    sd.offsetUs = toUs(d.spec.utcOffset);
    sd.key = d.key;
    sd.weightKey = d.weightKey;
    sd.logged = sd.kind == 'r' && (d.spec.measure == Measure::InputTokens || d.spec.measure == Measure::TotalTokens);
    return sd;
}

std::string RedisBudget::entryName(std::uint64_t entry) const
{
    return m_options.instanceId + "#" + std::to_string(entry);
}

void RedisBudget::fixEntry(const Dim& d, std::uint64_t entry, std::int64_t delta, std::int64_t leftAtUs)
{
    if (entry != 0 && (delta != 0 || leftAtUs != 0)) {
        m_logFixes.push_back(LogFix{d.key, entryName(entry), delta, leftAtUs});
        if (!m_flushWanted.exchange(true)) {
            m_wake.notify_all();
        }
    }
}

struct RedisBudget::Need {
    Dim* dim;
    ScopeId scope;
    int index;
    std::int64_t amount;
    std::int64_t need;  // beyond the local lease
    std::int32_t marginPer10k;
    Duration least;
};

std::optional<std::int64_t> RedisBudget::scriptNow() const
{
    return m_options.clockTime ? std::optional<std::int64_t>(wallUs()) : std::nullopt;
}

Check RedisBudget::admit(const Path& path, const Cost& cost, TimePoint now, const Ledger::Margins& margins,
                         std::uint64_t& tag)
{
    std::lock_guard guard(m_mutex);
    if (!m_available) {
        return fallbackAdmit(path, cost, now, tag);
    }
    std::vector<Need> needs;
    const bool short_ = needsOf(path, cost, margins, needs, now);
    if (auto booked = bookedFor(needs, now)) {
        return *booked;
    }
    std::uint64_t entry = 0;
    if (short_) {
        std::optional<Check> refused;
        try {
            refused = admitRemote(needs, now, entry);
        } catch (const RedisError& e) {
            enterUnavailableLocked(e.what(), now);
            return fallbackAdmit(path, cost, now, tag);
        }
        if (refused) {
            return *refused;
        }
    } else {
        ++m_status.localAdmissions;
    }
    std::vector<ScriptDim> late;
    for (const Need& n : needs) {
        Dim& d = *n.dim;
        if (d.spec.measure == Measure::Concurrency) {
            d.inFlight += n.amount;
        } else {
            const Duration lateBy =
                d.usableFrom == TimePoint{} ? Duration::zero() : now - d.usableFrom - m_options.lateDeparture;
            if (lateBy > Duration::zero()) {
                // A booked slot taken late (its key cooling down after a
                // 429): the pace moves on by as much at once, or the slots
                // booked after it, and a window later theirs, meet this
                // request beside them.
                late.push_back(scriptDim(d, 0, toUs(lateBy)));
                late.back().leastMarginUs = toUs(d.spec.period) / std::max<std::int64_t>(d.spec.limit, 1);
            }
            if (d.windowed && n.need < n.amount && d.creditEntry != 0) {
                // A booked slot is one request's: its entry takes this
                // request's size and the time it really goes, and what the
                // request does not use goes back to Redis rather than out
                // later under an entry that expired sooner.
                const std::int64_t left = d.credit - n.amount;
                entry = entry != 0 ? entry : d.creditEntry;
                fixEntry(d, d.creditEntry, left > 0 ? -left : 0, now > d.usableFrom ? -wallUs() : 0);
                if (left > 0) {
                    d.pendingDebit -= left;
                    d.credit = n.amount;
                }
                d.creditEntry = 0;
            }
            d.credit -= n.amount;
            if (d.credit <= 0) {
                d.usableFrom = TimePoint{};
            }
        }
        d.touched = now;
    }
    if (!late.empty()) {
        try {
            m_script.adjust(*m_conn, late, m_options.instanceId, toUs(m_options.leaseTime), scriptNow());
        } catch (const RedisError& e) {
            enterUnavailableLocked(e.what(), now);
        }
    }
    tag = remoteTag(m_generation, entry);
    return Check{};
}

// What every dimension on the path needs beyond what this instance holds
// (its local lease); returns whether any needs the script.
bool RedisBudget::needsOf(const Path& path, const Cost& cost, const Ledger::Margins& margins, std::vector<Need>& needs,
                          TimePoint now)
{
    needs.reserve(16);
    bool anyShort = false;
    const std::int64_t wall = wallUs();
    for (int i = 0; i < path.depth; ++i) {
        const ScopeId id = path.scopes[static_cast<std::size_t>(i)];
        if (id >= m_scopes.size()) {
            continue;
        }
        Scope& s = m_scopes[id];
        for (std::size_t k = 0; k < s.dims.size(); ++k) {
            Dim& d = s.dims[k];
            const std::int64_t amount = cost.amount(d.spec.measure);
            if (amount <= 0) {
                continue;
            }
            std::int64_t usable = 0;
            if (d.spec.measure == Measure::Concurrency) {
                usable = d.leased - d.inFlight;
            } else if (d.spec.window == Window::Fixed) {
                const std::int64_t w = floorDiv(wall + toUs(d.spec.utcOffset), toUs(d.spec.period));
                usable = w == d.window ? d.credit : 0;
            } else {
                forfeitStale(d, now);
                // A slot booked for later is not to be spent before it (by
                // a larger request than the one it was booked for).
                usable = d.usableFrom > now ? 0 : d.credit;
            }
            const std::int64_t need = std::max<std::int64_t>(amount - std::max<std::int64_t>(usable, 0), 0);
            anyShort = anyShort || need > 0;
            needs.push_back(Need{&d, id, static_cast<int>(k), amount, need,
                                 k < margins.per10k[0].size() ? margins.per10k[static_cast<std::size_t>(i)][k] : 0,
                                 k < margins.leastOf[0].size() ? margins.leastOf[static_cast<std::size_t>(i)][k]
                                                               : Duration::zero()});
        }
    }
    return anyShort;
}

Binding RedisBudget::bindingOf(const Need& n)
{
    const LimitSpec& spec = n.dim->spec;
    return Binding{n.scope, static_cast<std::int16_t>(n.index), spec.measure, spec.window, spec.period};
}

// A booked slot not taken within its own refill time (its key was cooling
// down after a 429) is let go, not given back: its time has passed, and
// taken now it would go beside the slots booked since. Within it, it is
// taken and the pace moves on by the lateness (admit).
void RedisBudget::forfeitStale(Dim& d, TimePoint now) const
{
    if (d.usableFrom == TimePoint{} || d.credit <= 0) {
        return;
    }
    const Duration refill = d.spec.period * d.credit / std::max<std::int64_t>(d.spec.limit, 1);
    if (now - d.usableFrom > std::max(refill, m_options.lateDeparture)) {
        d.credit = 0;
        d.usableFrom = TimePoint{};
    }
}

// A slot booked ahead covers the need: wait for it rather than ask again
// (asking would book one more).
std::optional<Check> RedisBudget::bookedFor(const std::vector<Need>& needs, TimePoint now) const
{
    std::optional<Check> out;
    for (const Need& n : needs) {
        const Dim& d = *n.dim;
        if (d.usableFrom > now && d.credit >= n.amount && d.spec.measure != Measure::Concurrency &&
            (!out || d.usableFrom > out->notBefore)) {
            Check c;
            c.verdict = Verdict::Wait;
            c.notBefore = d.usableFrom;
            c.binding = bindingOf(n);
            out = c;
        }
    }
    return out;
}

// One script for what the lease lacks: the grants join the lease (nullopt),
// or the refusal, naming the dimension that decided. Throws RedisError.
std::optional<Check> RedisBudget::admitRemote(const std::vector<Need>& needs, TimePoint now, std::uint64_t& entry)
{
    std::vector<ScriptDim> dims;
    std::vector<const Need*> sent;
    for (const Need& n : needs) {
        if (n.need > 0) {
            dims.push_back(scriptDim(*n.dim, n.need, n.need + slice(*n.dim)));
            // Spaced as the local ledger spaces this instance's own requests.
            dims.back().marginPer10k = n.marginPer10k;
            dims.back().leastMarginUs = n.marginPer10k > 0 ? toUs(n.least) : 0;
            sent.push_back(&n);
        }
    }
    const std::uint64_t logged = ++m_lastEntry;
    const ScriptResult r = m_script.admit(*m_conn, dims, m_options.instanceId, toUs(m_options.leaseTime), scriptNow(),
                                          toUs(m_options.bookAhead), entryName(logged));
    ++m_status.remoteCalls;
    // The script's waits count from when it ran. `now` is when the caller's
    // turn began, which a turn of many script calls leaves behind: a slot
    // booked from it would be taken early (two gateways sent one 11 ms
    // before the window had room; docs/benchmarks.md).
    const TimePoint ran = std::max(now, m_clock.now());
    const bool booked = r.status == ScriptResult::Status::Booked;
    // Refused, or booked: either way the caller waits (or never fits).
    Check refusal;
    refusal.verdict = r.status == ScriptResult::Status::Never ? Verdict::Never : Verdict::Wait;
    if (r.binding >= 0 && static_cast<std::size_t>(r.binding) < sent.size()) {
        refusal.binding = bindingOf(*sent[static_cast<std::size_t>(r.binding)]);
    }
    if (refusal.verdict == Verdict::Wait) {
        refusal.notBefore = ran + std::chrono::microseconds(std::max<std::int64_t>(r.waitUs, 0));
        if (r.concurrencyFull) {
            refusal.notBefore = std::max(refusal.notBefore, ran + m_options.concurrencyPoll);
        }
    }
    if (r.status != ScriptResult::Status::Admit && !booked) {
        return refusal;
    }
    entry = !booked && std::find(r.windowed.begin(), r.windowed.end(), true) != r.windowed.end() ? logged : 0;
    for (std::size_t i = 0; i < sent.size(); ++i) {
        Dim& d = *sent[i]->dim;
        const std::int64_t g = r.grants[i];
        if (d.spec.measure != Measure::Concurrency) {
            d.windowed = r.windowed[i];
            if (d.windowed && booked) {
                d.creditEntry = logged;
            }
        }
        if (d.spec.measure == Measure::Concurrency) {
            d.leased += g;
        } else if (d.spec.window == Window::Fixed) {
            const std::int64_t w = floorDiv(r.nowUs + toUs(d.spec.utcOffset), toUs(d.spec.period));
            d.credit = (w == d.window ? std::max<std::int64_t>(d.credit, 0) : 0) + g;
            d.window = w;
        } else {
            d.credit = std::max<std::int64_t>(d.credit, 0) + g;
            if (booked) {
                // Not to be spent, nor given back as idle, before its slot.
                d.usableFrom = std::max(d.usableFrom, refusal.notBefore);
                d.touched = d.usableFrom;
            }
        }
    }
    return booked ? std::optional<Check>(refusal) : std::nullopt;
}

void RedisBudget::learned(ScopeId id, const Ledger::LearnedDims& dims, Learning what, TimePoint now)
{
    std::lock_guard guard(m_mutex);
    if (!m_available || id >= m_scopes.size()) {
        return;  // the fallback's shares are this instance's alone: its own ledger learns for it
    }
    std::vector<ScriptDim> out;
    const Scope& s = m_scopes[id];
    for (std::size_t k = 0; k < s.dims.size() && k < dims.size(); ++k) {
        const Dim& d = s.dims[k];
        if (!dims[k] || d.spec.measure == Measure::Concurrency || d.spec.window != Window::Rolling) {
            continue;
        }
        const Ledger::Learned& l = *dims[k];
        std::int64_t flags = l.paced ? kLearnPaced : 0;
        flags |= d.spec.measure == Measure::Requests ? kLearnCountsRequests : 0;
        flags |= what == Learning::Widened ? kLearnRestartsQuiet : what == Learning::NearMiss ? kLearnRestartsNearMiss : 0;
        out.push_back(scriptDim(d, flags, l.burstHalvings));
        out.back().marginPer10k = l.marginPer10k;
        out.back().leastMarginUs = toUs(l.leastMargin);
    }
    if (out.empty()) {
        return;
    }
    try {
        m_script.learn(*m_conn, out, m_options.instanceId, scriptNow());
        ++m_status.learnedSent;
    } catch (const RedisError& e) {
        enterUnavailableLocked(e.what(), now);
    }
}

void RedisBudget::settle(const Hold& hold, const Cost& actual, TimePoint now)
{
    std::lock_guard guard(m_mutex);
    const std::uint64_t tag = hold.sharedTag;
    if ((tag & 3) == kFallbackTag) {
        const auto it = m_fallbackHolds.find(tag);
        if (it != m_fallbackHolds.end()) {
            if (m_fallback) {
                m_fallback->settle(it->second, actual, now);
            }
            m_fallbackHolds.erase(it);
        }
        return;
    }
    if (tagGeneration(tag) != m_generation) {
        return;  // admitted before Redis went away; that state was let go
    }
    const std::int64_t holdWall =
        std::chrono::duration_cast<std::chrono::microseconds>(m_clock.toWall(hold.at).time_since_epoch()).count();
    const std::int64_t wall = wallUs();
    for (int i = 0; i < hold.path.depth; ++i) {
        const ScopeId id = hold.path.scopes[static_cast<std::size_t>(i)];
        if (id >= m_scopes.size()) {
            continue;
        }
        for (Dim& d : m_scopes[id].dims) {
            const Measure m = d.spec.measure;
            const std::int64_t reserved = hold.cost.amount(m);
            if (m == Measure::Concurrency) {
                d.inFlight = std::max<std::int64_t>(d.inFlight - reserved, 0);
                d.touched = now;
                continue;
            }
            std::int64_t delta = actual.amount(m) - reserved;
            if (delta == 0) {
                continue;
            }
            if (d.spec.window == Window::Fixed) {
                const std::int64_t off = toUs(d.spec.utcOffset);
                const std::int64_t period = toUs(d.spec.period);
                if (floorDiv(holdWall + off, period) != floorDiv(wall + off, period)) {
                    continue;  // the window the hold was counted in is over
                }
            }
            if (d.windowed && d.spec.window == Window::Rolling) {
                // Logged: the entry takes the request's real size where it
                // stands, and a refund goes back to Redis, not to a local
                // credit spent unlogged.
                fixEntry(d, tagEntry(tag), delta, 0);
                d.pendingDebit += delta;
                d.touched = now;
                continue;
            }
            // A refund becomes local credit (given back when idle); an extra
            // debit spends credit first and owes Redis the rest.
            if (delta < 0) {
                d.credit -= delta;
            } else {
                const std::int64_t fromCredit = std::min(std::max<std::int64_t>(d.credit, 0), delta);
                d.credit -= fromCredit;
                d.pendingDebit += delta - fromCredit;
            }
            d.touched = now;
        }
    }
}

void RedisBudget::departed(const Hold& hold, TimePoint leftAt)
{
    const Duration late = leftAt - hold.at;
    // A logged request's entry is pending until it has left, however late.
    const bool logged = tagEntry(hold.sharedTag) != 0;
    if ((!logged && late <= m_options.lateDeparture) || (hold.sharedTag & 3) != kRemoteTag) {
        return;
    }
    std::lock_guard guard(m_mutex);
    if (tagGeneration(hold.sharedTag) != m_generation) {
        return;
    }
    const std::int64_t leftWall =
        std::chrono::duration_cast<std::chrono::microseconds>(m_clock.toWall(leftAt).time_since_epoch()).count();
    for (int i = 0; i < hold.path.depth; ++i) {
        const ScopeId id = hold.path.scopes[static_cast<std::size_t>(i)];
        if (id >= m_scopes.size()) {
            continue;
        }
        for (Dim& d : m_scopes[id].dims) {
            if (d.spec.measure == Measure::Concurrency || d.spec.window != Window::Rolling ||
                hold.cost.amount(d.spec.measure) <= 0) {
                continue;
            }
            if (d.windowed) {
                // The provider counts it from when it left (Ledger::departed).
                fixEntry(d, tagEntry(hold.sharedTag), 0, leftWall);
            }
            const Duration beyond = late - m_options.lateDeparture;
            if (beyond > Duration::zero()) {
                d.lateUs = std::max(d.lateUs, toUs(beyond));
            }
        }
    }
}

SharedStatus RedisBudget::status() const
{
    std::lock_guard guard(m_mutex);
    return m_status;
}

std::unique_ptr<RedisBudget> makeSharedBudget(const Config& config, Clock& clock)
{
    if (!config.shared) {
        return nullptr;
    }
    RedisEndpoint e;
    e.host = config.shared->host;
    e.port = config.shared->port;
    e.db = config.shared->db;
    e.password = config.shared->password;
    RedisBudgetOptions o;
    o.ns = config.shared->ns;
    o.whenUnavailable = config.shared->whenUnavailable;
    return std::make_unique<RedisBudget>(clock, std::move(e), std::move(o));
}

}  // namespace sluice::shared
