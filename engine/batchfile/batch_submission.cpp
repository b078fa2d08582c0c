#include "batchfile/batch_submission.h"

#include "providers/protocol.h"

#include <algorithm>

namespace sluice {

store::NewJob batchLineToJob(const BatchLine& line, int defaultPriority, WallTime start)
{
    store::NewJob nj;
    nj.customId = line.job.customId;
    nj.url = std::string(endpointPath(line.job.flavor, line.job.endpoint));
    nj.body = line.bodyText;
    nj.model = line.job.body.value("model", "");
    nj.providerHint = line.job.provider;
    nj.tenant = line.job.tenant;
    nj.priority = line.job.priority.value_or(defaultPriority);
    if (line.deadlineSeconds) {
        nj.deadline = start + Duration(static_cast<std::int64_t>(*line.deadlineSeconds * 1e9));
    }
    return nj;
}

QueuedBatch queueBatch(store::JobStore& st, std::span<const BatchLine> lines, int defaultPriority, WallTime start,
                       const std::string& storeName)
{
    std::vector<store::NewJob> fresh;
    fresh.reserve(lines.size());
    for (const BatchLine& line : lines) {
        fresh.push_back(batchLineToJob(line, defaultPriority, start));
    }
    const auto results = st.enqueueMany(fresh);
    QueuedBatch queued;
    queued.ids.reserve(results.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
        const BatchLine& line = lines[i];
        if (results[i].status == store::EnqueueStatus::Conflict) {
            queued.conflicts.push_back(RejectedLine{
                line.line, line.job.customId,
                "custom_id: \"" + line.job.customId + "\" is already in " + storeName + " with a different request",
                line.bodyText.substr(0, 4096)});
            continue;
        }
        queued.resumed += results[i].status == store::EnqueueStatus::Duplicate;
        queued.ids.push_back(results[i].id);
        queued.customIds.insert(line.job.customId);
    }
    std::sort(queued.ids.begin(), queued.ids.end());
    queued.ids.erase(std::unique(queued.ids.begin(), queued.ids.end()), queued.ids.end());
    return queued;
}

BatchTally tallyBatch(const store::JobStore& st, std::span<const store::JobId> ids)
{
    BatchTally tally;
    tally.total = ids.size();
    // One count per run of consecutive ids: a batch queued in one
    // transaction is one run (a few more when some lines were queued
    // before), so this reads no bodies and little else.
    std::size_t i = 0;
    while (i < ids.size()) {
        std::size_t j = i;
        while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) {
            ++j;
        }
        const store::Counts c = st.countsBetween(ids[i], ids[j]);
        tally.done += static_cast<std::uint64_t>(c.done);
        tally.dead += static_cast<std::uint64_t>(c.dead);
        i = j + 1;
    }
    return tally;
}

std::vector<std::string> cancelBatch(store::JobStore& st, std::span<const store::JobId> ids, const std::string& reason)
{
    std::vector<store::Failure> failures;
    std::vector<std::string> names;
    for (const store::JobId id : ids) {
        const auto job = st.job(id);
        if (!job || job->state == store::JobState::Done || job->state == store::JobState::Dead) {
            continue;
        }
        store::Failure f;
        f.id = id;
        f.attempt.errorClass = "cancelled";
        f.attempt.message = reason;
        f.attempt.counted = false;
        failures.push_back(std::move(f));
        names.push_back(job->customId);
    }
    store::Updates updates;
    updates.failures = std::move(failures);
    const store::UpdateResults results = st.recordMany(updates);
    std::vector<std::string> cancelled;
    for (std::size_t i = 0; i < results.failed.size(); ++i) {
        if (results.failed[i]) {
            cancelled.push_back(std::move(names[i]));
        }
    }
    return cancelled;
}

}  // namespace sluice
