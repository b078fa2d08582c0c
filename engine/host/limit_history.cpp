#include "host/limit_history.h"

#include "admission/admission.h"
#include "host/capacity.h"

#include <map>
#include <set>

namespace sluice::host {

CapacityLines capacityLinesOf(const std::vector<KeyStatus>& keys, const std::vector<ScopeState>& scopes)
{
    // Key scopes are the root's grandchildren.
    std::set<ScopeId> unusable;
    std::map<ScopeId, const ScopeState*> byId;
    for (const ScopeState& s : scopes) {
        byId[s.id] = &s;
    }
    for (const ScopeState& s : scopes) {
        const auto parent = byId.find(s.parent);
        if (s.id == Admission::root() || parent == byId.end() || parent->second->parent != Admission::root()) {
            continue;
        }
        for (const KeyStatus& k : keys) {
            if (k.provider == parent->second->name && k.key == s.name &&
                (k.state == KeyStatus::State::Quarantined || k.state == KeyStatus::State::Disabled)) {
                unusable.insert(s.id);
            }
        }
    }
    const auto skip = [&](const ScopeState& s) { return unusable.count(s.id) > 0; };
    CapacityLines l;
    l.requestsPerMinute = capacityOf(scopes, Admission::root(), CapacityOf::RequestsPerMinute, skip);
    l.tokensPerMinute = capacityOf(scopes, Admission::root(), CapacityOf::TokensPerMinute, skip);
    l.inFlight = capacityOf(scopes, Admission::root(), CapacityOf::InFlight, skip);
    l.spendPerDayMicroUsd = capacityOf(scopes, Admission::root(), CapacityOf::SpendPerDayMicroUsd, skip);
    return l;
}

void LimitHistory::record(TimePoint at, const CapacityLines& lines)
{
    std::lock_guard guard(m_mutex);
    if (!m_changes.empty() && m_changes.back().lines == lines) {
        return;
    }
    m_changes.push_back(CapacityChange{at, lines});
    while (m_changes.size() > m_max) {
        m_changes.pop_front();
    }
}

std::vector<CapacityChange> LimitHistory::between(TimePoint from, TimePoint to) const
{
    std::lock_guard guard(m_mutex);
    std::vector<CapacityChange> out;
    for (std::size_t i = 0; i < m_changes.size(); ++i) {
        const CapacityChange& c = m_changes[i];
        if (c.at > to) {
            break;
        }
        const bool inForceAtFrom = c.at <= from && (i + 1 == m_changes.size() || m_changes[i + 1].at > from);
        if (c.at >= from || inForceAtFrom) {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace sluice::host
