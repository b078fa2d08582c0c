// SharedRun: what a program that runs a Dispatcher does with the
// configuration's "shared" section, in one piece for sluice-cli (serve,
// loadtest) and the console's EngineHost: the shared budget its Admission
// takes, the membership (signals and the fleet) its Dispatcher reports to
// and attaches to, the sluice_shared_* series, and its status. Without
// "shared" every member is a no-op and the pointers are null.
//
// Order of use: construct before the Admission and the Dispatcher; pass
// observer() in DispatcherOptions; attach the dispatcher once it exists
// (MembershipAttachment, or attach()/detach()); destroy after both.
//
// Thread-safety: construct, attach and detach from one controlling thread;
// status readers from any thread.
#pragma once

#include "config/config.h"
#include "core/clock.h"
#include "host/shared_link.h"
#include "shared/redis_budget.h"
#include "shared/shared_membership.h"

#include <memory>
#include <string>

namespace sluice::shared {

class SharedRun : public host::SharedLink {
public:
    SharedRun(const Config& config, Clock& clock, std::string program);
    ~SharedRun() override;
    SharedRun(const SharedRun&) = delete;
    SharedRun& operator=(const SharedRun&) = delete;

    bool active() const noexcept { return m_membership != nullptr; }
    SharedBudget* budget() noexcept override { return m_budget.get(); }
    SharedMembership* membership() noexcept { return m_membership.get(); }
    PeerSignalObserver* observer() noexcept override { return m_membership ? m_membership->observer() : nullptr; }
    void attach(Dispatcher& dispatcher) override;
    void detach() override;
    host::SharedLinkStatus linkStatus() const override;
    // "": inactive.
    std::string prometheusText() const override { return m_membership ? m_membership->prometheusText() : std::string(); }

private:
    std::unique_ptr<RedisBudget> m_budget;
    std::unique_ptr<SharedMembership> m_membership;
    bool m_attached = false;
};

// For HostOptions::shared: a SharedRun as `program` for a configuration
// with "shared", null otherwise.
host::SharedLinkFactory sharedLinkFactory(std::string program);

}  // namespace sluice::shared
