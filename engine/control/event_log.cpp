#include "control/event_log.h"

namespace sluice::control {

void EventLog::add(std::string text)
{
    const std::lock_guard lock(m_mutex);
    m_events.push_back({m_clock.wallNow(), std::move(text)});
    while (m_events.size() > m_keep) {
        m_events.pop_front();
    }
}

std::vector<ControlEvent> EventLog::latest() const
{
    const std::lock_guard lock(m_mutex);
    return {m_events.begin(), m_events.end()};
}

void EventLog::onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason)
{
    add("key " + provider + "/" + key + ": " + reason);
}

void EventLog::onProviderProblem(const std::string& provider, const std::string& reason)
{
    add("provider " + provider + ": " + reason);
}

void EventLog::onProviderLearned(const std::string& provider, const std::string& what)
{
    add("provider " + provider + ": " + what);
}

}  // namespace sluice::control
