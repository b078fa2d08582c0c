// SharedDeadLetters: a namespace's dead letters in its shared queue (Redis,
// shared/shared_queue.h) as a DeadLetterBook, so `sluice-cli worker
// --control` lists and requeues them for the console as `batch` does its
// store's. The shared queue knows a job by its custom_id; the console by a
// number: a job's number is a 53-bit hash of its custom_id (exact in JSON),
// the same in every worker of the namespace and across restarts, resolved
// back by listing the dead letters. The shared queue keeps no time of death
// and one error per job (the one that killed it): a time filter is refused,
// and each dead letter has that one attempt.
//
// Thread-safety: every member from any thread; the SharedQueue serialises
// its connection (calls wait on Redis, so never from the GUI thread).
#pragma once

#include "control/dead_letter_book.h"
#include "shared/shared_queue.h"

#include <cstdint>
#include <string_view>

namespace sluice::deadletters {

// The job number a custom_id shows as: FNV-1a, 53 bits, never 0.
store::JobId sharedJobId(std::string_view customId) noexcept;

// One of the queue's dead letters as the store's kind.
store::DeadLetter toStoreDeadLetter(const shared::SharedDeadLetter& d);

class SharedDeadLetters final : public control::DeadLetterBook {
public:
    // `queue` must outlive the book.
    explicit SharedDeadLetters(shared::SharedQueue& queue) : m_queue(queue) {}

    std::optional<store::Counts> counts() override;
    std::vector<store::DeadLetter> list(const store::DeadLetterFilter& filter, std::size_t limit) override;
    std::optional<control::JobDetail> job(store::JobId id) override;
    bool requeue(store::JobId id) override;
    std::size_t requeueDead(const store::DeadLetterFilter& filter) override;
    bool editAndRequeue(store::JobId id, const std::string& body) override;

private:
    std::optional<shared::SharedDeadLetter> find(store::JobId id);

    shared::SharedQueue& m_queue;
};

}  // namespace sluice::deadletters
