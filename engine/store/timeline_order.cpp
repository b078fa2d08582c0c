#include "store/timeline_order.h"

#include <algorithm>

namespace sluice::store {

bool endsRun(const TimelineEntry& e) noexcept
{
    return e.kind == "dead_lettered" || e.kind == "refused" || e.kind == "dead";
}

void orderTimeline(std::vector<TimelineEntry>& entries)
{
    std::stable_sort(entries.begin(), entries.end(),
                     [](const TimelineEntry& a, const TimelineEntry& b) { return a.at < b.at; });
    const auto startsRun = [](const TimelineEntry& e) { return e.kind == "requeued" || e.kind == "edited"; };
    auto runStart = entries.begin();
    while (runStart != entries.end()) {
        auto runEnd = std::find_if(std::next(runStart), entries.end(), startsRun);
        std::stable_partition(runStart, runEnd, [](const TimelineEntry& e) { return !endsRun(e); });
        runStart = runEnd;
    }
}

}  // namespace sluice::store
