#include "shared/signal_bridge.h"

#include "config/config.h"
#include "dispatch/dispatcher.h"
#include "shared/limits_codec.h"

#include <nlohmann/json.hpp>

#include <chrono>

namespace sluice::shared {

using nlohmann::json;

namespace {

// A dispatcher that stops reading signals must not grow the queue for ever:
// past this many unsent, the oldest go (the budgets stay correct anyway).
constexpr std::size_t kOutboxLimit = 4096;

// Stores an operator's change with the next version, in one step, so two
// changes made at once cannot store the older one last.
constexpr const char* kChangeScript = R"lua(
local v = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], '{"version":' .. v .. ',"limits":' .. ARGV[2] .. '}')
return v
)lua";

SharedSignal toShared(const PeerSignal& p)
{
    SharedSignal s;
    s.provider = p.provider;
    s.key = p.key;
    s.model = p.model;
    switch (p.kind) {
    case PeerSignal::Kind::CoolDown:
        s.kind = SharedSignal::Kind::CoolDown;
        s.untilWallMs = std::chrono::duration_cast<std::chrono::milliseconds>(p.until.time_since_epoch()).count();
        break;
    case PeerSignal::Kind::Quarantine:
        s.kind = SharedSignal::Kind::Quarantine;
        s.reason = p.reason;
        break;
    case PeerSignal::Kind::LimitsLearned: {
        s.kind = SharedSignal::Kind::LimitsLearned;
        json announced = json::object();
        const auto put = [&](const char* name, const std::optional<std::int64_t>& v) {
            if (v) {
                announced[name] = *v;
            }
        };
        put("rpm", p.requests);
        put("tpm", p.tokens);
        put("itpm", p.inputTokens);
        put("otpm", p.outputTokens);
        s.limitsJson = announced.dump();
        break;
    }
    }
    return s;
}

