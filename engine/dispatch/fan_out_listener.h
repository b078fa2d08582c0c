// FanOutListener: one DispatchListener that passes every callback to
// several, in order, so a batch, a load test or the GUI can chain the queue
// runner → metrics → their own display. Of the listeners that read
// outcomes (readsOutcomes), the last receives the outcome itself and the
// ones before it copies; the others are not handed it.
//
// Thread-safety: callbacks arrive on the dispatcher thread and run the
// listeners there, so each of them must not block (as for any listener).
// The list is fixed at construction.
#pragma once

#include "dispatch/dispatcher.h"

#include <initializer_list>
#include <vector>

namespace sluice {

class FanOutListener : public DispatchListener {
public:
    // Null entries are skipped, so optional listeners can be passed as they are.
    FanOutListener(std::initializer_list<DispatchListener*> listeners);

    void onFinished(JobOutcome&& outcome) override;
    bool readsOutcomes() const noexcept override;
    void onSent(const SendReport& report) override;
    void onAttempt(const AttemptReport& report) override;
    void onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason) override;
    void onProviderProblem(const std::string& provider, const std::string& reason) override;
    void onProviderLearned(const std::string& provider, const std::string& what) override;

private:
    std::vector<DispatchListener*> m_listeners;
};

}  // namespace sluice
