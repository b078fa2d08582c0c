#include "batchfile/batch_compaction.h"

#include "core/timefmt.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace sluice {

namespace {

std::vector<std::pair<store::JobId, store::JobId>> rangesOf(const BatchIds* wanted)
{
    if (wanted == nullptr) {
        return {{1, INT64_MAX}};
    }
    return wanted->idRanges();
}

}  // namespace

store::CompactReport compactAfterOutput(store::JobStore& store, const BatchIds* wanted, const std::string& outputPath,
                                        const std::function<void(std::int64_t jobsSoFar)>& progress)
{
    store::CompactReport total;
    const auto ranges = rangesOf(wanted);
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        store::CompactRequest request;
        request.first = ranges[i].first;
        request.last = ranges[i].second;
        request.note = "after writing " + outputPath;
        // One VACUUM at the end, not one per range.
        request.reclaim = i + 1 == ranges.size();
        const std::int64_t before = total.jobs;
        if (progress) {
            request.onChunk = [&progress, before](store::JobId, std::int64_t n) { progress(before + n); };
        }
        const store::CompactReport r = store.compact(request);
        if (i == 0) {
            total.bytesBefore = r.bytesBefore;
        }
        total.jobs += r.jobs;
        total.bytesAfter = r.bytesAfter;
    }
    return total;
}

std::string compactedOutputProblem(const store::JobStore& store, const BatchIds* wanted)
{
    std::int64_t n = 0;
    std::vector<store::Compaction> passes;
    for (const auto& [first, last] : rangesOf(wanted)) {
        if (const std::int64_t c = store.compactedBetween(first, last); c > 0) {
            n += c;
            if (passes.empty()) {
                passes = store.compactions(first, last);
            }
        }
    }
    if (n == 0) {
        return {};
    }
    std::string why = std::to_string(n) + " result" + (n == 1 ? " was" : "s were") + " compacted out of " +
                      store.file().string();
    if (!passes.empty()) {
        why += " on " + formatRfc3339(passes.front().at, 0);
        if (!passes.front().note.empty()) {
            why += " (" + passes.front().note + "; that file holds them)";
        }
    }
    return why + ": an output holding them cannot be written from it again";
}

}  // namespace sluice