std::optional<PeerSignal> toPeer(const SharedSignal& s)
{
    PeerSignal p;
    p.provider = s.provider;
    p.key = s.key;
    p.model = s.model;
    switch (s.kind) {
    case SharedSignal::Kind::CoolDown:
        p.kind = PeerSignal::Kind::CoolDown;
        p.until = WallTime(std::chrono::milliseconds(s.untilWallMs));
        return p;
    case SharedSignal::Kind::Quarantine:
        p.kind = PeerSignal::Kind::Quarantine;
        p.reason = s.reason;
        return p;
    case SharedSignal::Kind::LimitsLearned: {
        p.kind = PeerSignal::Kind::LimitsLearned;
        const json j = json::parse(s.limitsJson, nullptr, false);
        if (!j.is_object()) {
            return std::nullopt;
        }
        const auto get = [&](const char* name) -> std::optional<std::int64_t> {
            if (const auto it = j.find(name); it != j.end() && it->is_number_integer() && it->get<std::int64_t>() > 0) {
                return it->get<std::int64_t>();
            }
            return std::nullopt;
        };
        p.requests = get("rpm");
        p.tokens = get("tpm");
        p.inputTokens = get("itpm");
        p.outputTokens = get("otpm");
        return p;
    }
    case SharedSignal::Kind::LimitsChanged: return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace

SignalBridge::SignalBridge(RedisEndpoint endpoint, std::string ns, std::string instanceId)
    : m_endpoint(endpoint),
      m_ns(std::move(ns)),
      m_instanceId(std::move(instanceId)),
      m_limitsKey("{" + m_ns + "}:limits"),
      m_versionKey("{" + m_ns + "}:limits:version"),
      m_bus(std::move(endpoint), m_ns, m_instanceId, [this](const SharedSignal& s) { onShared(s); })
{
    m_publisher = std::jthread([this](std::stop_token stop) { publishLoop(stop); });
}

SignalBridge::~SignalBridge()
{
    detach();
    m_publisher.request_stop();
    m_wake.notify_all();
}

void SignalBridge::attach(Dispatcher& dispatcher)
{
    std::lock_guard guard(m_mutex);
    m_dispatcher = &dispatcher;
}

void SignalBridge::detach()
{
    std::lock_guard guard(m_mutex);
    m_dispatcher = nullptr;
}

void SignalBridge::onPeerSignal(const PeerSignal& signal)
{
    SharedSignal s = toShared(signal);
    {
        std::lock_guard guard(m_mutex);
        if (s.kind == SharedSignal::Kind::CoolDown) {
            std::int64_t& told = m_coolingTold[s.provider + '\x1f' + s.key + '\x1f' + s.model];
            if (s.untilWallMs <= told) {
                ++m_counters.coalesced;
                return;
            }
            told = s.untilWallMs;
        }
        if (m_outbox.size() >= kOutboxLimit) {
            m_outbox.pop_front();
            ++m_counters.dropped;
        }
        m_outbox.push_back(std::move(s));
    }
    m_wake.notify_one();
}

void SignalBridge::publishLoop(std::stop_token stop)
{
    std::unique_lock lock(m_mutex);
    while (!stop.stop_requested()) {
        m_wake.wait(lock, stop, [this] { return !m_outbox.empty(); });
        while (!m_outbox.empty() && !stop.stop_requested()) {
            SharedSignal s = std::move(m_outbox.front());
            m_outbox.pop_front();
            lock.unlock();
            const bool ok = m_bus.publish(std::move(s));
            lock.lock();
            ++(ok ? m_counters.sent : m_counters.dropped);
        }
    }
}

void SignalBridge::onShared(const SharedSignal& s)
{
    if (s.kind == SharedSignal::Kind::LimitsChanged) {
        const json j = json::parse(s.limitsJson, nullptr, false);
        if (j.is_object() && j.contains("target") && j.contains("limits")) {
            applyChange(j["target"].dump(), j["limits"].dump(), s.version);
        }
        return;
    }
    const std::optional<PeerSignal> p = toPeer(s);
    if (!p) {
        return;
    }
    std::lock_guard guard(m_mutex);
    if (s.kind == SharedSignal::Kind::CoolDown) {
        // Every instance heard this one: a 429 of ours ending no later
        // need not be told again.
        std::int64_t& told = m_coolingTold[s.provider + '\x1f' + s.key + '\x1f' + s.model];
        told = std::max(told, s.untilWallMs);
    }
    if (m_dispatcher == nullptr) {
        return;
    }
    m_dispatcher->applyPeerSignal(*p);
    ++m_counters.applied;
    if (s.sentWallUs > 0) {
        m_counters.lastLatencyUs = wallUsNow() - s.sentWallUs;
        m_counters.maxLatencyUs = std::max(m_counters.maxLatencyUs, m_counters.lastLatencyUs);
    }
}

bool SignalBridge::applyChange(const std::string& targetText, const std::string& limitsText, std::int64_t version)
{
    const std::optional<LimitTarget> target = decodeTarget(targetText);
    const std::optional<std::vector<LimitSpec>> limits = decodeLimits(limitsText);
    if (!target || !limits) {
        return false;
    }
    std::lock_guard guard(m_mutex);
    if (m_dispatcher == nullptr) {
        return false;  // catchUp applies it once attached
    }
    std::int64_t& applied = m_appliedVersions[encodeTarget(*target)];
    if (version <= applied) {
        ++m_counters.stale;
        return false;
    }
    applied = version;
    try {
        m_dispatcher->setLimits(*target, *limits);
    } catch (const InputError&) {
        // A provider, key or model this instance is not configured with:
        // nothing of it to limit here.
        return false;
    }
    ++m_counters.applied;
    return true;
}

RedisConnection& SignalBridge::connectionLocked()
{
    if (!m_conn) {
        m_conn = std::make_unique<RedisConnection>(m_endpoint);
    }
    return *m_conn;
}

std::int64_t SignalBridge::changeLimits(const LimitTarget& target, std::vector<LimitSpec> limits)
{
    const std::string targetText = encodeTarget(target);
    const std::string limitsText = encodeLimits(limits);
    {
        std::lock_guard guard(m_mutex);
        if (m_dispatcher != nullptr) {
            m_dispatcher->setLimits(target, limits);
        }
    }
    std::int64_t version = 0;
    {
        std::lock_guard guard(m_connMutex);
        try {
            version = connectionLocked()
                          .checked({"EVAL", kChangeScript, "2", m_versionKey, m_limitsKey, targetText, limitsText})
                          .integer();
        } catch (const RedisError&) {
            m_conn.reset();
            throw;
        }
    }
    SharedSignal s;
    s.kind = SharedSignal::Kind::LimitsChanged;
    s.provider = target.provider;
    s.key = target.key;
    s.model = target.model;
    s.version = version;
    s.limitsJson = json{{"target", json::parse(targetText)}, {"limits", json::parse(limitsText)}}.dump();
    {
        std::lock_guard guard(m_mutex);
        std::int64_t& applied = m_appliedVersions[targetText];
        applied = std::max(applied, version);
        m_outbox.push_back(std::move(s));
    }
    m_wake.notify_one();
    return version;
}

std::size_t SignalBridge::catchUp()
{
    std::vector<std::pair<std::string, std::string>> stored;
    {
        std::lock_guard guard(m_connMutex);
        try {
            const RedisReply r = connectionLocked().checked({"HGETALL", m_limitsKey});
            for (std::size_t i = 0; i + 1 < r.size(); i += 2) {
                stored.emplace_back(r.stringAt(i), r.stringAt(i + 1));
            }
        } catch (const RedisError&) {
            m_conn.reset();
            throw;
        }
    }
    std::size_t applied = 0;
    for (const auto& [targetText, doc] : stored) {
        const json j = json::parse(doc, nullptr, false);
        if (!j.is_object() || !j.contains("version") || !j["version"].is_number_integer() || !j.contains("limits")) {
            continue;
        }
        applied += applyChange(targetText, j["limits"].dump(), j["version"].get<std::int64_t>()) ? 1 : 0;
    }
    return applied;
}

SignalCounters SignalBridge::counters() const
{
    std::lock_guard guard(m_mutex);
    return m_counters;
}

}  // namespace sluice::shared
