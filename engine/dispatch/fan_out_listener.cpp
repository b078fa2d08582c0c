#include "dispatch/fan_out_listener.h"

#include <algorithm>

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
    std::size_t last = m_listeners.size();
    for (std::size_t i = 0; i < m_listeners.size(); ++i) {
        if (m_listeners[i]->readsOutcomes()) {
            last = i;
        }
    }
    for (std::size_t i = 0; i < m_listeners.size() && last < m_listeners.size(); ++i) {
        if (i == last) {
            m_listeners[i]->onFinished(std::move(outcome));
        } else if (m_listeners[i]->readsOutcomes()) {
            JobOutcome copy = outcome;
            m_listeners[i]->onFinished(std::move(copy));
        }
    }
}

bool FanOutListener::readsOutcomes() const noexcept
{
    return std::any_of(m_listeners.begin(), m_listeners.end(),
                       [](const DispatchListener* l) { return l->readsOutcomes(); });
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

void FanOutListener::onProviderLearned(const std::string& provider, const std::string& what)
{
    for (DispatchListener* l : m_listeners) {
        l->onProviderLearned(provider, what);
    }
}

}  // namespace sluice
