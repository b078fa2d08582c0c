#include "shared/fleet_registry.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace sluice::shared {

using nlohmann::json;

namespace {

std::string setKey(const std::string& ns)
{
    return "{" + ns + "}:fleet";
}

std::string memberKey(const std::string& ns, const std::string& id)
{
    return "{" + ns + "}:fleet:" + id;
}

std::int64_t wallMs(const Clock& clock)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.wallNow().time_since_epoch()).count();
}

}  // namespace

std::string encodeMember(const FleetMember& m)
{
    return json{{"id", m.id},
                {"host", m.host},
                {"pid", m.pid},
                {"program", m.program},
                {"started_ms", m.startedMs},
                {"heartbeat_ms", m.heartbeatMs},
                {"rpm", m.load.requestsPerMinute},
                {"tpm", m.load.tokensPerMinute},
                {"in_flight", m.load.inFlight},
                {"queued", m.load.queued}}
        .dump();
}

std::optional<FleetMember> decodeMember(std::string_view text)
{
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object()) {
        return std::nullopt;
    }
    try {
        FleetMember m;
        m.id = j.at("id").get<std::string>();
        m.host = j.value("host", "");
        m.pid = j.value("pid", std::int64_t{0});
        m.program = j.value("program", "");
        m.startedMs = j.value("started_ms", std::int64_t{0});
        m.heartbeatMs = j.value("heartbeat_ms", std::int64_t{0});
        m.load.requestsPerMinute = j.value("rpm", 0.0);
        m.load.tokensPerMinute = j.value("tpm", 0.0);
        m.load.inFlight = j.value("in_flight", std::int64_t{0});
        m.load.queued = j.value("queued", std::int64_t{0});
        return m;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::vector<FleetMember> listFleet(RedisConnection& conn, const std::string& ns)
{
    const RedisReply ids = conn.checked({"SMEMBERS", setKey(ns)});
    std::vector<std::string> names;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        names.push_back(ids.stringAt(i));
    }
    std::vector<FleetMember> out;
    if (names.empty()) {
        return out;
    }
    std::vector<std::string> mget{"MGET"};
    for (const std::string& id : names) {
        mget.push_back(memberKey(ns, id));
    }
    const RedisReply docs = conn.checked(mget);
    std::vector<std::string> lapsed{"SREM", setKey(ns)};
    for (std::size_t i = 0; i < names.size() && i < docs.size(); ++i) {
        const std::string doc = docs.stringAt(i);
        auto m = doc.empty() ? std::nullopt : decodeMember(doc);
        if (m) {
            out.push_back(std::move(*m));
        } else {
            lapsed.push_back(names[i]);
        }
    }
    if (lapsed.size() > 2) {
        conn.checked(lapsed);
    }
    std::sort(out.begin(), out.end(), [](const FleetMember& a, const FleetMember& b) { return a.id < b.id; });
    return out;
}

FleetLoadMeter::FleetLoadMeter(Clock& clock, std::function<DispatcherStats()> stats)
    : m_clock(clock), m_stats(std::move(stats))
{
}

FleetLoad FleetLoadMeter::sample()
{
    const DispatcherStats s = m_stats();
    const TimePoint now = m_clock.now();
    m_points.push_back(Point{now, s.attempts, s.inputTokens + s.outputTokens});
    // Keep one point at least a minute old as the base, when there is one.
    while (m_points.size() > 2 && now - m_points[1].at >= std::chrono::minutes(1)) {
        m_points.pop_front();
    }
    FleetLoad load;
    load.inFlight = static_cast<std::int64_t>(s.inFlight);
    load.queued = static_cast<std::int64_t>(s.queued);
    const Point& base = m_points.front();
    const double seconds = std::chrono::duration<double>(now - base.at).count();
    if (seconds > 0) {
        load.requestsPerMinute = static_cast<double>(s.attempts - base.requests) * 60.0 / seconds;
        load.tokensPerMinute = static_cast<double>(m_points.back().tokens - base.tokens) * 60.0 / seconds;
    }
    return load;
}

FleetRegistry::FleetRegistry(RedisEndpoint endpoint, std::string ns, FleetMember self, Clock& clock, Sampler sample,
                             Duration ttl, bool backgroundThread)
    : m_endpoint(std::move(endpoint)),
      m_ns(std::move(ns)),
      m_self(std::move(self)),
      m_clock(clock),
      m_sample(std::move(sample)),
      m_ttl(ttl)
{
    if (m_self.startedMs == 0) {
        m_self.startedMs = wallMs(m_clock);
    }
    beat();
    if (backgroundThread) {
        m_thread = std::jthread([this](std::stop_token stop) { run(stop); });
    }
}

FleetRegistry::~FleetRegistry()
{
    if (m_thread.joinable()) {
        m_thread.request_stop();
        m_wake.notify_all();
        m_thread.join();
    }
    std::lock_guard guard(m_mutex);
    try {
        if (!m_conn) {
            m_conn = std::make_unique<RedisConnection>(m_endpoint);
        }
        m_conn->command({"DEL", memberKey(m_ns, m_self.id)});
        m_conn->command({"SREM", setKey(m_ns), m_self.id});
    } catch (const RedisError&) {
        // Redis is away: the registration lapses by itself.
    }
}

bool FleetRegistry::beat()
{
    FleetMember me;
    {
        std::lock_guard guard(m_mutex);
        me = m_self;
    }
    if (m_sample) {
        me.load = m_sample();
    }
    me.heartbeatMs = wallMs(m_clock);
    const std::string ttlMs =
        std::to_string(std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(m_ttl).count()));
    std::lock_guard guard(m_mutex);
    try {
        if (!m_conn) {
            m_conn = std::make_unique<RedisConnection>(m_endpoint);
        }
        m_conn->checked({"SET", memberKey(m_ns, me.id), encodeMember(me), "PX", ttlMs});
        m_conn->checked({"SADD", setKey(m_ns), me.id});
        m_lastSize = listFleet(*m_conn, m_ns).size();
        m_registered = true;
        return true;
    } catch (const RedisError&) {
        m_conn.reset();
        m_registered = false;
        return false;
    }
}

std::size_t FleetRegistry::lastSize() const
{
    std::lock_guard guard(m_mutex);
    return m_lastSize;
}

bool FleetRegistry::registered() const
{
    std::lock_guard guard(m_mutex);
    return m_registered;
}

void FleetRegistry::run(std::stop_token stop)
{
    const Duration period = std::max<Duration>(m_ttl / 4, std::chrono::milliseconds(10));
    while (!stop.stop_requested()) {
        {
            std::unique_lock lock(m_wakeMutex);
            // Real time on purpose: the registration's expiry runs on the
            // Redis server's clock, not the injected one.
            m_wake.wait_for(lock, stop, period, [] { return false; });
        }
        if (!stop.stop_requested()) {
            beat();
        }
    }
}

}  // namespace sluice::shared
