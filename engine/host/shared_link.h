// SharedLink: what EngineHost needs from the configuration's "shared"
// section (engine/shared/ implements it as shared::SharedRun; the host does
// not link Redis itself, the program passes a SharedLinkFactory in
// HostOptions): the budget its Admission takes, the observer of peers'
// signals its Dispatcher reports to, the membership the dispatcher attaches
// to, and a short status for the console.
//
// Thread-safety: budget/observer/attach/detach from the thread that owns
// the dispatcher; status() and prometheusText() from any thread (status()
// may wait on a lock the admission path holds during a Redis round trip:
// read it off the GUI thread, as EngineHost's gauge sampling does).
#pragma once

#include "admission/shared_budget.h"
#include "config/config.h"
#include "core/clock.h"
#include "dispatch/peer_signal.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sluice {
class Dispatcher;
}

namespace sluice::host {

struct SharedLinkStatus {
    bool active = false;     // the configuration shares through Redis
    bool connected = false;  // the shared budget reaches Redis
    bool fallback = false;   // unreachable: admitting on a local share
    bool stopped = false;    // unreachable: admitting nothing (when_unavailable: stop)
    std::int64_t instances = 1;  // as the budget last saw them
    std::size_t fleetSize = 0;   // registered in the fleet, this one included
    std::string ns;
    std::string instanceId;
    std::string lastError;
};

// One line for an operator; "" when inactive. Loud when Redis is
// unreachable: "Shared budget unreachable: running on a local share (1/N
// of each limit)" or "...: admitting nothing (when_unavailable: stop)".
std::string sharedStatusLine(const SharedLinkStatus& s);

class SharedLink {
public:
    virtual ~SharedLink() = default;
    virtual SharedBudget* budget() noexcept = 0;
    virtual PeerSignalObserver* observer() noexcept = 0;
    // Before the dispatcher starts; detach() before it is destroyed.
    virtual void attach(Dispatcher& dispatcher) = 0;
    virtual void detach() = 0;
    virtual SharedLinkStatus linkStatus() const = 0;
    // sluice_shared_* series (Prometheus text format 0.0.4).
    virtual std::string prometheusText() const = 0;
};

// Null for a configuration without "shared".
using SharedLinkFactory = std::function<std::unique_ptr<SharedLink>(const Config& config, Clock& clock)>;

}  // namespace sluice::host
