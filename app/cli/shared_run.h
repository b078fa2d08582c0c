// What a command that runs a Dispatcher does with the configuration's
// "shared" section (engine/shared/): the shared budget its Admission takes,
// the membership (signals and the fleet) its Dispatcher reports to, the
// sluice_shared_* series for /metrics, and a line on stderr saying so.
// Without "shared" every member is a no-op and the pointers are null.
//
// Thread-safety: one controlling thread, as the command's own.
#pragma once

#include "config/config.h"
#include "core/clock.h"
#include "dispatch/dispatcher.h"
#include "loadtest/load_target.h"
#include "shared/redis_budget.h"
#include "shared/shared_membership.h"

#include <memory>
#include <string>

namespace sluice::cli {

class SharedRun {
public:
    SharedRun(const Config& config, Clock& clock, std::string program);

    bool active() const noexcept { return m_membership != nullptr; }
    SharedBudget* budget() noexcept { return m_budget.get(); }
    shared::SharedMembership* membership() noexcept { return m_membership.get(); }
    PeerSignalObserver* observer() noexcept { return m_membership ? m_membership->observer() : nullptr; }
    // "": inactive.
    std::string prometheusText() const { return m_membership ? m_membership->prometheusText() : std::string(); }

private:
    std::unique_ptr<shared::RedisBudget> m_budget;
    std::unique_ptr<shared::SharedMembership> m_membership;
};

// A load-test target like loadtest::sluiceTarget, but sharing budgets,
// signals and the fleet with the namespace of `config`'s "shared".
loadtest::TargetFactory sharedSluiceTarget(const Config& config, Clock& clock, DispatcherOptions options,
                                           std::string program);

}  // namespace sluice::cli
