#include "shared/shared_run.h"

namespace sluice::shared {

SharedRun::SharedRun(const Config& config, Clock& clock, std::string program)
{
    if (!config.shared) {
        return;
    }
    m_budget = makeSharedBudget(config, clock);
    m_membership = makeMembership(config, clock, std::move(program), m_budget.get());
}

SharedRun::~SharedRun()
{
    detach();
}

void SharedRun::attach(Dispatcher& dispatcher)
{
    if (m_membership && !m_attached) {
        m_membership->attach(dispatcher);
        m_attached = true;
    }
}

void SharedRun::detach()
{
    if (m_membership && m_attached) {
        m_membership->detach();
        m_attached = false;
    }
}

host::SharedLinkStatus SharedRun::linkStatus() const
{
    host::SharedLinkStatus out;
    if (!m_membership) {
        return out;
    }
    const MembershipStatus s = m_membership->status();
    out.active = true;
    out.ns = s.ns;
    out.instanceId = s.instanceId;
    out.fleetSize = s.fleetSize;
    if (s.hasBudget) {
        out.connected = s.budget.connected;
        out.fallback = s.budget.fallback;
        out.stopped = s.budget.stopped;
        out.instances = s.budget.instances;
        out.lastError = s.budget.lastError;
    }
    return out;
}

host::SharedLinkFactory sharedLinkFactory(std::string program)
{
    return [program](const Config& config, Clock& clock) -> std::unique_ptr<host::SharedLink> {
        if (!config.shared) {
            return nullptr;
        }
        return std::make_unique<SharedRun>(config, clock, program);
    };
}

}  // namespace sluice::shared
