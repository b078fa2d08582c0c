// The jobs of one batch run, by store id, each with its input line: the set
// a run writes its output from, and where a repeated custom_id first came.
// Kept as runs of consecutive ids on consecutive lines, so a batch queued in
// order (ids and lines both counting up) costs a few entries, not one per
// line: its memory follows the breaks (rejected lines, lines resumed from an
// earlier run), not the size of the batch.
//
// Thread-safety: none.
#pragma once

#include "store/job_store.h"

#include <cstddef>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace sluice {

class BatchIds {
public:
    // Adds job `id`, read from input line `line`; an id already held is
    // ignored (its first line stays).
    void add(store::JobId id, std::size_t line);
    bool contains(store::JobId id) const { return lineOf(id).has_value(); }
    // The input line of `id`, when held.
    std::optional<std::size_t> lineOf(store::JobId id) const;
    std::size_t size() const noexcept { return m_size; }
    bool empty() const noexcept { return m_size == 0; }
    // The ids held as [first, last] ranges, in id order, adjacent runs merged.
    std::vector<std::pair<store::JobId, store::JobId>> idRanges() const;
    // Entries kept (runs): what it costs.
    std::size_t runs() const noexcept { return m_runs.size(); }

private:
    struct Run {
        std::size_t count = 0;
        std::size_t firstLine = 0;
    };
    std::map<store::JobId, Run> m_runs;  // by first id
    store::JobId m_lastId = 0;            // the run extended last: the common case
    std::size_t m_size = 0;
};

}  // namespace sluice
