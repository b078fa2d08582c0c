#include "shared/shared_membership.h"

#include "dispatch/dispatcher.h"

#include <random>

#include <unistd.h>

namespace sluice::shared {

namespace {

std::string hostName()
{
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) {
        return "host";
    }
    return host;
}

// Unique among the namespace's instances: host, pid and a random tail (a
// pid is reused after a restart, and containers share pids).
std::string newInstanceId()
{
    std::random_device rd;
    char tail[16];
    std::snprintf(tail, sizeof tail, "%06x", static_cast<unsigned>(rd() & 0xffffff));
    return hostName() + "-" + std::to_string(::getpid()) + "-" + tail;
}

std::string gauge(const std::string& name, const std::string& help, const std::string& type, double value)
{
    char number[64];
    std::snprintf(number, sizeof number, "%.17g", value);
    return "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + number + "\n";
}

}  // namespace

RedisEndpoint endpointOf(const SharedConfig& s)
{
    RedisEndpoint e;
    e.host = s.host;
    e.port = s.port;
    e.db = s.db;
    e.password = s.password;
    return e;
}

SharedMembership::SharedMembership(const SharedConfig& shared, Clock& clock, std::string program,
                                   const RedisBudget* budget)
    : m_ns(shared.ns),
      m_endpoint(endpointOf(shared)),
      m_clock(clock),
      m_program(std::move(program)),
      m_budget(budget),
      m_bridge(m_endpoint, m_ns, budget != nullptr ? budget->instanceId() : newInstanceId())
{
}

SharedMembership::~SharedMembership()
{
    detach();
}

void SharedMembership::attach(Dispatcher& dispatcher)
{
    m_bridge.attach(dispatcher);
    try {
        m_bridge.catchUp();
    } catch (const RedisError&) {
        // Redis away: later changes still arrive as signals once it is back.
    }
    FleetMember self;
    self.id = m_bridge.instanceId();
    self.host = hostName();
    self.pid = ::getpid();
    self.program = m_program;
    auto meter = std::make_unique<FleetLoadMeter>(m_clock, [&dispatcher] { return dispatcher.stats(); });
    FleetLoadMeter* raw = meter.get();
    auto registry =
        std::make_unique<FleetRegistry>(m_endpoint, m_ns, std::move(self), m_clock, [raw] { return raw->sample(); });
    std::lock_guard guard(m_mutex);
    m_meter = std::move(meter);
    m_registry = std::move(registry);
}

void SharedMembership::detach()
{
    std::unique_ptr<FleetRegistry> registry;
    {
        std::lock_guard guard(m_mutex);
        registry = std::move(m_registry);
    }
    registry.reset();  // its heartbeat reads the meter: gone before it
    {
        std::lock_guard guard(m_mutex);
        m_meter.reset();
    }
    m_bridge.detach();
}

MembershipStatus SharedMembership::status() const
{
    MembershipStatus s;
    s.ns = m_ns;
    s.instanceId = m_bridge.instanceId();
    s.subscribed = m_bridge.subscribed();
    s.signals = m_bridge.counters();
    {
        std::lock_guard guard(m_mutex);
        if (m_registry) {
            s.registered = m_registry->registered();
            s.fleetSize = m_registry->lastSize();
        }
    }
    if (m_budget != nullptr) {
        s.hasBudget = true;
        s.budget = m_budget->status();
    }
    return s;
}

std::string SharedMembership::prometheusText() const
{
    const MembershipStatus s = status();
    std::string out;
    const bool connected = s.subscribed && (!s.hasBudget || s.budget.connected);
    out += gauge("sluice_shared_connected", "1 while Redis answers (signal channel and shared budget).", "gauge",
                 connected ? 1 : 0);
    out += gauge("sluice_shared_fleet_size", "Instances registered in the namespace, as the last heartbeat saw.",
                 "gauge", static_cast<double>(s.fleetSize));
    out += gauge("sluice_shared_signals_sent_total", "Cool-downs, quarantines and limits told to the other instances.",
                 "counter", static_cast<double>(s.signals.sent));
    out += gauge("sluice_shared_signals_applied_total", "Signals from other instances applied here.", "counter",
                 static_cast<double>(s.signals.applied));
    out += gauge("sluice_shared_signals_dropped_total", "Signals that could not be published.", "counter",
                 static_cast<double>(s.signals.dropped));
    if (s.hasBudget) {
        out += gauge("sluice_shared_budget_fallback", "1 while admitting on local_share (Redis away).", "gauge",
                     s.budget.fallback ? 1 : 0);
        out += gauge("sluice_shared_budget_stopped", "1 while refusing (when_unavailable: stop, Redis away).", "gauge",
                     s.budget.stopped ? 1 : 0);
        out += gauge("sluice_shared_budget_remote_calls_total", "Admissions that ran the budget script in Redis.",
                     "counter", static_cast<double>(s.budget.remoteCalls));
        out += gauge("sluice_shared_budget_local_admissions_total", "Admissions from this instance's local lease.",
                     "counter", static_cast<double>(s.budget.localAdmissions));
        out += gauge("sluice_shared_budget_rejoins_total", "Times this instance rejoined after Redis came back.",
                     "counter", static_cast<double>(s.budget.rejoins));
    }
    return out;
}

std::unique_ptr<SharedMembership> makeMembership(const Config& config, Clock& clock, std::string program,
                                                 const RedisBudget* budget)
{
    if (!config.shared) {
        return nullptr;
    }
    return std::make_unique<SharedMembership>(*config.shared, clock, std::move(program), budget);
}

}  // namespace sluice::shared
