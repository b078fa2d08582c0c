#include "batchfile/batch_ids.h"

namespace sluice {

void BatchIds::add(store::JobId id, std::size_t line)
{
    if (contains(id)) {
        return;
    }
    ++m_size;
    if (const auto last = m_runs.find(m_lastId); last != m_runs.end()) {
        Run& run = last->second;
        const auto n = static_cast<store::JobId>(run.count);
        if (id == last->first + n && line == run.firstLine + run.count) {
            ++run.count;
            return;
        }
    }
    m_runs.emplace(id, Run{1, line});
    m_lastId = id;
}

std::optional<std::size_t> BatchIds::lineOf(store::JobId id) const
{
    auto it = m_runs.upper_bound(id);
    if (it == m_runs.begin()) {
        return std::nullopt;
    }
    --it;
    const std::size_t offset = static_cast<std::size_t>(id - it->first);
    if (offset >= it->second.count) {
        return std::nullopt;
    }
    return it->second.firstLine + offset;
}

std::vector<std::pair<store::JobId, store::JobId>> BatchIds::idRanges() const
{
    std::vector<std::pair<store::JobId, store::JobId>> out;
    for (const auto& [first, run] : m_runs) {
        const store::JobId last = first + static_cast<store::JobId>(run.count) - 1;
        if (!out.empty() && first == out.back().second + 1) {
            out.back().second = last;
        } else {
            out.emplace_back(first, last);
        }
    }
    return out;
}

}  // namespace sluice
