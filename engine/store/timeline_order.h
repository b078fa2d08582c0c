// The order a job's timeline is told in: by time, except that a job's death
// (its dead_lettered event, or a refusal before sending) ends its run. The
// attempt that led to a death is timed on the wall clock at send plus a
// latency measured on the steady clock, the death on the wall clock alone,
// so the two can disagree by a millisecond either way; time alone then lists
// the death before its cause. A run ends where the job is requeued or
// edited (only a dead job can be), so each death goes last in its run.
//
// Thread-safety: a pure function.
#pragma once

#include "store/job_store.h"

#include <vector>

namespace sluice::store {

// True for the entries that end a run: "dead_lettered", "refused", "dead".
bool endsRun(const TimelineEntry& entry) noexcept;

void orderTimeline(std::vector<TimelineEntry>& entries);

}  // namespace sluice::store
