#include "dispatch/fan_out_listener.h"

namespace sluice {

FanOutListener::FanOutListener(std::initializer_list<DispatchListener*> listeners)
{
    for (DispatchListener* l : listeners) {
        if (l != nullptr) {
            m_listeners.push_back(l);
        }
    }
}

void FanOutListener::onFinished(JobOutcome&& outcome)
{
    for (std::size_t i = 0; i < m_listeners.size(); ++i) {
        if (i + 1 == m_listeners.size()) {
            m_listeners[i]->onFinished(std::move(outcome));
        } else {
            JobOutcome copy = outcome;
            m_listeners[i]->onFinished(std::move(copy));
        }
    }
}

void FanOutListener::onSent(const SendReport& report)
{
    for (DispatchListener* l : m_listeners) {
        l->onSent(report);
    }
}

void FanOutListener::onAttempt(const AttemptReport& report)
{
    for (DispatchListener* l : m_listeners) {
        l->onAttempt(report);
    }
}

void FanOutListener::onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason)
{
    for (DispatchListener* l : m_listeners) {
        l->onKeyProblem(provider, key, reason);
    }
}

void FanOutListener::onProviderProblem(const std::string& provider, const std::string& reason)
{
    for (DispatchListener* l : m_listeners) {
        l->onProviderProblem(provider, reason);
    }
}

}  // namespace sluice
