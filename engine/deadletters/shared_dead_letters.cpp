#include "deadletters/shared_dead_letters.h"

#include "core/json_source.h"

#include <nlohmann/json.hpp>

namespace sluice::deadletters {

namespace {

bool matches(const store::DeadLetterFilter& f, const shared::SharedDeadLetter& d)
{
    if (f.diedFrom || f.diedTo) {
        throw InputError("died_from_ms/died_to_ms: the shared queue keeps no time of death; filter by error class, "
                         "key or model");
    }
    return (!f.errorClass || *f.errorClass == d.error.errorClass) && (!f.keyLabel || *f.keyLabel == d.error.keyLabel) &&
           (!f.model || *f.model == d.job.model);
}

}  // namespace

store::JobId sharedJobId(std::string_view customId) noexcept
{
    std::uint64_t h = 1469598103934665603ull;
    for (const char c : customId) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    const auto id = static_cast<store::JobId>(h & ((std::uint64_t{1} << 53) - 1));
    return id == 0 ? 1 : id;
}

store::DeadLetter toStoreDeadLetter(const shared::SharedDeadLetter& d)
{
    store::DeadLetter out;
    store::Job& j = out.job;
    j.id = sharedJobId(d.job.customId);
    j.customId = d.job.customId;
    j.method = "POST";
    j.url = d.job.url;
    j.body = d.job.body;
    j.model = d.job.model;
    j.providerHint = d.job.provider;
    j.tenant = d.job.tenant;
    j.priority = d.job.priority;
    if (d.job.deadlineWallMs) {
        j.deadline = WallTime(std::chrono::milliseconds(*d.job.deadlineWallMs));
    }
    j.state = store::JobState::Dead;
    j.attempts = 1;
    j.lastErrorClass = d.error.errorClass;
    j.lastKeyLabel = d.error.keyLabel;
    store::Attempt a;
    a.errorClass = d.error.errorClass;
    a.httpStatus = d.error.statusCode;
    a.message = d.error.message;
    a.keyLabel = d.error.keyLabel;
    out.attempts.push_back(std::move(a));
    return out;
}

std::optional<store::Counts> SharedDeadLetters::counts()
{
    const shared::SharedQueueCounts c = m_queue.counts();
    store::Counts out;
    out.leased = c.leased;
    out.pending = std::max<std::int64_t>(0, c.queued - c.leased);
    out.done = c.done;
    out.dead = c.dead;
    return out;
}

std::vector<store::DeadLetter> SharedDeadLetters::list(const store::DeadLetterFilter& filter, std::size_t limit)
{
    std::vector<store::DeadLetter> out;
    for (const shared::SharedDeadLetter& d : m_queue.deadLetters()) {
        if (out.size() >= limit) {
            break;
        }
        if (matches(filter, d)) {
            out.push_back(toStoreDeadLetter(d));
        }
    }
    return out;
}

std::optional<shared::SharedDeadLetter> SharedDeadLetters::find(store::JobId id)
{
    for (shared::SharedDeadLetter& d : m_queue.deadLetters()) {
        if (sharedJobId(d.job.customId) == id) {
            return std::move(d);
        }
    }
    return std::nullopt;
}

std::optional<control::JobDetail> SharedDeadLetters::job(store::JobId id)
{
    const auto d = find(id);
    if (!d) {
        return std::nullopt;
    }
    store::DeadLetter dl = toStoreDeadLetter(*d);
    control::JobDetail out;
    out.job = std::move(dl.job);
    out.attempts = std::move(dl.attempts);
    return out;
}

bool SharedDeadLetters::requeue(store::JobId id)
{
    const auto d = find(id);
    return d && m_queue.requeue(d->job.customId);
}

std::size_t SharedDeadLetters::requeueDead(const store::DeadLetterFilter& filter)
{
    std::size_t n = 0;
    for (const shared::SharedDeadLetter& d : m_queue.deadLetters()) {
        if (matches(filter, d) && m_queue.requeue(d.job.customId)) {
            ++n;
        }
    }
    return n;
}

bool SharedDeadLetters::editAndRequeue(store::JobId id, const std::string& body)
{
    const auto d = find(id);
    if (!d) {
        return false;
    }
    std::optional<std::string> model;
    const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_object()) {
        if (const auto m = parsed.find("model"); m != parsed.end() && m->is_string()) {
            model = m->get<std::string>();
        }
    }
    return m_queue.requeue(d->job.customId, body, model);
}

}  // namespace sluice::deadletters
