// FairQueue: the waiting jobs of one lane (provider + model). Higher priority
// first; within a priority, tenants share by weight with start-time fair
// queuing (each job's size is its estimated tokens), so one heavy tenant
// cannot starve the others.
//
// Thread-safety: none; owned by the dispatcher thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace sluice {

// The dispatcher's handle for a job it holds in memory, numbered from 1 by
// each dispatcher: not the job store's row id (store::DispatchId), which a job
// from a durable queue also has.
using DispatchId = std::uint64_t;

class FairQueue {
public:

    // size: the job's cost in fairness units (estimated tokens, at least 1).
    void push(DispatchId id, int priority, const std::string& tenant, double weight, double size);
    // Puts a job back at the head of its tenant's queue keeping its tags (a
    // job that was rate limited keeps its place).
    void pushFront(DispatchId id, int priority, const std::string& tenant, double weight, double size);
    // The job that should go next, without removing it.
    std::optional<DispatchId> peek() const;
    void pop();  // removes what peek() returned
    bool remove(DispatchId id);
    bool empty() const noexcept { return m_size == 0; }
    std::size_t size() const noexcept { return m_size; }

private:
    struct Entry {
        DispatchId id;
        double start;
        double finish;
        double size;
    };
    struct Tenant {
        std::deque<Entry> jobs;
        double lastFinish = 0;
        double weight = 1;
    };
    struct Class {
        std::map<std::string, Tenant> tenants;
        double virtualTime = 0;
    };
    using Classes = std::map<int, Class, std::greater<>>;

    // The class and tenant whose head job goes next; works on a const or a
    // mutable map so peek() and pop() share one rule.
    template <typename ClassMap>
    static auto pick(ClassMap& classes);

    Classes m_classes;
    std::size_t m_size = 0;
};

}  // namespace sluice
