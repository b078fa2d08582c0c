#include "deadletters/gateway_failures.h"

namespace sluice::deadletters {

namespace {

bool matches(const store::DeadLetterFilter& f, const store::DeadLetter& d)
{
    const store::Attempt* last = d.attempts.empty() ? nullptr : &d.attempts.back();
    const std::string errorClass = last != nullptr ? last->errorClass : d.job.lastErrorClass;
    const std::string key = last != nullptr ? last->keyLabel : d.job.lastKeyLabel;
    const WallTime died = d.job.finished.value_or(WallTime{});
    return (!f.errorClass || *f.errorClass == errorClass) && (!f.keyLabel || *f.keyLabel == key) &&
           (!f.model || *f.model == d.job.model) && (!f.diedFrom || died >= *f.diedFrom) &&
           (!f.diedTo || died < *f.diedTo);
}

}  // namespace

void GatewayFailures::onFinished(JobOutcome&& outcome)
{
    if (outcome.result != JobResult::DeadLettered) {
        return;
    }
    Failure f;
    store::Job& j = f.letter.job;
    j.customId = outcome.customId;
    j.method = "POST";
    j.model = outcome.model;
    j.providerHint = outcome.provider;
    j.state = store::JobState::Dead;
    j.lastErrorClass = std::string(failureClassName(outcome.cls));
    j.lastKeyLabel = outcome.key;
    WallTime died = m_clock.wallNow();
    for (const TimelineEvent& e : outcome.timeline) {
        f.timeline.push_back(store::TimelineEntry{e.at, std::string(timelineKindName(e.kind)), e.text()});
        if (e.kind == TimelineEvent::Kind::DeadLettered) {
            died = e.at;
        }
    }
    j.finished = died;
    j.created = f.timeline.empty() ? died : f.timeline.front().at;
    for (const AttemptRecord& a : outcome.attempts) {
        store::Attempt at;
        at.errorClass = std::string(failureClassName(a.cls));
        at.httpStatus = static_cast<int>(a.status);
        at.message = a.message;
        at.keyLabel = a.key;
        at.at = a.at;
        f.letter.attempts.push_back(std::move(at));
    }
    if (f.letter.attempts.empty() || f.letter.attempts.back().errorClass != j.lastErrorClass) {
        // Refused before sending, or the last word was the dispatcher's: the
        // reason that killed it is its last entry.
        store::Attempt at;
        at.errorClass = j.lastErrorClass;
        at.httpStatus = static_cast<int>(outcome.status);
        at.message = outcome.reason;
        at.keyLabel = outcome.key;
        at.at = died;
        f.letter.attempts.push_back(std::move(at));
    }
    j.attempts = static_cast<int>(f.letter.attempts.size());
    const std::lock_guard lock(m_mutex);
    j.id = m_nextId++;
    m_failures.push_back(std::move(f));
    while (m_failures.size() > m_capacity) {
        m_failures.pop_front();
    }
}

std::string GatewayFailures::requeueRefusal() const
{
    return "sluice-cli serve does not requeue: each failed request's client already had its error answer (and may "
           "retry on its own); a requeued copy would send a request whose answer nobody reads";
}

std::vector<store::DeadLetter> GatewayFailures::list(const store::DeadLetterFilter& filter, std::size_t limit)
{
    const std::lock_guard lock(m_mutex);
    std::vector<store::DeadLetter> out;
    for (auto it = m_failures.rbegin(); it != m_failures.rend() && out.size() < limit; ++it) {
        if (matches(filter, it->letter)) {
            out.push_back(it->letter);
        }
    }
    return out;
}

std::optional<control::JobDetail> GatewayFailures::job(store::JobId id)
{
    const std::lock_guard lock(m_mutex);
    for (const Failure& f : m_failures) {
        if (f.letter.job.id == id) {
            control::JobDetail d;
            d.job = f.letter.job;
            d.attempts = f.letter.attempts;
            d.timeline = f.timeline;
            return d;
        }
    }
    return std::nullopt;
}

}  // namespace sluice::deadletters
