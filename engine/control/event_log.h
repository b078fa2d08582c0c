// EventLog: what an operator of a headless instance should hear about (a
// key quarantined or disabled, a provider unreachable), kept as the latest
// few lines for the control endpoint's status, as the console keeps them
// for its own engine. It is a DispatchListener: put it in the instance's
// listener chain; only the problem callbacks record anything.
//
// Thread-safety: every member from any thread (one short lock); the
// callbacks run on the dispatcher thread and never block on anything else.
#pragma once

#include "control/control_protocol.h"
#include "dispatch/dispatch_types.h"

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::control {

class EventLog : public DispatchListener {
public:
    EventLog(const Clock& clock, std::size_t keep = 50) : m_clock(clock), m_keep(keep) {}

    void add(std::string text);
    std::vector<ControlEvent> latest() const;  // oldest first

    void onFinished(JobOutcome&&) override {}
    bool readsOutcomes() const noexcept override { return false; }
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override;
    void onProviderProblem(const std::string& provider, const std::string& reason) override;
    void onProviderLearned(const std::string& provider, const std::string& what) override;

private:
    const Clock& m_clock;
    std::size_t m_keep;
    mutable std::mutex m_mutex;
    std::deque<ControlEvent> m_events;
};

}  // namespace sluice::control
