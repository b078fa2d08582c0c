// SharedMembership: what one instance of a Redis namespace runs beside its
// shared budget, wired for one Dispatcher: the SignalBridge (cool-downs,
// quarantines, learned limits and operator limit changes to and from every
// peer) and the FleetRegistry (who is here and how busy). A program makes
// one from its configuration, passes observer() in DispatcherOptions, and
// attaches the dispatcher once it exists; status() and prometheusText()
// say how sharing is doing, for the console and /metrics.
//
// Thread-safety: every public member may be called from any thread;
// attach/detach from the thread that owns the dispatcher.
#pragma once

#include "config/config.h"
#include "core/clock.h"
#include "shared/fleet_registry.h"
#include "shared/redis_budget.h"
#include "shared/signal_bridge.h"

#include <memory>
#include <mutex>
#include <string>

namespace sluice::shared {

struct MembershipStatus {
    std::string ns;
    std::string instanceId;
    bool subscribed = false;   // the signal channel is listened to
    bool registered = false;   // the fleet heartbeat reached Redis last time
    std::size_t fleetSize = 0;
    SignalCounters signals;
    bool hasBudget = false;
    SharedStatus budget;       // the shared budget's, when there is one
};

// The endpoint a "shared" section names.
RedisEndpoint endpointOf(const SharedConfig& shared);

class SharedMembership {
public:
    // `budget` (may be null) is only read for status; it must outlive this.
    SharedMembership(const SharedConfig& shared, Clock& clock, std::string program, const RedisBudget* budget);
    ~SharedMembership();
    SharedMembership(const SharedMembership&) = delete;
    SharedMembership& operator=(const SharedMembership&) = delete;

    PeerSignalObserver* observer() noexcept { return &m_bridge; }
    SignalBridge& signals() noexcept { return m_bridge; }
    // Routes peers' signals to `dispatcher`, applies operator changes stored
    // before it started, and registers in the fleet with its load.
    void attach(Dispatcher& dispatcher);
    // Before the dispatcher goes: leaves the fleet, stops applying.
    void detach();

    MembershipStatus status() const;
    // sluice_shared_* series (Prometheus text format 0.0.4).
    std::string prometheusText() const;

private:
    std::string m_ns;
    RedisEndpoint m_endpoint;
    Clock& m_clock;
    std::string m_program;
    const RedisBudget* m_budget;
    SignalBridge m_bridge;
    mutable std::mutex m_mutex;
    std::unique_ptr<FleetLoadMeter> m_meter;
    std::unique_ptr<FleetRegistry> m_registry;
};

// Attached for its lifetime: declare it after the dispatcher, so it
// detaches before the dispatcher goes. Does nothing for a null membership.
class MembershipAttachment {
public:
    MembershipAttachment(SharedMembership* membership, Dispatcher& dispatcher) : m_membership(membership)
    {
        if (m_membership != nullptr) {
            m_membership->attach(dispatcher);
        }
    }
    ~MembershipAttachment()
    {
        if (m_membership != nullptr) {
            m_membership->detach();
        }
    }
    MembershipAttachment(const MembershipAttachment&) = delete;
    MembershipAttachment& operator=(const MembershipAttachment&) = delete;

private:
    SharedMembership* m_membership;
};

// Null without "shared". `budget` as for the constructor.
std::unique_ptr<SharedMembership> makeMembership(const Config& config, Clock& clock, std::string program,
                                                 const RedisBudget* budget);

}  // namespace sluice::shared
