// SignalBridge: a Dispatcher's PeerSignals carried to and from every
// instance of a Redis namespace over SignalBus. What this dispatcher finds
// out (a 429 cool-down, a quarantine, learned limits) is queued and
// published by the bridge's own thread, so the dispatcher never waits on
// the network; what peers publish is applied through
// Dispatcher::applyPeerSignal. It also carries an operator's limit changes:
// changeLimits applies a change here and stores it, versioned, in
// `{namespace}:limits`, so every instance applies it, a late or reordered
// one never overwrites a newer one, and an instance that starts later
// catches up (catchUp).
//
// Thread-safety: every public member may be called from any thread. Peers'
// signals are applied on SignalBus's thread; the dispatcher must stay
// attached until detach() returns.
#pragma once

#include "dispatch/dispatch_types.h"
#include "dispatch/peer_signal.h"
#include "shared/signal_bus.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice {
class Dispatcher;
}  // namespace sluice

namespace sluice::shared {

struct SignalCounters {
    std::uint64_t sent = 0;      // published
    std::uint64_t applied = 0;   // peers' signals handed to the dispatcher
    std::uint64_t stale = 0;     // limit changes older than one already applied
    std::uint64_t dropped = 0;   // could not be published (Redis away, queue full)
    std::uint64_t coalesced = 0; // cool-downs not told: one ending as late was told already
    std::int64_t lastLatencyUs = -1;  // from a peer's publish to its apply here (wall clocks)
    std::int64_t maxLatencyUs = -1;
};

class SignalBridge final : public PeerSignalObserver {
public:
    SignalBridge(RedisEndpoint endpoint, std::string ns, std::string instanceId);
    ~SignalBridge() override;
    SignalBridge(const SignalBridge&) = delete;
    SignalBridge& operator=(const SignalBridge&) = delete;

    // Peers' signals go to `dispatcher` from now on (before: dropped).
    void attach(Dispatcher& dispatcher);
    // Waits for an apply under way; none follows.
    void detach();

    // The dispatcher's own findings: queued, never blocks.
    void onPeerSignal(const PeerSignal& signal) override;

    // An operator's change: applied to the attached dispatcher (which
    // checks it and throws InputError, changing nothing, when it is
    // invalid), then stored and told to every instance. Returns its
    // version. Throws RedisError when Redis cannot be reached: then it is
    // applied here only.
    std::int64_t changeLimits(const LimitTarget& target, std::vector<LimitSpec> limits);
    // Applies every operator change stored in the namespace that is newer
    // than what was applied here. Returns how many; throws RedisError.
    std::size_t catchUp();

    SignalCounters counters() const;
    bool subscribed() const noexcept { return m_bus.subscribed(); }
    const std::string& instanceId() const noexcept { return m_instanceId; }

private:
    void onShared(const SharedSignal& s);
    // Applies a stored or signalled limit change when it is newer.
    bool applyChange(const std::string& targetText, const std::string& limitsText, std::int64_t version);
    void publishLoop(std::stop_token stop);
    RedisConnection& connectionLocked();

    RedisEndpoint m_endpoint;
    std::string m_ns;
    std::string m_instanceId;
    std::string m_limitsKey;
    std::string m_versionKey;

    mutable std::mutex m_mutex;
    Dispatcher* m_dispatcher = nullptr;
    SignalCounters m_counters;
    std::map<std::string, std::int64_t> m_appliedVersions;  // by encoded target
    std::deque<SharedSignal> m_outbox;
    // The latest cool-down end told per provider/key/model: a 429 that ends
    // no later (requests in flight meeting the same empty bucket) is not
    // told again.
    std::map<std::string, std::int64_t> m_coolingTold;
    std::condition_variable_any m_wake;

    std::mutex m_connMutex;
    std::unique_ptr<RedisConnection> m_conn;  // changeLimits and catchUp

    // Last: the bus's thread calls onShared, the publisher reads the outbox.
    SignalBus m_bus;
    std::jthread m_publisher;
};

}  // namespace sluice::shared
