#include "shared/shared_queue_runner.h"

#include "dispatch/stored_request.h"


namespace sluice::shared {


namespace {

// The dispatcher's job for a leased entry; problem names what makes it
// unrunnable (left empty when it runs).
JobSpec specOf(const QueuedJob& job, const Clock& clock, std::string& problem)
{
    JobSpec spec;
    spec.customId = job.customId;
    spec.provider = job.provider;
    spec.tenant = job.tenant;
    spec.priority = job.priority;
    if (job.deadlineWallMs) {
        spec.deadline = clock.fromWall(WallTime(std::chrono::milliseconds(*job.deadlineWallMs)));
    }
    problem = setStoredRequest(spec, job.url, job.body).value_or(std::string());
    return spec;
}

}  // namespace

SharedQueueRunner::SharedQueueRunner(SharedQueue& queue, Clock& clock, SharedQueueRunnerOptions options,
                                     DispatchListener* downstream)
    : m_queue(queue), m_clock(clock), m_options(options), m_downstream(downstream)
{
}

SharedQueueRunner::~SharedQueueRunner()
{
    stop();
}

void SharedQueueRunner::start()
{
    if (m_thread.joinable() || m_dispatcher == nullptr) {
        return;
    }
    m_stopping = false;
    m_lastRenew = m_clock.now();
    m_thread = std::thread([this] { run(); });
}

void SharedQueueRunner::stop()
{
    if (!m_thread.joinable()) {
        return;
    }
    {
        std::lock_guard guard(m_mutex);
        m_stopping = true;
    }
    m_cv.notify_all();
    m_thread.join();
    flush();
    std::unordered_map<std::string, Held> held;
    {
        std::lock_guard guard(m_mutex);
        held.swap(m_outstanding);
    }
    for (const auto& [id, h] : held) {
        try {
            if (m_queue.release(h.entryId)) {
                std::lock_guard guard(m_mutex);
                ++m_stats.released;
            }
        } catch (const std::exception& e) {
            // Left to lapse: another instance takes it over after the lease.
            noteError(e);
            return;
        }
    }
    try {
        (void)m_queue.leave();
    } catch (const std::exception& e) {
        noteError(e);
    }
}

SharedQueueRunnerStats SharedQueueRunner::stats() const
{
    std::lock_guard guard(m_mutex);
    SharedQueueRunnerStats s = m_stats;
    s.outstanding = m_outstanding.size();
    return s;
}

void SharedQueueRunner::noteError(const std::exception& e)
{
    std::lock_guard guard(m_mutex);
    m_stats.lastError = e.what();
}

void SharedQueueRunner::onFinished(JobOutcome&& outcome)
{
    if (m_downstream != nullptr) {
        JobOutcome copy = outcome;
        m_downstream->onFinished(std::move(copy));
    }
    {
        std::lock_guard guard(m_mutex);
        m_finished.push_back(std::move(outcome));
    }
    m_cv.notify_all();
}

void SharedQueueRunner::onSent(const SendReport& report)
{
    if (m_downstream != nullptr) {
        m_downstream->onSent(report);
    }
}

void SharedQueueRunner::onAttempt(const AttemptReport& report)
{
    if (m_downstream != nullptr) {
        m_downstream->onAttempt(report);
    }
}

void SharedQueueRunner::onKeyProblem(const std::string& provider, const std::string& key, const std::string& reason)
{
    if (m_downstream != nullptr) {
        m_downstream->onKeyProblem(provider, key, reason);
    }
}

void SharedQueueRunner::onProviderLearned(const std::string& provider, const std::string& what)
{
    if (m_downstream != nullptr) {
        m_downstream->onProviderLearned(provider, what);
    }
}

void SharedQueueRunner::run()
{
    while (!m_stopping.load()) {
        const bool recorded = flush();
        leaseMore();
        if (m_clock.now() - m_lastRenew >= m_options.leaseTime / 3) {
            m_lastRenew = m_clock.now();
            renew();
        }
        std::unique_lock lock(m_mutex);
        // After a failed write the outcomes wait too, so an absent Redis is
        // asked again every poll interval, not in a tight loop.
        if ((m_finished.empty() || !recorded) && !m_stopping.load()) {
            m_cv.wait_for(lock, m_options.pollInterval);
        }
    }
}

bool SharedQueueRunner::flush()
{
    std::vector<JobOutcome> finished;
    {
        std::lock_guard guard(m_mutex);
        finished.swap(m_finished);
    }
    for (std::size_t i = 0; i < finished.size(); ++i) {
        JobOutcome& o = finished[i];
        Held held;
        {
            std::lock_guard guard(m_mutex);
            const auto it = m_outstanding.find(o.customId);
            if (it == m_outstanding.end()) {
                continue;
            }
            held = it->second;
        }
        try {
            bool accepted = false;
            bool released = false;
            if (o.result == JobResult::Completed) {
                SharedResult r;
                r.statusCode = static_cast<int>(o.status);
                r.body = std::move(o.body);
                r.requestId = o.requestId;
                r.keyLabel = o.key;
                accepted = m_queue.complete(held.entryId, o.customId, r);
            } else if (o.result == JobResult::Cancelled) {
                // Stopped here, not failed: someone else may run it.
                released = m_queue.release(held.entryId);
            } else {
                SharedResult e;
                e.statusCode = static_cast<int>(o.status);
                e.keyLabel = o.key;
                e.errorClass = std::string(failureClassName(o.cls));
                e.message = o.reason;
                accepted = m_queue.deadLetter(held.entryId, held.job, e);
            }
            std::lock_guard guard(m_mutex);
            m_outstanding.erase(o.customId);
            if (released) {
                ++m_stats.released;
            } else if (!accepted) {
                ++m_stats.refused;
            } else if (o.result == JobResult::Completed) {
                ++m_stats.completed;
            } else {
                ++m_stats.deadLettered;
            }
        } catch (const std::exception& e) {
            // Redis is away: keep the rest for the next pass (the entry stays
            // leased, and is taken over if this instance never gets back).
            noteError(e);
            std::lock_guard guard(m_mutex);
            m_finished.insert(m_finished.begin(), std::make_move_iterator(finished.begin() + static_cast<std::ptrdiff_t>(i)),
                              std::make_move_iterator(finished.end()));
            return false;
        }
    }
    return true;
}

void SharedQueueRunner::leaseMore()
{
    std::size_t room = 0;
    {
        std::lock_guard guard(m_mutex);
        if (m_stopping.load() || m_intakeClosed.load() || m_outstanding.size() >= m_options.maxOutstanding) {
            return;
        }
        room = m_options.maxOutstanding - m_outstanding.size();
    }
    std::vector<LeasedEntry> leased;
    try {
        leased = m_queue.lease(room, m_options.leaseTime);
    } catch (const std::exception& e) {
        noteError(e);
        return;
    }
    for (LeasedEntry& le : leased) {
        {
            std::lock_guard guard(m_mutex);
            ++m_stats.leased;
            m_stats.takenOver += le.takenOver ? 1 : 0;
            if (m_outstanding.count(le.job.customId) > 0) {
                // Already running here under an older entry of the same job.
                continue;
            }
        }
        if (le.deliveries > m_options.maxDeliveries) {
            SharedResult lost;
            lost.errorClass = "worker_lost";
            lost.message = "leased " + std::to_string(le.deliveries) +
                           " times; every holder stopped before finishing it (a job that kills its worker?)";
            deadLetterLeased(le, lost);
            continue;
        }
        std::string problem;
        JobSpec spec = specOf(le.job, m_clock, problem);
        if (problem.empty()) {
            {
                std::lock_guard guard(m_mutex);
                m_outstanding.emplace(le.job.customId, Held{le.entryId, le.job});
            }
            try {
                m_dispatcher->submit(std::move(spec));
                continue;
            } catch (const InputError& e) {
                problem = e.what();
                std::lock_guard guard(m_mutex);
                m_outstanding.erase(le.job.customId);
            }
        }
        SharedResult err;
        err.errorClass = std::string(failureClassName(FailureClass::BadRequest));
        err.message = "not runnable: " + problem;
        deadLetterLeased(le, err);
    }
}

void SharedQueueRunner::deadLetterLeased(const LeasedEntry& le, const SharedResult& result)
{
    try {
        if (m_queue.deadLetter(le.entryId, le.job, result)) {
            std::lock_guard guard(m_mutex);
            ++m_stats.deadLettered;
        }
    } catch (const std::exception& e) {
        noteError(e);
    }
}

void SharedQueueRunner::renew()
{
    std::vector<std::string> ids;
    {
        std::lock_guard guard(m_mutex);
        for (const auto& [id, h] : m_outstanding) {
            ids.push_back(h.entryId);
        }
    }
    if (ids.empty()) {
        return;
    }
    try {
        // An entry lost here was taken over; the dispatcher still finishes
        // it, and the completion script refuses that second result.
        (void)m_queue.renew(ids);
    } catch (const std::exception& e) {
        noteError(e);
    }
}

}  // namespace sluice::shared
