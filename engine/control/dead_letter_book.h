// DeadLetterBook: where a headless instance's dead letters are, as its
// control endpoint lists, shows and requeues them. One narrow interface for
// the three kinds of instance: `batch` keeps them in its SQLite job store
// (StoreDeadLetters, below), `worker` in its namespace's shared queue in
// Redis (deadletters/shared_dead_letters.h), and `serve` keeps the latest
// failed gateway requests in memory, which cannot be requeued: their
// clients already had their error answer (deadletters/gateway_failures.h).
//
// Thread-safety: every member from any thread (the control endpoint's io
// thread calls them); each implementation says how it serialises.
#pragma once

#include "control/control_protocol.h"
#include "store/job_store.h"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace sluice::control {

class DeadLetterBook {
public:
    virtual ~DeadLetterBook() = default;

    // Why requeueing is refused for this instance; empty when it works.
    // The console shows it on its disabled requeue buttons.
    virtual std::string requeueRefusal() const { return {}; }
    // The queue's counts, when the instance has a durable queue.
    virtual std::optional<store::Counts> counts() = 0;
    // Newest or oldest first as the book keeps them; throws InputError for
    // a filter field the book cannot apply (naming it).
    virtual std::vector<store::DeadLetter> list(const store::DeadLetterFilter& filter, std::size_t limit) = 0;
    // Nullopt when there is no such job.
    virtual std::optional<JobDetail> job(store::JobId id) = 0;
    // These three are only called when requeueRefusal() is empty.
    virtual bool requeue(store::JobId id) = 0;
    virtual std::size_t requeueDead(const store::DeadLetterFilter& filter) = 0;
    virtual bool editAndRequeue(store::JobId id, const std::string& body) = 0;
};

// A JobStore's dead letters (sluice-cli batch). Serialised by the store.
class StoreDeadLetters final : public DeadLetterBook {
public:
    explicit StoreDeadLetters(store::JobStore& store) : m_store(store) {}

    std::optional<store::Counts> counts() override { return m_store.counts(); }
    std::vector<store::DeadLetter> list(const store::DeadLetterFilter& filter, std::size_t limit) override
    {
        return m_store.deadLetters(filter, limit);
    }
    std::optional<JobDetail> job(store::JobId id) override;
    bool requeue(store::JobId id) override { return m_store.requeue(id); }
    std::size_t requeueDead(const store::DeadLetterFilter& filter) override { return m_store.requeueDead(filter); }
    bool editAndRequeue(store::JobId id, const std::string& body) override;

private:
    store::JobStore& m_store;
};

}  // namespace sluice::control
