#include "dispatch/fair_queue.h"

#include <algorithm>

namespace sluice {

void FairQueue::push(DispatchId id, int priority, const std::string& tenant, double weight, double size)
{
    Class& c = m_classes[priority];
    Tenant& t = c.tenants[tenant];
    t.weight = weight;
    const double start = std::max(c.virtualTime, t.lastFinish);
    const double finish = start + size / weight;
    t.lastFinish = finish;
    t.jobs.push_back(Entry{id, start, finish, size});
    ++m_size;
}

void FairQueue::pushFront(DispatchId id, int priority, const std::string& tenant, double weight, double size)
{
    Class& c = m_classes[priority];
    Tenant& t = c.tenants[tenant];
    t.weight = weight;
    const double start = t.jobs.empty() ? std::max(c.virtualTime, t.lastFinish - size / weight)
                                        : t.jobs.front().start - size / weight;
    t.jobs.push_front(Entry{id, std::max(start, 0.0), std::max(start, 0.0) + size / weight, size});
    t.lastFinish = std::max(t.lastFinish, t.jobs.front().finish);
    ++m_size;
}

template <typename ClassMap>
auto FairQueue::pick(ClassMap& classes)
{
    using ClassRef = decltype(&classes.begin()->second);
    using TenantRef = decltype(&classes.begin()->second.tenants.begin()->second);
    for (auto& [priority, cls] : classes) {
        TenantRef best = nullptr;
        for (auto& [name, t] : cls.tenants) {
            if (!t.jobs.empty() && (best == nullptr || t.jobs.front().start < best->jobs.front().start)) {
                best = &t;
            }
        }
        if (best != nullptr) {
            return std::pair<ClassRef, TenantRef>{&cls, best};
        }
    }
    return std::pair<ClassRef, TenantRef>{nullptr, nullptr};
}

std::optional<DispatchId> FairQueue::peek() const
{
    const auto [cls, tenant] = pick(m_classes);
    if (tenant == nullptr) {
        return std::nullopt;
    }
    return tenant->jobs.front().id;
}

void FairQueue::pop()
{
    const auto [cls, tenant] = pick(m_classes);
    if (tenant == nullptr) {
        return;
    }
    // Virtual time follows the job entering service.
    cls->virtualTime = std::max(cls->virtualTime, tenant->jobs.front().start);
    tenant->jobs.pop_front();
    --m_size;
}

bool FairQueue::remove(DispatchId id)
{
    for (auto& [priority, cls] : m_classes) {
        for (auto& [name, t] : cls.tenants) {
            const auto it = std::find_if(t.jobs.begin(), t.jobs.end(), [&](const Entry& e) { return e.id == id; });
            if (it != t.jobs.end()) {
                t.jobs.erase(it);
                --m_size;
                return true;
            }
        }
    }
    return false;
}

}  // namespace sluice
