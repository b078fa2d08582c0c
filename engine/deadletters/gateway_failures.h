// GatewayFailures: `sluice-cli serve`'s failed requests as a DeadLetterBook,
// so the console attached to a gateway sees which requests failed after
// their retries, with the key, the status and every attempt. A gateway has
// no durable queue (--state holds metrics only) and keeps no request
// bodies: these are the latest failures, in memory, until it stops. They
// cannot be requeued: each one's client already had its error answer (and
// retries on its own if it wants); a requeued copy would send a request
// whose answer nobody reads. requeueRefusal() says so, and the control
// endpoint answers 409 with it.
//
// It is a DispatchListener: give it the dispatcher's finished jobs; it keeps
// those that were dead-lettered.
//
// Thread-safety: every member from any thread (one mutex).
#pragma once

#include "control/dead_letter_book.h"
#include "dispatch/dispatcher.h"

#include <deque>
#include <mutex>

namespace sluice::deadletters {

class GatewayFailures final : public control::DeadLetterBook, public DispatchListener {
public:
    // Keeps the latest `capacity` failures; the clock dates those whose
    // outcome carries no time.
    explicit GatewayFailures(const Clock& clock, std::size_t capacity = 500) : m_clock(clock), m_capacity(capacity) {}

    void onFinished(JobOutcome&& outcome) override;

    std::string requeueRefusal() const override;
    std::optional<store::Counts> counts() override { return std::nullopt; }
    // Newest first.
    std::vector<store::DeadLetter> list(const store::DeadLetterFilter& filter, std::size_t limit) override;
    std::optional<control::JobDetail> job(store::JobId id) override;
    bool requeue(store::JobId) override { return false; }
    std::size_t requeueDead(const store::DeadLetterFilter&) override { return 0; }
    bool editAndRequeue(store::JobId, const std::string&) override { return false; }

private:
    struct Failure {
        store::DeadLetter letter;
        std::vector<store::TimelineEntry> timeline;
    };

    const Clock& m_clock;
    std::size_t m_capacity;
    mutable std::mutex m_mutex;
    std::deque<Failure> m_failures;  // oldest first
    store::JobId m_nextId = 1;
};

}  // namespace sluice::deadletters
