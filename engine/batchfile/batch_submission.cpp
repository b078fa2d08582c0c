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

BatchTally tallyBatch(const store::JobStore& st, const BatchIds& ids)
{
    BatchTally tally;
    tally.total = ids.size();
    for (const auto& [first, last] : ids.idRanges()) {
        const store::Counts c = st.countsBetween(first, last);
        tally.done += static_cast<std::uint64_t>(c.done);
        tally.dead += static_cast<std::uint64_t>(c.dead);
    }
    return tally;
}

std::vector<std::string> cancelBatch(store::JobStore& st, const BatchIds& ids, const std::string& reason)
{
    std::vector<store::Failure> failures;
    std::vector<std::string> names;
    for (const auto& [first, last] : ids.idRanges()) {
        for (store::JobId id = first; id <= last; ++id) {
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
